"""`train_and_evaluate(config, workdir)`: the one training loop every model and dataset uses.

Per epoch: train (jitted, data-parallel) -> evaluate validation -> keep the best checkpoints by the
selection metric and the latest for resuming -> early stopping. At the end, the best checkpoint is
evaluated on validation (multi-label thresholds are tuned there) and test (thresholds applied; with
`evaluation.threshold_protocol="samsemo"` the last epoch's train thresholds, see
`mmer_jax.metrics.evaluate`), and a report with tables and plots is written under `<workdir>/report/`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import jax
import numpy as np
from ml_collections import ConfigDict
from tqdm import tqdm

from mmer_jax import checkpoint as ckpt_lib
from mmer_jax import registry
from mmer_jax.data import pipeline as pipeline_lib
from mmer_jax.metrics import report as report_lib
from mmer_jax.metrics.evaluate import EvalResult, evaluate_predictions, threshold_protocol, tune_on_outputs
from mmer_jax.train import losses, optim, state as state_lib, step as step_lib
from mmer_jax.train.init_from import apply_init_from
from mmer_jax.train.runtime import gather_strings, setup_runtime

log = logging.getLogger(__name__)

PEAK_FLOPS = 98e9  # measured f32 matmul peak of the 2-core project CPU (anchors.md D.2)


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN/inf; the message names the step and the last good checkpoint."""


class _Preemption:
  """SIGTERM/SIGINT set a flag; the loop saves the latest checkpoint at the next step and exits."""

  def __init__(self):
    self.requested = False
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread (e.g. some test runners): no handler, no harm
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    log.warning("Signal %d: saving the latest checkpoint, then stopping.", signum)
    self.requested = True

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def build_model(config: ConfigDict):
  return registry.get_model(config.model_name)(**config.get("model", ConfigDict()).to_dict())


def _selection(config: ConfigDict) -> tuple[str, str]:
  ev = config.evaluation
  return ev.selection_metric, ev.get("mode", "max")


def _resolve_pos_weight(config: ConfigDict, pipeline: pipeline_lib.InputPipeline) -> Optional[list[float]]:
  pos_weight = config.loss.get("pos_weight", None)
  if pos_weight is None or config.loss.name != "sigmoid_bce":
    return None
  if isinstance(pos_weight, str):
    if pos_weight != "auto":
      raise ValueError(f"config.loss.pos_weight={pos_weight!r}; use None, a list, or 'auto' (neg/pos on train).")
    labels = np.stack([pipeline.preprocessor(ex)["label"] for ex in
                       pipeline_lib.IndexedSource(pipeline.raw["train"], pipeline.kept["train"])])
    return losses.auto_pos_weight(labels)
  return list(pos_weight)


def _load_or_fit_preprocessor(pipeline: pipeline_lib.InputPipeline, workdir: Path, fit: bool) -> None:
  path = workdir / "preprocessor_state.json"
  if path.exists():
    pipeline.preprocessor.load_state_dict(json.loads(path.read_text()))
  elif fit:
    pipeline.fit_preprocessor()
    if jax.process_index() == 0:
      path.write_text(json.dumps(pipeline.preprocessor.state_dict(), default=_to_json))
  elif pipeline.preprocessor.needs_fit():
    raise FileNotFoundError(f"{path} is missing: evaluation needs the statistics fitted during training.")


def _to_json(value: Any) -> Any:
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, np.generic):
    return value.item()
  raise TypeError(f"Preprocessor state holds a {type(value).__name__}, which JSON cannot store.")


def load_pretrained_weights(model, state: state_lib.TrainState, tx) -> state_lib.TrainState:
  """Overwrites the subtrees a model names in `pretrained_folders()` (local BERT/ALBERT/wav2vec2
  checkpoints) after random init, on a fresh run only: a resumed run has them in its checkpoint."""
  folders = model.pretrained_folders() if hasattr(model, "pretrained_folders") else {}
  weight_files = ("flax_model.msgpack", "model.safetensors")
  # A folder with only config.json defines the architecture of a randomly initialised encoder
  # (tiny test configs); say so, so that nobody mistakes it for a loaded checkpoint.
  for target, folder in list(folders.items()):
    if not any((Path(folder) / name).exists() for name in weight_files):
      log.warning("%s has no weights (%s): %s stays randomly initialised.", folder, " or ".join(weight_files), target)
      del folders[target]
  if not folders:
    return state
  from mmer_jax.models import pretrained  # noqa: PLC0415  (imports transformers)
  log.info("Loading pretrained weights: %s", folders)
  params = pretrained.load_into(state.params, folders)
  return state.replace(params=params, opt_state=tx.init(params))


