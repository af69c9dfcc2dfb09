"""Damaged checkpoints are reported in plain lines: the fallback warning and the refusal name the failing
array without pybind11 reprs, and nothing follows them (Orbax's abandoned reads used to print ~300 lines
of "Exception ignored in: <coroutine ...>" and TensorStore spec dumps)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Saves two "latest" steps of a state with several arrays, truncates the newest (or both) steps' data
# files, and restores. `raw` undoes the module's message cleaning, to show the noise it removes.
SCRIPT = r"""
import sys
from pathlib import Path
import jax.numpy as jnp
import numpy as np
from mmer_jax.train import checkpoint as ckpt_lib
from mmer_jax.train.state import TrainState

workdir, damaged, raw = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "raw"
if raw:
  ckpt_lib._silence_orbax_echoes = lambda: None
  ckpt_lib.describe_error = lambda error: str(error).splitlines()[0]

def state(step):
  rng = np.random.default_rng(step)  # incompressible, so the data is in the data files, not inlined
  params = {f"layer{i}": {"kernel": jnp.asarray(rng.normal(size=(64, 64)), jnp.float32)} for i in range(8)}
  return TrainState(step=jnp.asarray(step, jnp.int32), params=params, batch_stats={},
                    opt_state={"count": jnp.zeros((), jnp.int32)}, rng=jnp.zeros((2,), jnp.uint32))

checkpointer = ckpt_lib.Checkpointer(workdir, metric="loss", mode="min", async_saves=False)
for step in (1, 2):
  checkpointer.save_latest(state(step), ckpt_lib.Progress(epoch=step))
checkpointer.close()
for step in ([2] if damaged == "newest" else [1, 2]):
  for path in (workdir / "checkpoints" / "latest" / str(step) / "state").glob("ocdbt.process_*/d/*"):
    path.write_bytes(path.read_bytes()[:16])  # the array data, as a full disk or a cut copy leaves it
checkpointer = ckpt_lib.Checkpointer(workdir, metric="loss", mode="min")
try:
  restored, progress = checkpointer.restore_latest(state(0))
  print(f"RESTORED step {int(restored.step)}", flush=True)
except ckpt_lib.CheckpointRestoreError as error:
  print(f"REFUSED {error}", flush=True)
"""


def _restore(tmp_path, damaged, mode="clean"):
  out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), damaged, mode], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
  assert out.returncode == 0, out.stdout[-3000:]
  return out.stdout.strip().splitlines()  # stderr interleaved, in the order it was written


def _noise(lines):
  return [line for line in lines if any(mark in line for mark in (
      "Exception ignored", "never retrieved", "pybind11", "Traceback", "TensorStore(", " at 0x"))]


@pytest.mark.parametrize("damaged, outcome", [("newest", "RESTORED step 1"), ("both", "REFUSED")])
def test_damaged_checkpoints_are_reported_in_plain_lines_and_nothing_follows(tmp_path, damaged, outcome):
  lines = _restore(tmp_path, damaged)
  assert not _noise(lines), "\n".join(lines[:40])
  warnings = [line for line in lines if "does not restore" in line]
  assert len(warnings) == (1 if damaged == "newest" else 2)
  assert all("Requested byte range" in w and "is not valid for value of size 16" in w for w in warnings), warnings
  assert any(line.startswith(outcome) for line in lines), lines
  if damaged == "both":  # the refusal is the last thing said
    assert lines[-1].startswith("REFUSED No checkpoint in") and "checkpoint.restart=True" in lines[-1]


def test_without_the_cleaning_the_same_damage_is_noisy(tmp_path):
  """The control: Orbax's own messages carry the reprs and echoes the test above rules out."""
  assert _noise(_restore(tmp_path, "both", "raw"))
