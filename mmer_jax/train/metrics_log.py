"""A run's per-epoch metrics where people look for them: metrics.jsonl, TensorBoard, the console.

`metrics.jsonl` is rewritten from the checkpointed history at every epoch's end (atomically), so a
resumed run never repeats or loses a row, whatever moment it was killed at. TensorBoard event files
(`<workdir>/tensorboard/`) get each epoch's scalars once. Only process 0 writes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from mmer_jax import perf
from mmer_jax.metrics.tensorboard import ScalarWriter
from mmer_jax import progress as progress_lib

FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
# Columns of a row that describe the process that ran the epoch (its speed, its compiles, this host's
# peak), not the training: a resumed epoch's differ from an uninterrupted one's. Every other column
# of a resumed epoch equals the uninterrupted run's (tests/test_fault_injection.py).
PROCESS_FIELDS = ("samples_per_s", "input_wait_frac", "compile_s", "compiled_shapes", "flops_per_s",
                  "flops_share_of_peak", "peak")


class MetricsLog:

  def __init__(self, workdir: Path, *, enabled: bool):
    self.path = Path(workdir) / FILE
    self.enabled = enabled
    self._tensorboard: Optional[ScalarWriter] = None
    self._logged_epochs: set[int] = set()
    if enabled:
      self._tensorboard = ScalarWriter(Path(workdir) / TENSORBOARD_DIR, enabled=True)

  @staticmethod
  def exists(workdir: Path) -> bool:
    path = Path(workdir) / FILE
    return path.exists() and path.stat().st_size > 0

  @staticmethod
  def remove(workdir: Path) -> None:
    (Path(workdir) / FILE).unlink(missing_ok=True)
    shutil.rmtree(Path(workdir) / TENSORBOARD_DIR, ignore_errors=True)

  def write(self, history: Sequence[Mapping[str, Any]]) -> None:
    if not self.enabled:
      return
    tmp = self.path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in history))
    tmp.replace(self.path)
    for row in history:
      if row["epoch"] not in self._logged_epochs:
        self._tensorboard.write(int(row["step"]), {k: v for k, v in row.items() if k not in ("epoch", "step")})
        self._logged_epochs.add(row["epoch"])
    self._tensorboard.flush()

  def close(self) -> None:
    if self._tensorboard is not None:
      self._tensorboard.close()


def add_share_of_peak(row: dict) -> None:
  """`flops_share_of_peak`: the step's FLOP/s over this host's measured f32 matmul peak (mmer_jax.perf)."""
  if row.get("flops_per_s"):
    row["flops_share_of_peak"] = perf.share_of_peak(row["flops_per_s"], perf.measured_peak_flops())
    row["peak"] = perf.peak_label()


def print_epoch_row(row: Mapping[str, Any], *, first: bool, metric: str) -> None:
  columns = list(dict.fromkeys(["epoch", "train/loss", "valid/loss", f"valid/{metric}", "samples_per_s",
                                "input_wait_frac"]))
  lines = [" | ".join(f"{c:>16}" for c in columns)] if first else []
  lines.append(" | ".join(f"{row.get(c, float('nan')):>16.4f}" if isinstance(row.get(c), float)
                          else f"{row.get(c, ''):>16}" for c in columns))
  progress_lib.log_lines(*lines)
