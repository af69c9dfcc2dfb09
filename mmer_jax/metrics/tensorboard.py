"""TensorBoard event files beside `metrics.jsonl`, for following runs in TensorBoard.

Written with tensorboardX, which needs only protobuf and numpy (no TensorFlow, no torch). Only
process 0 should write (the caller passes `enabled=jax.process_index() == 0`): every host holds
the same gathered figures, and several writers in one folder would show each curve N times.

    writer = ScalarWriter(workdir, enabled=jax.process_index() == 0)
    writer.write(step, {"train/loss": 0.41, "valid/f1_macro": 0.63})
    writer.close()
"""

from __future__ import annotations

import math
import numbers
import os
import uuid
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np


def as_scalar(value: Any) -> Optional[float]:
  """`value` as a float when it is one finite real number, else None.

  Rows of metrics.jsonl mix numbers with lists (tuned thresholds), None (FLOP share on backends
  without cost analysis) and NaN (AUC of a class without positives); TensorBoard can show only
  the finite numbers. Booleans are flags, not measurements.
  """
  if isinstance(value, (bool, np.bool_)):
    return None
  if isinstance(value, numbers.Real):
    number = float(value)
  else:
    try:  # 0-d numpy / jax arrays
      array = np.asarray(value)
    except Exception:  # noqa: BLE001  (anything numpy cannot hold is not a scalar)
      return None
    if array.ndim != 0 or array.dtype.kind not in "iuf":
      return None
    number = float(array)
  return number if math.isfinite(number) else None


class ScalarWriter:
  """Appends scalars to an event file in `logdir`; does nothing at all when `enabled` is False."""

  def __init__(self, logdir: str | Path, *, enabled: bool = True, flush_secs: int = 30):
    self.enabled = bool(enabled)
    self.logdir = Path(logdir)
    self._writer = None
    if self.enabled:
      from tensorboardX import SummaryWriter  # noqa: PLC0415  (disabled processes never import it)
      self.logdir.mkdir(parents=True, exist_ok=True)
      # tensorboardX names files by the second and the host and opens them with "wb": a run resumed
      # within the same second would truncate the first file. A unique suffix keeps both.
      suffix = f".{os.getpid()}.{uuid.uuid4().hex[:8]}"
      self._writer = SummaryWriter(logdir=str(self.logdir), flush_secs=flush_secs, filename_suffix=suffix)

  def write(self, step: int, scalars: Mapping[str, Any]) -> list[str]:
    """Writes each finite number of `scalars` under its key as tag; returns the tags written."""
    if not self.enabled:
      return []
    if self._writer is None:
      raise ValueError(f"ScalarWriter({self.logdir}) is closed.")
    written = []
    for tag, value in scalars.items():
      number = as_scalar(value)
      if number is not None:
        self._writer.add_scalar(str(tag), number, global_step=int(step))
        written.append(str(tag))
    return written

  def flush(self) -> None:
    if self._writer is not None:
      self._writer.flush()

  def close(self) -> None:
    """Flushes and closes the file; safe to call twice."""
    if self._writer is not None:
      self._writer.close()
      self._writer = None

  def __enter__(self) -> "ScalarWriter":
    return self

  def __exit__(self, *exc) -> None:
    self.close()
