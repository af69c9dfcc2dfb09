"""`train_and_evaluate(config, workdir)`: the one training loop every model and dataset uses.

The loop only steps; validation, checkpoint selection, early stopping and threshold protocols are
epoch-end actions (mmer_jax/train/epoch_actions.py) declared by the config. At the end, the best
checkpoint is evaluated on validation (multi-label thresholds are tuned there) and test, and a report
with tables and plots is written under `<workdir>/report/`. The run is assembled by `Experiment`.

Epochs are counted from 1 in everything a person reads (progress, logs, metrics.jsonl); the
checkpointed `Progress` stores the 0-based position of the next batch.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import jax
import numpy as np
from ml_collections import ConfigDict

from mmer_jax import batch as batch_keys, process_env
from mmer_jax.data import manifest_task
from mmer_jax.errors import ConfigError, DataError, UserError
from mmer_jax.metrics.evaluate import EvalResult, evaluate_predictions
from mmer_jax.train import checkpoint as ckpt_lib
from mmer_jax import progress as progress_lib
from mmer_jax.train import epoch_actions, runtime, step as step_lib
from mmer_jax.train.experiment import CONFIG_FILE, Experiment, Prepared, build_model  # noqa: F401  (build_model: API)
from mmer_jax.train.init_from import apply_init_from
from mmer_jax.train.pretrained_weights import load_pretrained_weights
from mmer_jax.train.metrics_log import MetricsLog, add_share_of_peak, print_epoch_row

log = logging.getLogger(__name__)

MODES = ("train", "evaluate")


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN/inf; the message names the step and the last good checkpoint."""


class Preempted(UserError):
  """A SIGTERM/SIGINT stopped training after the latest checkpoint was saved; rerun to resume."""


class _StopSignals:
  """SIGTERM/SIGINT set a flag; the loop agrees on it across hosts, saves and stops."""

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
    if not self.requested:  # Ctrl-C reaches a multi-host run's launcher and its child both: say it once
      log.warning("Signal %d: saving the latest checkpoint at the next step, then stopping.", signum)
    self.requested = True

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def evaluate_split(experiment: Experiment, split: str, eval_step, variables,
                   thresholds: Optional[np.ndarray] = None) -> EvalResult:
  """Scores every example of `split` once. Device work is dispatched batch after batch and gathered
  at the end, so preparing the next batch on the host overlaps the device's work on this one."""
  pipeline, mesh = experiment.pipeline, experiment.mesh
  device_out, labels, valid, metas = [], [], [], []
  bar = progress_lib.Bar(pipeline.num_eval_batches(split), desc=f"eval {split}",
                         enabled=runtime.is_main_process(), leave=False)
  for batch in pipeline.eval_batches(split):
    host, meta = batch_keys.split_host_meta(batch)
    is_valid = host.pop(batch_keys.VALID_KEY)
    host = runtime.agree_shapes(host)  # hosts' shares of a length-sorted batch may differ in bucket
    device_out.append(eval_step(variables, step_lib.to_global(host, mesh)))
    labels.append(runtime.gather_host_arrays(host[batch_keys.LABEL_KEY]))
    valid.append(runtime.gather_host_arrays(is_valid))
    metas.append({k: runtime.gather_strings(v) for k, v in meta.items()})
    bar.update(1)
  bar.close()
  gathered = [step_lib.gather(out) for out in device_out]
  del device_out
  process_env.release_free_heap()  # the first evaluation compiles its buckets' steps
  keep = np.concatenate(valid).astype(bool)
  # Rows come in length-sorted batches; index them back into the split's order.
  keep = np.flatnonzero(keep)[np.argsort(pipeline.eval_positions(split)[keep], kind="stable")]
  meta = {k: np.concatenate([m[k] for m in metas])[keep] for k in (metas[0] if metas else {})}
  outputs = np.concatenate([g["outputs"] for g in gathered])[keep]
  per_example_loss = np.concatenate([g["loss"] for g in gathered])[keep]
  return evaluate_predictions(experiment.config.task, np.concatenate(labels)[keep], outputs,
                              loss=float(per_example_loss.mean()), meta=meta, thresholds=thresholds)