def evaluate_split(pipeline: pipeline_lib.InputPipeline, split: str, eval_step, variables, mesh,
                   config: ConfigDict, thresholds: Optional[np.ndarray] = None) -> EvalResult:
  outputs, labels, example_losses, valid, metas = [], [], [], [], []
  for batch in tqdm(pipeline.eval_batches(split), total=pipeline.num_eval_batches(split),
                    desc=f"eval {split}", leave=False, mininterval=2):
    device, meta = pipeline_lib.split_model_inputs(batch)
    is_valid = device.pop(pipeline_lib.VALID_KEY)
    result = step_lib.gather(eval_step(variables, step_lib.to_global(device, mesh)))
    outputs.append(result["outputs"])
    example_losses.append(result["loss"])
    labels.append(step_lib.gather(step_lib.to_global({"label": device["label"]}, mesh))["label"])
    valid.append(step_lib.gather(step_lib.to_global({"v": is_valid}, mesh))["v"])
    metas.append({k: gather_strings(v) for k, v in meta.items()})
  keep = np.concatenate(valid).astype(bool)
  meta = {k: np.concatenate([m[k] for m in metas])[keep] for k in (metas[0] if metas else {})}
  per_example_loss = np.concatenate(example_losses)[keep]
  return evaluate_predictions(config.task, np.concatenate(labels)[keep], np.concatenate(outputs)[keep],
                              loss=float(per_example_loss.mean()), meta=meta, thresholds=thresholds)


def _log_epoch_table(row: Mapping[str, Any], first: bool, metric: str) -> None:
  columns = list(dict.fromkeys(["epoch", "train/loss", "valid/loss", f"valid/{metric}", "samples_per_s",
                                "input_wait_frac"]))
  if first:
    print(" | ".join(f"{c:>16}" for c in columns))
  print(" | ".join(f"{row.get(c, float('nan')):>16.4f}" if isinstance(row.get(c), float) else f"{row.get(c, ''):>16}"
                   for c in columns), flush=True)


