"""What happens at the end of each training epoch, declared in the config like big_vision's evaluators.

The training loop only steps; everything else is an action run in order at each epoch's end:

  validate      scores `split` and adds `<split>/<metric>` columns to the epoch's row
  select_best   keeps the best checkpoints by `metric` (and the `checkpoint.also_best` ones)
  early_stop    stops after `patience` epochs without improvement of `metric`
  samsemo_train_thresholds
                SAMSEMO's threshold protocol (samsungnlp/samsemo run.py): collects the outputs of
                every training step, tunes per-emotion thresholds on them at each epoch's end, and
                scores test with the last epoch's thresholds instead of validation's

Every action is an entry `config.evals.<name> = dict(type=<one of ACTIONS>, **options)`, built by
its type's `from_spec(options, config)`. base_config declares the first three (validate,
select_best, early_stop), whose options refer to `config.evaluation` (selection_metric, mode,
early_stopping_patience), the user's knobs. ConfigDict iterates its keys sorted, so the run order
comes from the types (`Action.stage`): what reads validation's columns runs after validation, what
reads the selection's counter after the selection; actions of one stage run in name order. An
action keeps what must survive a restart in `progress.actions[<name>]` (JSON), which the latest
checkpoint stores.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Optional

import numpy as np
from ml_collections import ConfigDict

from mmer_jax.errors import ConfigError, did_you_mean
from mmer_jax.metrics import multilabel
from mmer_jax.metrics.evaluate import EvalResult, sigmoid, threshold_grid

log = logging.getLogger(__name__)


@dataclasses.dataclass
class EpochEnd:
  """What an action sees at an epoch's end."""

  epoch: int                      # 1-based, as printed
  step: int
  row: dict                       # the epoch's metrics row; actions add columns
  progress: Any                   # checkpoint.Progress (best metric, counters, per-action state)
  evaluate: Callable[[str], EvalResult]
  save_best: Callable[[dict], None]
  stop: bool = False              # set by an action to end training after this epoch


class Action:
  name: str = ""
  wants_train_outputs = False     # the train step then also returns its outputs
  stage = 3                       # run order (see the module docstring); the declared others last

  @classmethod
  def from_spec(cls, options: dict, config: ConfigDict) -> "Action":
    """The action `config.evals.<name>` declares (`options`: its fields but `type`)."""
    del config
    return cls(**options)

  def on_train_batch(self, labels: np.ndarray, outputs: np.ndarray, progress) -> None:
    del labels, outputs, progress

  def on_epoch_end(self, end: EpochEnd) -> None:
    raise NotImplementedError

  def test_thresholds(self, progress) -> Optional[np.ndarray]:
    """Thresholds that score test instead of validation's (multi-label protocols); None = validation's."""
    del progress
    return None


class Validate(Action):
  stage = 0

  def __init__(self, split: str = "valid"):
    self.split = split

  def on_epoch_end(self, end: EpochEnd) -> None:
    result = end.evaluate(self.split)
    end.row.update({f"{self.split}/{k}": v for k, v in result.scalars.items()})


def _improved(current: float, best: Optional[float], mode: str) -> bool:
  return best is None or (current < best if mode == "min" else current > best)


class SelectBest(Action):
  stage = 1

  @classmethod
  def from_spec(cls, options: dict, config: ConfigDict) -> "SelectBest":
    return cls(**options, also_best=config.checkpoint.also_best)

  def __init__(self, metric: str, mode: str, split: str = "valid", also_best=()):
    if mode not in ("min", "max"):
      raise ConfigError(f"config.evaluation.mode={mode!r}; use 'min' or 'max'.")
    self.metric, self.mode, self.split = metric, mode, split
    self.also_best = [m["metric"] for m in also_best or []]

  def on_epoch_end(self, end: EpochEnd) -> None:
    key = f"{self.split}/{self.metric}"
    if key not in end.row:
      known = [k.split("/", 1)[1] for k in end.row if k.startswith(self.split + "/")]
      raise ConfigError(f"config.evaluation.selection_metric={self.metric!r} is not a {self.split} metric of "
                        f"this task.{did_you_mean(self.metric, known)} Known: {', '.join(sorted(known))}.")
    current = float(end.row[key])
    progress = end.progress
    if _improved(current, progress.best_metric, self.mode):
      progress.best_metric, progress.best_step = current, end.step
      progress.epochs_without_improvement = 0
    else:
      progress.epochs_without_improvement += 1
    end.save_best({**{name: float(end.row[f"{self.split}/{name}"]) for name in self.also_best},
                   self.metric: current, "epoch": end.epoch})


