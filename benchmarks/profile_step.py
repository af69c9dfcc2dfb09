r"""Where one mmer_jax train or eval step of a vs_originals model spends its time, per XLA op.

  .venv/bin/python benchmarks/profile_step.py --model=lf_rnn --phase=eval [--steps=3] [--top=25]

Builds the same step and inputs as `benchmarks/vs_originals.py` (benchmarks/originals/jax_side.py),
warms it up, traces --steps steps with `jax.profiler` and prints the median step time, the step's
FLOPs and, per XLA thunk (fusions, library dots/convolutions `ynn_fusion.*`, the LSTM kernels
`ffi_call.*`), its time per step summed over XLA's worker threads. The sum over threads can exceed
the wall time when ops run concurrently. Nothing is asserted: timings depend on the machine.
"""

from __future__ import annotations

import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from absl import app, flags  # noqa: E402

from originals import specs  # noqa: E402

_MODEL = flags.DEFINE_enum("model", "lf_rnn", list(specs.SPECS), "A vs_originals model.")
_PHASE = flags.DEFINE_enum("phase", "eval", ["train", "eval"], "Which step.")
_STEPS = flags.DEFINE_integer("steps", 3, "Traced steps.")
_TOP = flags.DEFINE_integer("top", 25, "Ops to list.")
_BATCH = flags.DEFINE_integer("batch", 0, "Override the spec's batch (0 = the seed's).")


def op_times(xplane_path: str, steps: int) -> dict[str, float]:
  """Seconds per step per XLA thunk name, summed over XLA's threads (not the host's waits)."""
  from jax.profiler import ProfileData
  totals: collections.Counter = collections.Counter()
  for plane in ProfileData.from_file(xplane_path).planes:
    for line in plane.lines:
      if "XLAEigen" not in line.name and "XLAPjRtCpuClient" not in line.name:
        continue  # Python frames and the like
      for event in line.events:
        if not event.name.startswith(("ThunkExecutor", "SlinkyThreadPool")):
          totals[event.name] += event.duration_ns * 1e-9 / steps
  return dict(totals)


def main(argv):
  del argv
  import dataclasses

  import jax

  from originals import jax_side
  spec = specs.SPECS[_MODEL.value]
  if _BATCH.value:
    spec = dataclasses.replace(spec, batch=_BATCH.value)
  runner = jax_side.build(spec, None, 0)
  step = runner.train_step if _PHASE.value == "train" else runner.eval_step
  for _ in range(2):
    step()
  times = []
  for _ in range(max(3, _STEPS.value)):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir):
      for _ in range(_STEPS.value):
        step()
    xplane = next(Path(trace_dir).rglob("*.xplane.pb"))
    ops = op_times(str(xplane), _STEPS.value)
  median = statistics.median(times)
  flops = runner.info["flops"][_PHASE.value]
  print(f"{spec.title}, {_PHASE.value} step, batch {spec.batch}: {1e3 * median:.1f} ms median "
        f"({spec.batch / median:.1f} samples/s), {flops / 1e9:.2f} GFLOP, {flops / median / 1e9:.1f} GFLOP/s")
  busy = sum(ops.values())
  print(f"XLA ops, summed over threads: {1e3 * busy:.1f} ms per step")
  for name, seconds in sorted(ops.items(), key=lambda kv: -kv[1])[:_TOP.value]:
    print(f"  {1e3 * seconds:8.2f} ms  {100 * seconds / busy:5.1f}%  {name}")


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  app.run(main)