def train_and_evaluate(config: ConfigDict, workdir: str | Path,
                       sources: Optional[Mapping[str, Sequence[Any]]] = None,
                       mode: str = "train", *, prepared: Optional[Prepared] = None) -> dict[str, dict[str, float]]:
  """Trains (resuming from `workdir` if it holds a run) and evaluates the best checkpoint.
  `prepared`: launch.py's names check and runtime set-up (`experiment.prepare`), not repeated here.

  Returns {"valid": {...}, "test": {...}} metrics of the best checkpoint; {} when training stopped at
  `stop_after_steps`. Raises `Preempted` after a SIGTERM/SIGINT (the latest checkpoint is saved).
  """
  if mode not in MODES:
    raise ConfigError(f"mode={mode!r}; use one of {', '.join(MODES)}.")
  workdir = Path(workdir).expanduser()
  manifest_task.resolve(config)  # a manifest dataset's task (and selection metric) before the actions read it
  actions = epoch_actions.from_config(config)
  if mode == "train" and config.checkpoint.restart:
    _discard_run(workdir)
  experiment = Experiment.from_config(config, workdir, sources, fit=(mode == "train"), prepared=prepared)
  runtime.check_shared_workdir(workdir)
  if mode == "train" and runtime.is_main_process():
    # The resolved config travels with the run, so `--mode=predict` needs only the workdir.
    (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=1, sort_keys=True))
  try:
    state, progress = _resume_or_start(experiment, mode)
    eval_step = step_lib.make_eval_step(experiment.model, experiment.loss_fn, experiment.mesh)
    if mode == "train" and not progress.stopped_early and progress.epoch < config.num_epochs:
      state, progress = _train(experiment, state, progress, actions, eval_step)
      if state is None:  # stopped at `stop_after_steps`: the latest checkpoint holds the run
        return {}
    return _final_evaluation(experiment, progress, actions, eval_step)
  finally:
    experiment.close()


def _discard_run(workdir: Path) -> None:
  log.warning("checkpoint.restart=True: discarding the run in %s and starting again from step 0.", workdir)
  ckpt_lib.remove_checkpoints(workdir)
  if runtime.is_main_process():
    MetricsLog.remove(workdir)
  runtime.barrier("mmer_jax_restart")


def _resume_or_start(experiment: Experiment, mode: str):
  checkpointer, config = experiment.checkpointer, experiment.config
  restored = checkpointer.restore_latest(experiment.template)
  if restored is not None:
    state, progress = restored
    step, num_epochs = int(jax.device_get(state.step)), int(config.num_epochs)
    steps_per_epoch = experiment.pipeline.steps_per_epoch
    if progress.epoch < num_epochs and not progress.stopped_early:
      log.info("Resuming at step %d: epoch %d/%d, batch %d/%d.", step, progress.epoch + 1, num_epochs,
               progress.batch + 1, steps_per_epoch)
    else:
      log.info("Restored step %d: training finished after epoch %d/%d.", step, progress.epoch, num_epochs)
    return state, progress
  if mode == "train" and (checkpointer.has_run() or MetricsLog.exists(experiment.workdir)):
    raise DataError(f"{experiment.workdir} holds an earlier run (best checkpoints or metrics.jsonl) but no "
                    f"latest checkpoint to resume from. Pass --config.checkpoint.restart=True to start it "
                    f"again from step 0, or choose another --workdir.")
  state = _load_pretrained(experiment, experiment.initial_state())
  if config.init_from:
    params = apply_init_from(state.params, config.init_from)
    state = state.replace(params=params, opt_state=experiment.tx.init(params))
  return step_lib.replicate(state, experiment.mesh), ckpt_lib.Progress()


def _load_pretrained(experiment: Experiment, state):
  return load_pretrained_weights(experiment.model, state, experiment.tx)