class EarlyStop(Action):
  stage = 2

  def __init__(self, patience: Optional[int], metric: str):
    self.patience, self.metric = patience, metric

  def on_epoch_end(self, end: EpochEnd) -> None:
    if self.patience and end.progress.epochs_without_improvement >= int(self.patience):
      log.info("Early stopping after epoch %d: no %s improvement for %d epochs.", end.epoch, self.metric,
               self.patience)
      end.progress.stopped_early = True
      end.stop = True


class SamsemoTrainThresholds(Action):
  """SAMSEMO's run.py appends every training step's outputs to a list it never clears and tunes the
  test thresholds on all of it at each epoch's end. Kept the same way, as the counts the tuning reads
  (positives and negatives over each grid point, `multilabel.threshold_counts`): they add up batch
  by batch, stay small, and travel in the checkpointed progress, so a resumed run tunes on exactly
  the outputs an uninterrupted one does. See mmer_jax/metrics/evaluate.py for what differs."""

  wants_train_outputs = True

  @classmethod
  def from_spec(cls, options: dict, config: ConfigDict) -> "SamsemoTrainThresholds":
    return cls(**options, task=config.task)

  def __init__(self, task: ConfigDict):
    if task.type != "multi_label":
      raise ConfigError(f"config.evals: samsemo_train_thresholds tunes multi-label thresholds, but "
                        f"config.task.type={task.type!r}; remove it.")
    self.task = task
    self.grid = threshold_grid(task)
    self.counts: Optional[dict[str, np.ndarray]] = None  # every training step's so far: tp, fp, positives, rows

  def _counts(self, progress) -> dict[str, np.ndarray]:
    if self.counts is None:  # a fresh run, or the run's counts until the checkpoint it resumed from
      saved = progress.actions.get(self.name, {}).get("counts")
      classes, points = len(self.task.class_names), len(self.grid)
      self.counts = ({k: np.asarray(v, np.int64) for k, v in saved.items()} if saved else
                     dict(tp=np.zeros((classes, points), np.int64), fp=np.zeros((classes, points), np.int64),
                          positives=np.zeros(classes, np.int64), rows=np.int64(0)))
    return self.counts

  def on_train_batch(self, labels, outputs, progress) -> None:
    counts = self._counts(progress)
    tp, fp, positives = multilabel.threshold_counts(np.asarray(labels), sigmoid(np.asarray(outputs)), self.grid)
    self.counts = dict(tp=counts["tp"] + tp, fp=counts["fp"] + fp, positives=counts["positives"] + positives,
                       rows=counts["rows"] + len(labels))
    # Into the progress that every checkpoint saves, mid-epoch ones included.
    progress.actions.setdefault(self.name, {})["counts"] = {k: v.tolist() for k, v in self.counts.items()}

  def on_epoch_end(self, end: EpochEnd) -> None:
    counts = self._counts(end.progress)
    if not counts["rows"]:
      return
    thresholds = multilabel.thresholds_from_counts(counts["tp"], counts["fp"], counts["positives"], self.grid)
    end.progress.actions.setdefault(self.name, {})["thresholds"] = thresholds.tolist()
    end.row["train/thresholds"] = thresholds.tolist()

  def test_thresholds(self, progress) -> Optional[np.ndarray]:
    saved = progress.actions.get(self.name)
    if not saved or "thresholds" not in saved:
      raise ConfigError(f"config.evals.{self.name} scores test with thresholds tuned on training outputs, "
                        f"but this run has none (it was trained without that action). Retrain with it, or "
                        f"remove it to score test with validation's thresholds.")
    return np.asarray(saved["thresholds"])


ACTIONS = {"validate": Validate, "select_best": SelectBest, "early_stop": EarlyStop,
           "samsemo_train_thresholds": SamsemoTrainThresholds}


def from_config(config: ConfigDict) -> list[Action]:
  """The actions `config.evals` declares, in run order (validate -> select_best -> early_stop -> others)."""
  actions: list[Action] = []
  for name, spec in config.evals.items():
    kind = spec.type if "type" in spec else None
    if kind not in ACTIONS:
      raise ConfigError(f"config.evals.{name}.type={kind!r}.{did_you_mean(str(kind), ACTIONS)} "
                        f"Known: {', '.join(ACTIONS)}.")
    action = ACTIONS[kind].from_spec({k: v for k, v in spec.items() if k != "type"}, config)
    action.name = name
    actions.append(action)
  return sorted(actions, key=lambda action: action.stage)  # stable: name order within a stage


def test_thresholds(actions: list[Action], progress) -> Optional[np.ndarray]:
  for action in actions:
    thresholds = action.test_thresholds(progress)
    if thresholds is not None:
      return thresholds
  return None
