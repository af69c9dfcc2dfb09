"""Orbax checkpoints: the best k by the validation metric, and the latest for resuming.

Two managers because Orbax's `best_fn` keeps the k *best* steps, which may not include the newest one
a resumed run needs. The latest checkpoint also holds the run's progress (epoch, batch within the
epoch, history, early-stopping counters) as JSON, so resuming replays nothing and loses nothing.
Orbax writes each step into a temporary folder and renames it when complete, so a run killed in the
middle of a save leaves the previous checkpoint intact; the unfinished folder is ignored.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp

from mmer_jax.train.state import TrainState


@dataclasses.dataclass
class Progress:
  """Where training stands: the next batch to run is `batch` of `epoch`."""

  epoch: int = 0
  batch: int = 0
  history: list = dataclasses.field(default_factory=list)
  best_metric: Optional[float] = None
  best_step: Optional[int] = None
  epochs_without_improvement: int = 0
  stopped_early: bool = False
  # evaluation.threshold_protocol="samsemo": thresholds tuned on the training outputs at the end of
  # the last trained epoch, which score test.
  train_thresholds: Optional[list] = None


def _abstract(state: TrainState) -> Any:
  return jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)


class Checkpointer:

  def __init__(self, workdir: str | Path, *, metric: str, mode: str, keep_best: int = 1,
               also_best: tuple[tuple[str, str], ...] = ()):
    """`also_best`: further (metric, mode) pairs, each kept in `checkpoints/best_<metric>` (seed 003
    kept both its best-loss and best-accuracy models); evaluation uses the main one."""
    root = Path(workdir).absolute() / "checkpoints"
    for m in (mode, *(m for _, m in also_best)):
      if m not in ("min", "max"):
        raise ValueError(f"Checkpoint mode {m!r}; use 'min' or 'max'.")
    self.metric = metric
    self.also_best = {
        name: ocp.CheckpointManager(root / f"best_{name}", options=ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, best_fn=lambda m, name=name: m[name], best_mode=m_mode))
        for name, m_mode in also_best}
    self.latest = ocp.CheckpointManager(
        root / "latest", options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))
    self.best = ocp.CheckpointManager(
        root / "best", options=ocp.CheckpointManagerOptions(
            max_to_keep=keep_best, create=True, best_fn=lambda m: m[metric], best_mode=mode))

  def save_latest(self, state: TrainState, progress: Progress) -> None:
    step = int(jax.device_get(state.step))
    self.latest.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(dataclasses.asdict(progress))),
        force=True)
    self.latest.wait_until_finished()

  def save_best(self, state: TrainState, metrics: dict[str, float]) -> None:
    step = int(jax.device_get(state.step))
    self.best.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), metrics=ocp.args.JsonSave(metrics)),
        metrics={self.metric: float(metrics[self.metric])}, force=True)
    self.best.wait_until_finished()
    for name, manager in self.also_best.items():
      manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), metrics=ocp.args.JsonSave(metrics)),
          metrics={name: float(metrics[name])}, force=True)
      manager.wait_until_finished()

  def restore_latest(self, template: TrainState) -> Optional[tuple[TrainState, Progress]]:
    step = self.latest.latest_step()
    if step is None:
      return None
    restored = self.latest.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(_abstract(template)), progress=ocp.args.JsonRestore()))
    return restored.state, Progress(**restored.progress)

  def restore_best(self, template: TrainState) -> tuple[TrainState, int]:
    step = self.best.best_step()
    if step is None:
      raise FileNotFoundError(f"No best checkpoint under {self.best.directory}. Train first "
                              "(--mode=train) with the same --workdir.")
    restored = self.best.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(_abstract(template))))
    return restored.state, step

  def close(self) -> None:
    for manager in (self.latest, self.best, *self.also_best.values()):
      manager.close()


def restore_best_variables(workdir: str | Path) -> dict[str, Any]:
  """`{"params", "batch_stats"}` of a run's best checkpoint as host arrays (no template needed)."""
  manager = ocp.CheckpointManager(Path(workdir).absolute() / "checkpoints" / "best")
  step = manager.best_step()
  if step is None:
    raise FileNotFoundError(f"No best checkpoint in {workdir}/checkpoints/best: train that run first.")
  restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  manager.close()
  variables = {"params": restored.state["params"]}
  if restored.state.get("batch_stats"):
    variables["batch_stats"] = restored.state["batch_stats"]
  return variables


def restore_params_from(workdir: str | Path) -> Any:
  """Parameters of another run's best checkpoint (for `init_from`), as a plain nested dict."""
  return restore_best_variables(workdir)["params"]