def make_train_step(experiment: Experiment, *, return_outputs: bool = False):
  """The run's jitted train step, with `config.max_tokens_per_pass` applied to its bucketed input."""
  max_tokens = experiment.config.max_tokens_per_pass
  if max_tokens and jax.tree_util.tree_leaves(experiment.template.batch_stats):
    raise ConfigError(f"config.max_tokens_per_pass={max_tokens}: {experiment.config.model_name} keeps BatchNorm "
                      "statistics, which micro-batches would change; leave it None for this model.")
  return step_lib.make_train_step(experiment.model, experiment.loss_fn, experiment.tx, experiment.mesh,
                                  return_outputs=return_outputs, max_tokens=max_tokens,
                                  length_key=experiment.pipeline.length_key)


def passes_of(experiment: Experiment):
  """batch -> how many micro-batches the train step runs it in (`config.max_tokens_per_pass`)."""
  max_tokens, key = experiment.config.max_tokens_per_pass, experiment.pipeline.length_key
  devices = experiment.mesh.size
  return lambda batch: step_lib.passes(batch, batch[batch_keys.LABEL_KEY].shape[0] // devices, max_tokens, key)


class _CompiledSteps:
  """One executable per input shape (bucket), compiled ahead of time; compile time is not training time.

  `passes`: batch -> micro-batches per step. XLA's cost analysis counts a loop body once, so a
  micro-batched step's FLOPs are its count times the passes (the optimiser update, a fraction of a
  percent of them, is then counted that many times too)."""

  def __init__(self, step_fn, passes=None):
    self.step_fn = step_fn
    self.passes = passes or (lambda batch: 1)
    self.by_shape: dict = {}

  def __call__(self, state, batch):
    signature = tuple(sorted((k, v.shape) for k, v in batch.items()))
    if signature not in self.by_shape:
      t0 = time.perf_counter()
      executable = self.step_fn.lower(state, batch).compile()
      seconds = time.perf_counter() - t0
      process_env.release_free_heap()  # the compiler's freed working set, before the step needs memory
      flops = _flops(executable)
      self.by_shape[signature] = (executable, seconds, flops * self.passes(batch) if flops else flops)
      log.info("Compiled the train step for %s in %.1f s (%s FLOP per step).",
               {k: v for k, v in signature if k != batch_keys.LABEL_KEY}, seconds,
               f"{self.by_shape[signature][2]:.3g}" if self.by_shape[signature][2] else "?")
    return self.by_shape[signature]

  def compile_seconds(self, signatures=None) -> float:
    return sum(c[1] for sig, c in self.by_shape.items() if signatures is None or sig in signatures)


class _LossWatch:
  """Reads step N-1's loss while step N runs (no host sync on the newest step), and stops on NaN.

  `total` and `count` start from a resumed epoch's checkpointed sums, so `mean` is the whole epoch's."""

  def __init__(self, experiment: Experiment, total: float = 0.0, count: int = 0):
    self.experiment = experiment
    self.of = (int(experiment.config.num_epochs), experiment.pipeline.steps_per_epoch)
    self.pending: Optional[tuple[int, int, int, Any]] = None
    self.total, self.count = float(total), int(count)

  def push(self, step: int, epoch: int, batch: int, loss) -> None:
    self.flush()
    self.pending = (step, epoch, batch, loss)

  def flush(self) -> None:
    if self.pending is None:
      return
    step, epoch, batch, loss = self.pending
    self.pending = None
    value = float(loss)
    if not np.isfinite(value):
      last = self.experiment.checkpointer.latest_step()
      where = f"{self.experiment.workdir}/checkpoints/latest"
      kept = (f"The last good checkpoint (step {last}) is kept in {where}; lower optimizer.learning_rate or "
              f"set optimizer.clip_norm, then rerun to resume from it." if last is not None else
              "No checkpoint had been saved yet; lower optimizer.learning_rate or set optimizer.clip_norm "
              "and rerun (it starts from step 0; checkpoint.every_steps saves within epochs).")
      raise NonFiniteLossError(f"Loss became {value} at step {step} (epoch {epoch}/{self.of[0]}, "
                               f"batch {batch}/{self.of[1]}). {kept}")
    self.total += value
    self.count += 1

  @property
  def mean(self) -> float:
    return self.total / max(self.count, 1)


@dataclasses.dataclass(frozen=True)
class EpochSums:
  """What an epoch's metrics row is summed from, as far as the epoch has run. Saved with every
  mid-epoch checkpoint (`Progress.epoch_sums`): an epoch killed and resumed then reports the same
  train/loss as an uninterrupted one (every batch of the epoch, not only those after the resume), and
  its rates cover every step it ran, in whichever process."""

  loss_total: float = 0.0
  loss_count: int = 0
  steps: int = 0
  train_s: float = 0.0   # seconds spent stepping, compiles excluded
  wait_s: float = 0.0    # of which waiting for input
  flops: float = 0.0

  @classmethod
  def from_json(cls, values: Mapping[str, Any]) -> "EpochSums":
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in (values or {}).items() if k in known})