def train_and_evaluate(config: ConfigDict, workdir: str | Path,
                       sources: Optional[Mapping[str, Sequence[Any]]] = None,
                       mode: str = "train") -> dict[str, dict[str, float]]:
  """Trains (resuming from `workdir` if it holds a run) and evaluates the best checkpoint.

  Returns {"valid": {...}, "test": {...}} metrics of the best checkpoint.
  """
  if mode not in ("train", "evaluate"):
    raise ValueError(f"mode={mode!r}; use 'train' or 'evaluate'.")
  workdir = Path(workdir).expanduser()
  workdir.mkdir(parents=True, exist_ok=True)
  setup_runtime(config)
  metric, metric_mode = _selection(config)
  protocol = threshold_protocol(config)
  if mode == "train" and jax.process_index() == 0:
    # The resolved config travels with the run, so `--mode=predict` needs only the workdir.
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=1, sort_keys=True))

  pipeline = pipeline_lib.InputPipeline(config, sources)
  _load_or_fit_preprocessor(pipeline, workdir, fit=(mode == "train"))
  mesh = step_lib.make_mesh()
  model = build_model(config)
  steps_per_epoch = pipeline.steps_per_epoch
  tx = optim.make_optimizer(config.optimizer, steps_per_epoch, config.num_epochs)
  loss_fn = losses.make_loss(config.loss, _resolve_pos_weight(config, pipeline))

  example_inputs, _ = pipeline_lib.split_model_inputs(pipeline.example_batch())
  example_inputs = {k: v for k, v in example_inputs.items() if k != step_lib.LABEL_KEY}
  state = state_lib.create(model, tx, example_inputs, int(config.seed))
  also_best = tuple((m["metric"], m["mode"]) for m in config.checkpoint.get("also_best", None) or [])
  checkpointer = ckpt_lib.Checkpointer(workdir, metric=metric, mode=metric_mode,
                                       keep_best=int(config.checkpoint.get("keep_best", 1)), also_best=also_best)
  restored = checkpointer.restore_latest(state)
  if restored is not None:
    state, progress = restored
    log.info("Resumed from step %d (epoch %d, batch %d).", int(state.step), progress.epoch, progress.batch)
  else:
    progress = ckpt_lib.Progress()
    state = load_pretrained_weights(model, state, tx)
    if config.get("init_from", None):
      state = state.replace(params=apply_init_from(state.params, config.init_from))
      state = state.replace(opt_state=tx.init(state.params))
  state = step_lib.replicate(state, mesh)
  eval_step = step_lib.make_eval_step(model, loss_fn, mesh)

  if mode == "train" and not progress.stopped_early and progress.epoch < config.num_epochs:
    state, progress = _train(config, workdir, pipeline, model, tx, loss_fn, mesh, state, progress,
                             checkpointer, eval_step)
    if state is None:  # stopped by a signal or `stop_after_steps`: the latest checkpoint holds the run
      checkpointer.close()
      return {}

  best_state, best_step = checkpointer.restore_best(state)
  variables = step_lib.replicate(best_state.variables(), mesh)
  results = {}
  if "valid" in pipeline.splits:
    results["valid"] = evaluate_split(pipeline, "valid", eval_step, variables, mesh, config)
  if "test" in pipeline.splits:
    thresholds = results["valid"].thresholds if "valid" in results else None
    if protocol == "samsemo":
      if progress.train_thresholds is None:
        raise ValueError(f"config.evaluation.threshold_protocol='samsemo' scores test with the thresholds tuned "
                         f"on training outputs, but the run in {workdir} has none: it was trained with "
                         f"another protocol. Retrain with 'samsemo' or evaluate with 'valid'.")
      thresholds = np.asarray(progress.train_thresholds)
    results["test"] = evaluate_split(pipeline, "test", eval_step, variables, mesh, config, thresholds)
  if jax.process_index() == 0:
    report_dir = workdir / "report"
    slice_keys = [k.removeprefix("meta/") for k in config.evaluation.get("slice_by", []) or []]
    for split, result in results.items():
      report_lib.write_split(report_dir, split, result, config.task, slice_keys)
    report_lib.write_summary(report_dir, results, progress.history, metric,
                             f"{config.model_name} on {config.input.get('tfds_name', 'in-memory data')} "
                             f"(best step {best_step})")
    log.info("Report written to %s", report_dir / "report.md")
  checkpointer.close()
  return {split: r.scalars for split, r in results.items()}


