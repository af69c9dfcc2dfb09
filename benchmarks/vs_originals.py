r"""mmer_jax against the original implementations, side by side on this machine, in one run.

  make vs-originals ORIGINALS=../originals                    # every model, 4 rounds (see below)
  .venv/bin/python benchmarks/vs_originals.py --originals=../originals --models=lf_rnn,mmmla \
      --rounds=4 --steps=10 --json=workdirs/vs.json --markdown=workdirs/vs.md \
      --torch_python=.venv-torch/bin/python --keras_python=.venv-keras/bin/python

The originals are read at run time from checkouts of their public repositories at the commits in
`benchmarks/originals/specs.py` (= ../shared/specs/originals.tsv), one folder per key under
--originals (`git clone https://github.com/<owner>/<name> <key> && git -C <key> checkout <commit>`).
The PyTorch side runs in `.venv-torch` (`make venv-torch`), the Keras side in `.venv-keras`
(`make venv-keras`), mmer_jax in the project venv; each side of each model is its own process.

Per model: both sides build the same batch shapes (benchmarks/originals/specs.py), warm up
(--warmup steps each; jax compiles then), and run --rounds interleaved rounds (the original first
in even rounds, mmer_jax first in odd ones) of N train steps then N eval steps; each round's
median step time gives samples/s, and the round's mmer_jax/original rate is its paired ratio.
Reported: median and min–max over rounds, the paired ratios, peak resident memory of each process
(VmHWM), the step-time spread, and the cores other processes took meanwhile (the host's busy CPU
time from /proc/stat, hypervisor steal included, minus this benchmark's and its workers'), with a
warning above --foreign_threshold. The load average is kept in the JSON but cannot judge quiet:
the benchmark's own two threads make it about 2. Torch runs --threads threads; XLA:CPU uses the
same cores.

--lengths=real|both (default both) adds a real-shape row per model whose inputs vary in length
(benchmarks/originals/real_shapes.py): one seeded plan of per-sample lengths from real data
(--plan_seed) written to --plan_dir and read by both workers; the original pads each batch by its
own data code's rule, mmer_jax batches as launch.py runs its config (length grouping, buckets, the
eval batch size); a round's rate is its samples over its total time. Fixed-shape models (ResNet1D,
the MoCap head, Williams) print "fixed shapes: full only". --lengths=full gives the old table.

Expected duration on an idle 2-core host with the defaults (4 rounds, the specs' steps): about
40-50 min. SAMSEMO MME2E and seed 004's MoCap head run one process at a time (both sides' peaks
do not fit in 24 GB together) and pay start-up + compile every round: SAMSEMO ~18 min, upstream
MME2E ~7 min, LF-Transformer ~3 min, the MoCap head ~5 min, every other model 1-2 min. Seven of
the eight real-shape rows (LF-RNN, LF-Transformer, the four seed 002 BLSTMs, upstream MME2E) took 16
min with 2 rounds on an idle AMD EPYC (2026-12-06), SAMSEMO MME2E's (3 steps a round) 10 min more;
4 rounds were not timed (the seed 002 originals train at ~2 samples/s on real lengths, so their
rounds dominate).
Without --originals the script says how to get them and exits 0 (so `make bench` passes).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from absl import app, flags  # noqa: E402

from originals import harness, real_shapes, specs  # noqa: E402
from originals.worker_process import Worker, WorkerError  # noqa: E402

_ORIGINALS = flags.DEFINE_string("originals", os.environ.get("MMER_JAX_ORIGINALS", ""),
                                 "Folder holding one checkout per originals.tsv key (samsemo, mme2e_upstream, ...).")
_MODELS = flags.DEFINE_list("models", list(specs.SPECS), f"Models to compare: {', '.join(specs.SPECS)}.")
_ROUNDS = flags.DEFINE_integer("rounds", 4, "Interleaved rounds per model (>= 4 for quotable figures).")
_STEPS = flags.DEFINE_integer("steps", 0, "Train and eval steps per round; 0 = each model's default (specs.py).")
_WARMUP = flags.DEFINE_integer("warmup", 0, "Untimed train and eval steps per process before the rounds; "
                                "0 = each model's default (specs.py).")
_BATCH = flags.DEFINE_integer("batch", 0, "Override every model's batch (dev runs); 0 = the seeds' batches.")
_THREADS = flags.DEFINE_integer("threads", len(os.sched_getaffinity(0)), "Torch / TF threads.")
_JSON = flags.DEFINE_string("json", "", "Write every figure here (JSON).")
_MARKDOWN = flags.DEFINE_string("markdown", "", "Write the table here (markdown).")
_TORCH_PY = flags.DEFINE_string("torch_python", str(REPO / ".venv-torch/bin/python"), "Python of the torch venv.")
_KERAS_PY = flags.DEFINE_string("keras_python", str(REPO / ".venv-keras/bin/python"), "Python of the Keras venv.")
_JAX_PY = flags.DEFINE_string("jax_python", sys.executable, "Python of the mmer_jax venv.")
_FOREIGN = flags.DEFINE_float("foreign_threshold", harness.FOREIGN_WARN,
                              "Warn when other processes take more cores than this during a model.")
_LENGTHS = flags.DEFINE_enum("lengths", "both", ["full", "real", "both"],
                              "full: every sequence at the spec's length; real: per-sample lengths from real data, "
                              "each side padding them its own way (real_shapes.py); both: a row of each.")
_PLAN_SEED = flags.DEFINE_integer("plan_seed", 0, "Seed of the real-shape plans (the same plan for both sides).")
_PLAN_DIR = flags.DEFINE_string("plan_dir", str(REPO / "workdirs" / "vs_originals_plans"),
                                "Where the real-shape plans are written (one JSON per model), read by both workers.")
_WORKER_LOGS = flags.DEFINE_string("worker_logs", str(REPO / "workdirs" / "vs_originals_logs"), "Workers' stderr logs.")


def _worker(side: str, model: str, warmup: int, plan: Path | None = None) -> Worker:
  """One side of one model: a worker.py process (with the real-shape plan when given)."""
  cmd = [_python(side), str(REPO / "benchmarks/originals/worker.py"), f"--side={side}", f"--model={model}",
         f"--originals={_originals()}", f"--threads={_THREADS.value}", f"--warmup={warmup}",
         f"--batch={_BATCH.value}"] + ([f"--plan={plan}"] if plan else [])
  return Worker(f"{model}.{side}{'.real' if plan else ''}", cmd, Path(_WORKER_LOGS.value))


def _python(side: str) -> str:
  python = {"torch": _TORCH_PY.value, "keras": _KERAS_PY.value, "jax": _JAX_PY.value}[side]
  return str(Path(python).expanduser().absolute()) if os.sep in python else python  # workers run in REPO


def _originals() -> Path:
  return Path(_ORIGINALS.value).expanduser().resolve()


def _checkout_warning(spec) -> str | None:
  folder = _originals() / spec.original
  repo, commit = specs.ORIGINALS[spec.original]
  try:
    head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return f"{folder} is not a git checkout of {repo}"
  return None if head == commit else f"{folder} is at {head[:12]}, not the pinned {commit[:12]}"


def real_skip_reason(key: str) -> str | None:
  """Why a model has no real-shape row, or None when it has one."""
  if key in real_shapes.FIXED_SHAPES:
    return f"fixed shapes: full only ({real_shapes.FIXED_SHAPES[key]})"
  if key not in real_shapes.REAL:
    return "real-shape mode not implemented yet for this model: full only"
  return None


def compare(spec, lengths: str = "full") -> dict:
  """Both sides of one model through the interleaved rounds; an error on either side is recorded.
  lengths="real": both sides run the same seeded plan of real per-sample lengths (real_shapes.py)."""
  steps = _STEPS.value or spec.steps_for(lengths)
  if _BATCH.value:
    spec = dataclasses.replace(spec, batch=_BATCH.value)
  sides = {harness.ORIGINAL: spec.framework, harness.MMER_JAX: "jax"}
  plan_path = None
  shapes = spec.shapes
  if lengths == "real":
    skipped = real_skip_reason(spec.key)
    if skipped:
      return {"key": spec.key, "title": spec.title, "batch": spec.batch, "shapes": spec.shapes, "lengths": lengths,
              "skipped": skipped, "warnings": []}
    plan = real_shapes.draw_plan(spec.key, spec.batch, steps, _PLAN_SEED.value)
    plan_path = real_shapes.write_plan(plan, Path(_PLAN_DIR.value) / f"{spec.key}.json")
    real = real_shapes.REAL[spec.key]
    means = {n: sum(s[n] for s in plan["train"]) / len(plan["train"]) for n in plan["inputs"]}
    shapes = f"{real.durations}; train means " + ", ".join(f"{n} {m:.0f}" for n, m in means.items())
  result = {"key": spec.key, "title": spec.title, "batch": spec.batch, "shapes": shapes, "dims": spec.dims,
            "lengths": lengths, "plan": str(plan_path) if plan_path else None,
            "steps_per_round": steps, "warmup": _WARMUP.value or spec.warmup, "rounds": _ROUNDS.value,
            "note": spec.note, "warnings": [], "load_before": list(os.getloadavg()),
            "foreign": None,
            "sides": {s: {"framework": fw, "peak_rss_mb": 0.0, "setup_s": [], "warmup_s": []}
                      for s, fw in sides.items()}}
  cpu_before = harness.cpu_sample()
  warning = _checkout_warning(spec)
  if warning:
    result["warnings"].append(warning)
  workers: dict = {}

  def start(side):
    w = _worker(sides[side], spec.key, _WARMUP.value or spec.warmup, plan_path)
    rec = result["sides"][side]
    rec["setup_s"].append(w.ready["setup_s"])
    rec["warmup_s"].append(w.ready["warmup_s"])
    rec["info"] = w.ready["info"]
    return w

  def stop(side):
    memory = workers.pop(side).quit()
    rec = result["sides"][side]
    rec["peak_rss_mb"] = max(rec["peak_rss_mb"], memory["peak_rss_mb"])
    rec.setdefault("memory", []).append(memory)

  def run_side(side, r, n):
    if spec.restart_each_round:  # one process at a time: both sides' peaks together exceed the RAM
      workers[side] = start(side)
    timings = workers[side].send({"cmd": "round", "steps": n})
    if spec.restart_each_round:
      stop(side)
    print(f"  round {r} {side:8s} train {harness.round_rate(timings, 'train', spec.batch):8.3f} samples/s, "
          f"eval {harness.round_rate(timings, 'eval', spec.batch):8.3f} (load {timings['loadavg'][0]:.2f})", flush=True)
    return timings

  try:
    if not spec.restart_each_round:
      for side in (harness.ORIGINAL, harness.MMER_JAX):  # the original first: it fails more often
        workers[side] = start(side)
    rounds = harness.interleave(run_side, _ROUNDS.value, steps)
    for side in list(workers):
      stop(side)
  except WorkerError as e:
    result["error"] = str(e)
    for w in workers.values():
      w.kill()
    return result
  result["load_after"] = list(os.getloadavg())
  if lengths == "real":  # how much of each side's computed rows are real (train), for the table
    share = {s: result["sides"][s].get("info", {}).get("padding", {}).get("train") for s in sides}
    if all(v is not None for v in share.values()):
      result["shapes"] += (f"; real rows {100 * share[harness.ORIGINAL]:.0f}% original / "
                           f"{100 * share[harness.MMER_JAX]:.0f}% mmer_jax")
  result["timings"] = rounds
  result["summary"] = harness.summarise(rounds, spec.batch)
  result["shares"] = harness.peak_shares(result["summary"], result["sides"][harness.MMER_JAX].get("info", {}).get("flops"),
                                         spec.batch, _peak())
  cpu_after = harness.cpu_sample()
  if cpu_before and cpu_after:
    result["foreign"] = harness.foreign_cores(cpu_before, cpu_after)
  warning = harness.quiet_warning(result["foreign"], _FOREIGN.value)
  if warning:
    result["warnings"].append(warning)
  return result


@functools.cache
def _peak() -> float:
  """This host's measured f32 matmul peak (mmer_jax.perf; measured once per CPU model, then cached)."""
  from mmer_jax import perf
  return perf.measured_peak_flops("cpu")