def _train(experiment: Experiment, state, progress: ckpt_lib.Progress, actions, eval_step):
  config, pipeline, mesh = experiment.config, experiment.pipeline, experiment.mesh
  checkpointer = experiment.checkpointer
  steps_per_epoch, num_epochs = pipeline.steps_per_epoch, int(config.num_epochs)
  collectors = [a for a in actions if a.wants_train_outputs]
  compiled = _CompiledSteps(make_train_step(experiment, return_outputs=bool(collectors)), passes_of(experiment))
  stop_after = config.stop_after_steps
  every = int(config.checkpoint.every_steps or 0)
  global_batch = int(config.input.batch_size)
  metrics_log = MetricsLog(experiment.workdir, enabled=runtime.is_main_process())
  step = int(jax.device_get(state.step))  # the host counts steps from here: no per-step sync
  try:
    with _StopSignals() as signals:
      for epoch in range(progress.epoch, num_epochs):
        iterator = pipeline.train_epoch(epoch, progress.batch)
        resumed = EpochSums.from_json(progress.epoch_sums if progress.batch else {})
        watch, wait_s, flops_done = _LossWatch(experiment, resumed.loss_total, resumed.loss_count), 0.0, 0.0
        shapes_before = set(compiled.by_shape)
        epoch_start = time.perf_counter()

        def sums_so_far(batches_done: int) -> EpochSums:  # the resumed part's sums + this process's part
          train_s = time.perf_counter() - epoch_start - compiled.compile_seconds(set(compiled.by_shape) - shapes_before)
          return EpochSums(loss_total=watch.total, loss_count=watch.count,
                           steps=resumed.steps + batches_done - progress.batch, train_s=resumed.train_s + train_s,
                           wait_s=resumed.wait_s + wait_s, flops=resumed.flops + flops_done)

        bar = progress_lib.Bar(steps_per_epoch, desc=f"epoch {epoch + 1}/{num_epochs}", initial=progress.batch,
                               enabled=runtime.is_main_process())
        for batch_index in range(progress.batch, steps_per_epoch):
          t_wait = time.perf_counter()
          batch = runtime.agree_shapes(batch_keys.split_host_meta(next(iterator))[0])
          wait_s += time.perf_counter() - t_wait
          device_batch = step_lib.to_global(batch, mesh)
          executable, _, step_flops = compiled(state, device_batch)
          state, step_metrics = executable(state, device_batch)
          step += 1
          flops_done += step_flops or 0.0
          watch.push(step, epoch + 1, batch_index + 1, step_metrics["loss"])
          if collectors:
            outputs = step_lib.gather(step_metrics["outputs"])
            labels = step_lib.gather(device_batch[batch_keys.LABEL_KEY])
            for action in collectors:
              action.on_train_batch(labels, outputs, progress)
          bar.update(1)
          if watch.count:
            ran = watch.count - resumed.loss_count  # this process's steps
            bar.set_postfix(loss=f"{watch.mean:.4f}",
                            samples_s=f"{ran * global_batch / (time.perf_counter() - epoch_start):.1f}")
          stop = runtime.any_process(signals.requested)
          halt = stop or (stop_after is not None and step >= stop_after)
          if halt or (every and step % every == 0):
            watch.flush()  # never save a state whose loss is not known to be finite
            sums = dataclasses.asdict(sums_so_far(batch_index + 1))
            checkpointer.save_latest(state, dataclasses.replace(progress, epoch=epoch, batch=batch_index + 1,
                                                                epoch_sums=sums))
          if halt:
            bar.close()
            checkpointer.wait()
            log.warning("Stopped at step %d (epoch %d/%d, batch %d/%d); rerun the same command to resume.",
                        step, epoch + 1, num_epochs, batch_index + 1, steps_per_epoch)
            if stop:
              raise Preempted(f"Stopped by a signal at step {step}; the latest checkpoint is saved in "
                              f"{experiment.workdir}/checkpoints/latest. Rerun the same command to resume.")
            return None, progress
        watch.flush()
        bar.close()
        sums = sums_so_far(steps_per_epoch)
        train_s = max(sums.train_s, 1e-9)
        row = {"epoch": epoch + 1, "step": step, "train/loss": watch.mean,
               "samples_per_s": sums.steps * global_batch / train_s, "input_wait_frac": sums.wait_s / train_s,
               "compile_s": compiled.compile_seconds(), "compiled_shapes": len(compiled.by_shape),
               "flops_per_s": sums.flops / train_s if sums.flops else None}
        end = epoch_actions.EpochEnd(
            epoch=epoch + 1, step=step, row=row, progress=progress,
            evaluate=lambda split: evaluate_split(experiment, split, eval_step, state.variables()),
            save_best=lambda metrics: checkpointer.save_best(state, metrics))
        for action in actions:
          action.on_epoch_end(end)
        add_share_of_peak(row)
        progress.history.append(row)
        progress = dataclasses.replace(progress, epoch=epoch + 1, batch=0, epoch_sums={})
        checkpointer.save_latest(state, progress)
        metrics_log.write(progress.history)
        if runtime.is_main_process():
          print_epoch_row(row, first=len(progress.history) == 1, metric=config.evaluation.selection_metric)
        if end.stop:
          break
  finally:
    metrics_log.close()
  checkpointer.wait()
  return state, progress