def _train(config, workdir, pipeline, model, tx, loss_fn, mesh, state, progress, checkpointer, eval_step):
  metric, metric_mode = _selection(config)
  steps_per_epoch = pipeline.steps_per_epoch
  collect_outputs = threshold_protocol(config) == "samsemo"
  train_step = step_lib.make_train_step(model, loss_fn, tx, mesh, return_outputs=collect_outputs)
  # SAMSEMO's run.py appends every training step's outputs to a list it never clears and tunes the
  # test thresholds on all of it at each epoch end; kept the same way (from the resumed epoch on).
  train_outputs, train_labels = [], []
  compiled_by_shape: dict = {}  # one executable per input shape (bucket), compiled ahead of time

  def compiled_for(state, batch):
    signature = tuple(sorted((k, v.shape) for k, v in batch.items()))
    if signature not in compiled_by_shape:
      t0 = time.perf_counter()
      executable = train_step.lower(state, batch).compile()
      compiled_by_shape[signature] = (executable, time.perf_counter() - t0, _flops(executable))
      log.info("Compiled the train step for %s in %.1f s (%s FLOP per step).",
               {k: v for k, v in signature if k != step_lib.LABEL_KEY}, compiled_by_shape[signature][1],
               f"{compiled_by_shape[signature][2]:.3g}" if compiled_by_shape[signature][2] else "?")
    return compiled_by_shape[signature]

  patience = config.evaluation.get("early_stopping_patience", None)
  stop_after = config.get("stop_after_steps", None)
  every = int(config.checkpoint.get("every_steps", 0) or 0)
  metrics_file = (workdir / "metrics.jsonl").open("a")
  global_batch = int(config.input.batch_size)
  with _Preemption() as preemption:
    for epoch in range(progress.epoch, int(config.num_epochs)):
      iterator = pipeline.train_epoch(epoch, progress.batch)
      losses_sum, seen, wait_s, flops_done = 0.0, 0, 0.0, 0.0
      shapes_before_epoch = set(compiled_by_shape)
      epoch_start = time.perf_counter()
      bar = tqdm(total=steps_per_epoch, initial=progress.batch, desc=f"epoch {epoch + 1}/{config.num_epochs}",
                 mininterval=1, disable=jax.process_index() != 0)
      for batch_index in range(progress.batch, steps_per_epoch):
        t_wait = time.perf_counter()
        batch = next(iterator)
        wait_s += time.perf_counter() - t_wait
        device_batch = step_lib.to_global(pipeline_lib.split_model_inputs(batch)[0], mesh)
        executable, _, step_flops = compiled_for(state, device_batch)
        new_state, step_metrics = executable(state, device_batch)
        flops_done += step_flops or 0.0
        if collect_outputs:
          train_outputs.append(step_lib.gather(step_metrics["outputs"]))
          train_labels.append(step_lib.gather(device_batch[step_lib.LABEL_KEY]))
        loss = float(step_metrics["loss"])
        if not np.isfinite(loss):
          last = checkpointer.latest.latest_step()
          raise NonFiniteLossError(
              f"Loss became {loss} at step {int(new_state.step)} (epoch {epoch + 1}, batch {batch_index}). "
              f"The last good checkpoint (step {last}) is kept in {workdir}/checkpoints/latest; lower "
              f"optimizer.learning_rate or set optimizer.clip_norm, then rerun to resume from it.")
        state = new_state
        losses_sum, seen = losses_sum + loss, seen + 1
        elapsed = time.perf_counter() - epoch_start
        bar.set_postfix(loss=f"{losses_sum / seen:.4f}", samples_s=f"{seen * global_batch / elapsed:.1f}")
        bar.update(1)
        step = int(state.step)
        interrupted = preemption.requested or (stop_after is not None and step >= stop_after)
        if interrupted or (every and step % every == 0):
          checkpointer.save_latest(state, _replace(progress, epoch=epoch, batch=batch_index + 1))
        if interrupted:
          bar.close()
          metrics_file.close()
          log.warning("Stopped at step %d; rerun the same command to resume.", step)
          return None, progress
      bar.close()
      # Compiling a new bucket's step is not training time.
      train_time = time.perf_counter() - epoch_start - sum(
          c[1] for sig, c in compiled_by_shape.items() if sig not in shapes_before_epoch)
      valid = evaluate_split(pipeline, "valid", eval_step, state.variables(), mesh, config)
      row = {"epoch": epoch + 1, "step": int(state.step),
             "train/loss": losses_sum / max(seen, 1),
             "samples_per_s": seen * global_batch / train_time,
             "input_wait_frac": wait_s / train_time,
             "compile_s": sum(c[1] for c in compiled_by_shape.values()),
             "compiled_shapes": len(compiled_by_shape),
             "flops_share_of_peak": (flops_done / train_time / PEAK_FLOPS) if flops_done else None,
             **{f"valid/{k}": v for k, v in valid.scalars.items()}}
      if collect_outputs and train_outputs:
        progress.train_thresholds = tune_on_outputs(
            config.task, np.concatenate(train_labels), np.concatenate(train_outputs)).tolist()
        row["train/thresholds"] = progress.train_thresholds
      progress.history.append(row)
      metrics_file.write(json.dumps(row) + "\n")
      metrics_file.flush()
      if jax.process_index() == 0:
        _log_epoch_table(row, first=len(progress.history) == 1, metric=metric)
      current = valid.scalars[metric]
      improved = (progress.best_metric is None or
                  (current < progress.best_metric if metric_mode == "min" else current > progress.best_metric))
      if improved:
        progress.best_metric, progress.best_step = float(current), int(state.step)
        progress.epochs_without_improvement = 0
      else:
        progress.epochs_without_improvement += 1
      checkpointer.save_best(state, {**{name: float(valid.scalars[name]) for name in checkpointer.also_best},
                                     metric: float(current), "epoch": epoch + 1})
      progress.stopped_early = bool(patience) and progress.epochs_without_improvement >= int(patience)
      progress = _replace(progress, epoch=epoch + 1, batch=0)
      checkpointer.save_latest(state, progress)
      if progress.stopped_early:
        log.info("Early stopping after epoch %d: no %s improvement for %d epochs.", epoch + 1, metric, patience)
        break
  metrics_file.close()
  return state, progress


def _replace(progress: ckpt_lib.Progress, **changes) -> ckpt_lib.Progress:
  return dataclasses.replace(progress, **changes)


def _flops(compiled) -> Optional[float]:
  try:
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis.get("flops", 0.0)) or None
  except Exception:  # cost analysis is best-effort and backend-dependent
    return None