def _meta() -> dict:
  from mmer_jax import perf
  return {"date_utc": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()), "cpu": perf.cpu_model_name(),
          "cores": len(os.sched_getaffinity(0)), "threads": _THREADS.value, "rounds": _ROUNDS.value,
          "warmup": _WARMUP.value, "lengths": _LENGTHS.value, "plan_seed": _PLAN_SEED.value,
          "argv": sys.argv[1:], "peak_gflops": _peak() / 1e9,
          "peak": perf.peak_label("cpu")}


def main(argv):
  del argv
  if not _ORIGINALS.value:
    print("vs_originals: skipped, no --originals folder (or MMER_JAX_ORIGINALS). Clone each repository of "
          "benchmarks/originals/specs.py ORIGINALS into <folder>/<key> and check out its commit; see the README.")
    return
  unknown = [m for m in _MODELS.value if m not in specs.SPECS]
  if unknown:
    raise app.UsageError(f"unknown models {unknown}; known: {', '.join(specs.SPECS)}")
  meta, results = _meta(), []
  modes = ["full", "real"] if _LENGTHS.value == "both" else [_LENGTHS.value]
  for key, mode in ((k, m) for k in _MODELS.value for m in modes):
    spec = specs.SPECS[key]
    print(f"== {spec.title} (batch {_BATCH.value or spec.batch}; {mode} lengths; {spec.shapes}) "
          f"vs {specs.ORIGINALS[spec.original][0]}", flush=True)
    result = compare(spec, mode)
    results.append(result)
    if result.get("skipped"):
      print(f"  {result['skipped']}", flush=True)
    for w in result["warnings"]:
      print(f"  WARNING: {w}", flush=True)
    if result.get("error"):
      print(f"  not run: {result['error']}", flush=True)
    if _JSON.value:  # rewritten after every model: a long run keeps what it has measured
      Path(_JSON.value).parent.mkdir(parents=True, exist_ok=True)
      Path(_JSON.value).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
  frameworks = {side.get("info", {}).get("framework") for r in results for side in r.get("sides", {}).values()}
  table = (f"{meta['date_utc']}, {meta['cpu']} x {meta['cores']} cores, {meta['threads']} threads; "
           f"{', '.join(sorted(f for f in frameworks if f))}; {meta['rounds']} interleaved rounds; "
           f"measured peak {meta['peak_gflops']:.0f} GFLOP/s ({meta['peak']}); FLOPs per step: XLA's cost analysis "
           f"of mmer_jax's compiled step plus its LSTM kernels' matmuls, the same count for both sides\n\n"
           + harness.markdown_table(results))
  print(table)
  if _MARKDOWN.value:
    Path(_MARKDOWN.value).parent.mkdir(parents=True, exist_ok=True)
    Path(_MARKDOWN.value).write_text(table)


if __name__ == "__main__":
  app.run(main)