def _final_evaluation(experiment: Experiment, progress, actions, eval_step) -> dict[str, dict[str, float]]:
  config, pipeline, workdir = experiment.config, experiment.pipeline, experiment.workdir
  best_state, best_step = experiment.best_state()
  variables = best_state.variables()
  results: dict[str, EvalResult] = {}
  if "valid" in pipeline.splits:
    results["valid"] = evaluate_split(experiment, "valid", eval_step, variables)
  if "test" in pipeline.splits:
    thresholds = epoch_actions.test_thresholds(actions, progress)
    if thresholds is None and "valid" in results:
      thresholds = results["valid"].thresholds
    results["test"] = evaluate_split(experiment, "test", eval_step, variables, thresholds)
  if runtime.is_main_process():
    # Here, not at the top: the report brings pandas and matplotlib, which training does not need.
    from mmer_jax.metrics import report as report_lib  # noqa: PLC0415
    report_dir = workdir / "report"
    slice_keys = [k.removeprefix("meta/") for k in config.evaluation.slice_by or []]
    for split, result in results.items():
      report_lib.write_split(report_dir, split, result, config.task, slice_keys)
    report_lib.write_summary(report_dir, results, progress.history, config.evaluation.selection_metric,
                             f"{config.model_name} on {config.input.tfds_name or 'in-memory data'} "
                             f"(best step {best_step})")
    log.info("Report written to %s", report_dir / "report.md")
  return {split: r.scalars for split, r in results.items()}


def _flops(compiled) -> Optional[float]:
  try:
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis.get("flops", 0.0)) or None
  except Exception:  # noqa: BLE001  (cost analysis is best-effort and backend-dependent)
    return None
