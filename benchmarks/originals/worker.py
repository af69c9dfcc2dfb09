r"""One side of one model in its own process (and its own virtualenv), driven over stdin/stdout.

  <venv>/bin/python benchmarks/originals/worker.py --side=torch|keras|jax --model=lf_rnn \
      --originals=../originals --threads=2 --warmup=2

Builds the model and its fixed batch, warms up (the first jax call compiles), prints a READY
line, then answers one JSON command per stdin line: {"cmd": "round", "steps": N} -> N timed train
steps, then N timed eval steps, each synchronised; {"cmd": "quit"} -> peak memory, then exit.

With --plan=<json> (real-shape mode, real_shapes.py) the side builds one batch per step of the
plan instead; warm-up runs every distinct shape once (jax compiles each bucket there), and a round
runs every train step of the plan, then every eval step, and also reports the samples processed.
Replies are single lines prefixed with MARKER so the libraries' own prints cannot be mistaken for
them. Standard library only here: the side modules import their framework.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import resource
import sys
import time
from pathlib import Path

MARKER = "@@vs_originals@@ "
HERE = Path(__file__).resolve().parent
SIDES = {"torch": "torch_side", "keras": "keras_side", "jax": "jax_side"}


def reply(obj) -> None:
  sys.stdout.write(MARKER + json.dumps(obj) + "\n")
  sys.stdout.flush()


def peak_memory_mb() -> dict:
  """VmHWM (this process image's peak resident set) and ru_maxrss, in MB."""
  out = {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
  try:
    for line in Path("/proc/self/status").read_text().splitlines():
      if line.startswith("VmHWM:"):
        out["vmhwm_mb"] = int(line.split()[1]) / 1024
  except OSError:
    pass
  out["peak_rss_mb"] = max(out.values())
  return out


def timed(fn, steps: int) -> list[float]:
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    fn()  # each side's step returns only after its results exist (blocks / .item() / numpy)
    times.append(time.perf_counter() - t0)
  return times


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--side", choices=sorted(SIDES), required=True)
  parser.add_argument("--model", required=True)
  parser.add_argument("--originals", default="")
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--batch", type=int, default=0, help="0 = the spec's batch")
  parser.add_argument("--plan", default="", help="real-shape mode: the plan's JSON (real_shapes.py)")
  args = parser.parse_args()
  if args.side == "jax":  # mmer_jax as its scripts run: re-executed once with its malloc tunables
    sys.path.insert(0, str(HERE.parents[1]))
    from mmer_jax.process_env import reexec_with_malloc_tunables
    reexec_with_malloc_tunables()
  sys.path.insert(0, str(HERE.parent))
  from originals import specs
  side = importlib.import_module(f"originals.{SIDES[args.side]}")
  spec = specs.SPECS[args.model]
  if args.batch:
    spec = dataclasses.replace(spec, batch=args.batch)
  originals = Path(args.originals).expanduser().resolve() if args.originals else None
  t0 = time.perf_counter()
  try:
    if args.plan:
      from originals import real_shapes
      runner = side.build_real(spec, originals, args.threads, real_shapes.read_plan(Path(args.plan), spec.key))
    else:
      runner = side.build(spec, originals, args.threads)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if args.plan:
      for step in runner.warmup_steps:  # every distinct shape once
        step()
    else:
      timed(runner.train_step, args.warmup)
      timed(runner.eval_step, args.warmup)
  except Exception as e:  # reported to the driver, which puts it in the table and goes on
    reply({"error": f"{type(e).__name__}: {e}"})
    raise
  reply({"ready": True, "setup_s": setup_s, "warmup_s": time.perf_counter() - t0, "info": runner.info,
         "pid": os.getpid()})
  for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["cmd"] == "round" and args.plan:
      reply({"train": [timed(step, 1)[0] for step in runner.train_steps],
             "eval": [timed(step, 1)[0] for step in runner.eval_steps],
             "samples": runner.samples, "loadavg": os.getloadavg()})
    elif cmd["cmd"] == "round":
      reply({"train": timed(runner.train_step, cmd["steps"]), "eval": timed(runner.eval_step, cmd["steps"]),
             "loadavg": os.getloadavg()})
    elif cmd["cmd"] == "quit":
      reply(peak_memory_mb())
      return


if __name__ == "__main__":
  main()
