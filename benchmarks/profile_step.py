r"""Where one mmer_jax train or eval step of a vs_originals model spends its time, per XLA op.

  .venv/bin/python benchmarks/profile_step.py --model=lf_rnn --phase=eval [--steps=3] [--top=25]

Builds the same step and inputs as `benchmarks/vs_originals.py` (benchmarks/originals/jax_side.py),
warms it up, traces --steps steps with `jax.profiler` and prints the median step time, the step's
FLOPs and, per XLA thunk (fusions, library dots/convolutions `ynn_fusion.*`, the LSTM kernels
`ffi_call.*`), its time per step summed over XLA's worker threads. The sum over threads can exceed
the wall time when ops run concurrently. Nothing is asserted: timings depend on the machine.

It also groups the ops (`originals/op_profile.py`): matmuls and convolutions, the LSTM kernel's
recurrences, and everything else, each with its FLOPs (from the compiled HLO) and the rate it ran
at as a share of the host's measured f32 matmul peak. With --vs_json (a `vs_originals.py` result)
it adds the original's step time for the same model and phase and the time 1.5x would need;
--json appends the record to a JSON-lines file that `benchmarks/profile_report.py` turns into a
table (`make profiles` runs the rows that missed 1.5x).
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from absl import app, flags  # noqa: E402

from originals import op_profile, specs  # noqa: E402

_MODEL = flags.DEFINE_enum("model", "lf_rnn", list(specs.SPECS), "A vs_originals model.")
_PHASE = flags.DEFINE_enum("phase", "eval", ["train", "eval"], "Which step.")
_STEPS = flags.DEFINE_integer("steps", 3, "Traced steps.")
_TOP = flags.DEFINE_integer("top", 25, "Ops to list.")
_BATCH = flags.DEFINE_integer("batch", 0, "Override the spec's batch (0 = the seed's).")
_VS_JSON = flags.DEFINE_string("vs_json", "", "A vs_originals.py JSON result: adds the original's step time.")
_JSON = flags.DEFINE_string("json", "", "Append this profile as one JSON line to this file.")


def op_times(xplane_path: str, steps: int) -> dict[str, float]:
  """Seconds per step per XLA thunk name, summed over XLA's threads (not the host's waits)."""
  from jax.profiler import ProfileData
  totals: collections.Counter = collections.Counter()
  for plane in ProfileData.from_file(xplane_path).planes:
    for line in plane.lines:
      if "XLAEigen" not in line.name and "XLAPjRtCpuClient" not in line.name:
        continue  # Python frames and the like
      for event in line.events:
        # Not ops: the executors' and thread pools' own spans and the ends of async thunks.
        if not event.name.startswith(("ThunkExecutor", "SlinkyThreadPool", "ThreadpoolListener", "end: ")):
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
  from mmer_jax import perf
  peak = perf.measured_peak_flops()
  groups = op_profile.breakdown(ops, runner.compiled[_PHASE.value].as_text(), median)
  print(f"By kind, summed over threads and scaled to the step (rates as a share of this host's measured "
        f"peak, {peak / 1e9:.0f} GFLOP/s):")
  for kind, g in groups.items():
    rate = f", {g['flops'] / 1e9:.2f} GFLOP at {g['flop_per_s'] / 1e9:.0f} GFLOP/s ({100 * g['flop_per_s'] / peak:.0f}%)" \
        if g["flops"] else ""
    print(f"  {1e3 * g['seconds']:8.2f} ms -> {1e3 * g['wall_s']:8.2f} ms  {kind}{rate}")
  record = {"model": _MODEL.value, "title": spec.title, "phase": _PHASE.value, "batch": spec.batch,
            "step_s": median, "step_flops": flops, "peak_flop_per_s": peak, "groups": groups,
            "top_ops": sorted(ops.items(), key=lambda kv: -kv[1])[:_TOP.value]}
  if _VS_JSON.value:
    record.update(op_profile.side_by_side(json.loads(Path(_VS_JSON.value).read_text()), _MODEL.value,
                                          _PHASE.value))
    if "original_step_s" in record:
      original = record["original_step_s"]
      print(f"Original (from {_VS_JSON.value}): {1e3 * original:.1f} ms per step, ratio {record['ratio']:.2f}; "
            f"1.5x needs {1e3 * original / 1.5:.1f} ms, {flops / (original / 1.5) / peak:.0%} of the measured peak")
  if _JSON.value:
    with open(_JSON.value, "a") as f:
      f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  app.run(main)
