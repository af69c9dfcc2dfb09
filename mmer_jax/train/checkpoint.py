"""Orbax checkpoints: the best k by the validation metric, and the last two for resuming.

Two managers because Orbax's `best_fn` keeps the k *best* steps, which may not include the newest one
a resumed run needs. The latest checkpoints also hold the run's progress (epoch, batch within the
epoch, history, early-stopping counters, the running sums of the epoch in progress) as JSON, so
resuming replays nothing and loses nothing.

What makes a run impossible to get stuck:
- Orbax writes each step into a temporary folder and renames it when complete, so a run killed in
  the middle of a save leaves the earlier checkpoints intact; the unfinished folder is ignored.
- Two "latest" steps are kept: when the newer one fails to restore (a truncated data file, a
  garbled progress JSON), the older one is used and the log says so.
- Saving a step that already exists replaces it (a step save on an epoch's last batch is followed by
  the epoch-end save of the same step with the epoch's results); a best checkpoint of an existing
  step is the same state, so saving it again is skipped.
- Saves are asynchronous (Orbax copies the arrays to the host, then writes in a background thread),
  so the next step does not wait for the disk; `wait()` and `close()` finish pending writes.

Every restore takes a template whose leaves carry the current mesh's shardings, so a checkpoint
written by N processes or devices loads on any other number.
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import logging
import os
import re
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp

from mmer_jax.errors import UserError
from mmer_jax.train.state import TrainState

log = logging.getLogger(__name__)

LATEST_KEPT = 2


class CheckpointRestoreError(UserError, RuntimeError):
  """No checkpoint of a run could be restored; the message says how to start over."""


@dataclasses.dataclass
class Progress:
  """Where training stands: the next batch to run is `batch` of `epoch` (both 0-based)."""

  epoch: int = 0
  batch: int = 0
  history: list = dataclasses.field(default_factory=list)
  best_metric: Optional[float] = None
  best_step: Optional[int] = None
  epochs_without_improvement: int = 0
  stopped_early: bool = False
  # Per epoch-end action state (e.g. the SAMSEMO protocol's train thresholds), JSON values only.
  actions: dict = dataclasses.field(default_factory=dict)
  # The running sums of the epoch in progress (trainer.EpochSums: loss total and count, seconds,
  # FLOPs), so an epoch killed and resumed reports the whole epoch's row, not its resumed part's.
  epoch_sums: dict = dataclasses.field(default_factory=dict)

  @classmethod
  def from_json(cls, values: dict) -> "Progress":
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})


def abstract_like(state: Any) -> Any:
  """Shape, dtype and sharding of each leaf: what a restore needs to place arrays on this mesh."""
  return jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)


# Object reprs that library messages embed (pybind11 bound methods, `<... at 0x7f...>`): noise to a reader.
_REPR = re.compile(r"<[^<>]*(?: at 0x[0-9a-f]+|pybind11)[^<>]*>?")
_DATABASE_PATH = re.compile(r' in OCDBT database at local file "[^"]*"')


def describe_error(error: BaseException) -> str:
  """One plain line for a failed restore: the innermost cause's first line (Orbax wraps TensorStore's
  'Requested byte range [0, 1318) is not valid for value of size 100' in an exception whose message
  ends in a pybind11 repr and a multi-line spec dump), without object reprs."""
  chain = [error]
  while (cause := chain[-1].__cause__ or chain[-1].__context__) is not None and cause not in chain:
    chain.append(cause)
  inner = chain[-1]
  text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
  text = _REPR.sub("", text).split(" See full TensorStore details")[0]
  return _DATABASE_PATH.sub("", text).strip()[:400]  # the caller names the checkpoint folder


def _is_orbax_echo(unraisable) -> bool:
  """An "Exception ignored in: <coroutine ...>" from an Orbax array read left unfinished, or TensorStore
  finishing such a read after Orbax's event loop closed (its callback's `call_soon_threadsafe` raises
  "Event loop is closed", reported with no object)."""
  obj = unraisable.object
  if inspect.iscoroutine(obj):
    return f"{os.sep}orbax{os.sep}" in obj.cr_code.co_filename
  frames = traceback.extract_tb(unraisable.exc_traceback) if unraisable.exc_traceback else []
  return (obj is None and str(unraisable.exc_value) == "Event loop is closed"
          and any(frame.name == "call_soon_threadsafe" for frame in frames))


class _OrbaxTaskFilter(logging.Filter):
  """Drops asyncio's "Task (or _GatheringFuture) exception was never retrieved" for Orbax's abandoned
  array reads: the message or the exception's traceback is Orbax's."""

  def filter(self, record: logging.LogRecord) -> bool:
    orbax = f"{os.sep}orbax{os.sep}"
    if "never retrieved" not in record.getMessage():
      return True
    if orbax in record.getMessage():
      return False
    error = record.exc_info[1] if record.exc_info else None
    return error is None or orbax not in "".join(traceback.format_exception(error))


def _silence_orbax_echoes() -> None:
  """When one array of a restore fails, Orbax leaves the other reads unfinished; when collected,
  each prints "Exception ignored in: <coroutine ...>" (or asyncio's "Task exception was never
  retrieved") with a TensorStore dump: ~300 lines after the one-line refusal or fallback warning.
  The failure is already reported (`describe_error`), so those echoes are dropped; any other
  unraisable exception or asyncio error still prints."""
  previous = sys.unraisablehook
  if getattr(previous, "_drops_orbax_echoes", False):
    return
  logging.getLogger("asyncio").addFilter(_OrbaxTaskFilter())

  def hook(unraisable):
    if _is_orbax_echo(unraisable):
      log.debug("Dropped an unfinished Orbax read: %s", unraisable.exc_value)
      return
    previous(unraisable)

  hook._drops_orbax_echoes = True
  sys.unraisablehook = hook


def _manager(path: Path, **options) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(path, options=ocp.CheckpointManagerOptions(create=True, **options))


class Checkpointer:

  def __init__(self, workdir: str | Path, *, metric: str, mode: str, keep_best: int = 1,
               also_best: tuple[tuple[str, str], ...] = (), async_saves: bool = True):
    """`also_best`: further (metric, mode) pairs, each kept in `checkpoints/best_<metric>` (seed 003
    kept both its best-loss and best-accuracy models); evaluation uses the main one."""
    self.root = Path(workdir).absolute() / "checkpoints"
    for m in (mode, *(m for _, m in also_best)):
      if m not in ("min", "max"):
        raise ValueError(f"Checkpoint mode {m!r}; use 'min' or 'max'.")
    self.metric = metric
    common = dict(enable_async_checkpointing=async_saves)
    self.also_best = {
        name: _manager(self.root / f"best_{name}", max_to_keep=1, best_fn=lambda m, name=name: m[name],
                       best_mode=m_mode, **common)
        for name, m_mode in also_best}
    self.latest = _manager(latest_dir(workdir), max_to_keep=LATEST_KEPT, **common)
    self.best = _manager(self.root / "best", max_to_keep=keep_best, best_fn=lambda m: m[metric],
                         best_mode=mode, **common)

  def has_run(self) -> bool:
    """Whether anything of an earlier run is here (a finished step folder in any manager)."""
    return any(m.all_steps() for m in (self.latest, self.best, *self.also_best.values()))

  def latest_step(self) -> Optional[int]:
    return self.latest.latest_step()

  def save_latest(self, state: TrainState, progress: Progress) -> None:
    step = int(jax.device_get(state.step))
    # One save in flight at a time: on several hosts Orbax names its commit barrier after the step
    # alone, so two managers saving one step at once would collide.
    self.wait()
    if step in self.latest.all_steps():
      self.latest.delete(step)  # the older kept step stays, should this save be interrupted
    self.latest.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(dataclasses.asdict(progress))),
        force=True)

  def save_best(self, state: TrainState, metrics: dict[str, float]) -> None:
    step = int(jax.device_get(state.step))
    for name, manager in (("", self.best), *self.also_best.items()):
      self.wait()
      if step in manager.all_steps():  # same step, same state: a rerun after a kill mid-epoch-end
        continue
      manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), metrics=ocp.args.JsonSave(metrics)),
          metrics={(name or self.metric): float(metrics[name or self.metric])}, force=True)

  def restore_latest(self, template: TrainState) -> Optional[tuple[TrainState, Progress]]:
    """The newest latest checkpoint that restores (older ones on failure); None on a fresh run."""
    self.latest.wait_until_finished()
    steps = sorted(self.latest.all_steps(), reverse=True)
    errors = []
    if steps:
      _silence_orbax_echoes()  # before: a failing read's echoes start while Orbax is still raising
    for step in steps:
      try:
        restored = self.latest.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_like(template)), progress=ocp.args.JsonRestore()))
        progress = Progress.from_json(restored.progress)
      except Exception as error:  # noqa: BLE001  (any corruption: TensorStore, JSON, missing files)
        errors.append(f"step {step}: {describe_error(error)}")
        log.warning("Checkpoint %s/%d does not restore (%s)%s", self.latest.directory, step, errors[-1],
                    "; trying the older one." if step != steps[-1] else ".")
        continue
      if errors:
        log.warning("Resuming from the older checkpoint, step %d.", step)
      return restored.state, progress
    gc.collect()  # the abandoned reads are collected (silently) before the refusal, not after it
    if errors:
      raise CheckpointRestoreError(
          f"No checkpoint in {self.latest.directory} restores ({'; '.join(errors)}). Rerun with "
          f"--config.checkpoint.restart=True to start this run again from step 0.")
    return None

  def restore_best(self, template: TrainState) -> tuple[TrainState, int]:
    self.best.wait_until_finished()
    step = self.best.best_step()
    if step is None:
      raise FileNotFoundError(f"No best checkpoint under {self.best.directory}. Train first "
                              "(--mode=train) with the same --workdir.")
    restored = self.best.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_like(template))))
    return restored.state, step

  def wait(self) -> None:
    for manager in (self.latest, self.best, *self.also_best.values()):
      manager.wait_until_finished()

  def close(self) -> None:
    for manager in (self.latest, self.best, *self.also_best.values()):
      manager.close()


def remove_checkpoints(workdir: str | Path) -> None:
  """Removes every checkpoint of a run (`checkpoint.restart=True`); process 0 only."""
  root = Path(workdir).absolute() / "checkpoints"
  if jax.process_index() == 0 and root.exists():
    shutil.rmtree(root)


def latest_dir(workdir: str | Path) -> Path:
  """Where a run's latest (resumable) checkpoints are."""
  return Path(workdir).absolute() / "checkpoints" / "latest"


def last_complete_step(workdir: str | Path) -> Optional[int]:
  """The newest latest checkpoint whose save finished (Orbax renames a step's folder from its
  temporary name only then), read from the folder alone: no manager, no lock, so a watchdog thread
  can ask while the main thread is inside a save. None when there is none."""
  directory = latest_dir(workdir)
  steps = ocp.utils.checkpoint_steps(directory) if directory.is_dir() else []
  return max(steps, default=None)
