"""The side-by-side comparison's own arithmetic: round order, per-round rates, ratios, table.

Pure Python (no numpy, torch or jax) so the CI tests exercise it with fake timings. Sides are named
ORIGINAL and MMER_JAX; a round holds N train-step and N eval-step times (seconds) per side.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
from pathlib import Path
from typing import Optional, Sequence

ORIGINAL, MMER_JAX = "original", "mmer_jax"
PHASES = ("train", "eval")
FOREIGN_WARN = 0.1  # cores of CPU taken by anything but the benchmark, above which a ratio is not trusted
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # /proc/stat cpu: user nice system [idle iowait] irq softirq steal


def round_orders(rounds: int) -> list[tuple[str, str]]:
  """Which side runs first in each round: the original first, then mmer_jax first, alternating,
  so slow drifts in the machine's state (thermal, other tenants) hit both sides equally."""
  if rounds < 1:
    raise ValueError(f"need at least one round, got {rounds}")
  return [(ORIGINAL, MMER_JAX) if r % 2 == 0 else (MMER_JAX, ORIGINAL) for r in range(rounds)]


def rate(step_times: Sequence[float], batch: int) -> float:
  """Samples/s of one round: the batch over the round's median step time (robust to one hiccup)."""
  if not step_times:
    raise ValueError("a round needs at least one timed step")
  median = statistics.median(step_times)
  if median <= 0:
    raise ValueError(f"non-positive step time {median}")
  return batch / median


def total_rate(step_times: Sequence[float], samples: int) -> float:
  """Samples/s of one real-shape round (real_shapes.py): its steps differ in size, so the rate is the
  samples processed over the round's total time (a median step would favour the short batches)."""
  if not step_times:
    raise ValueError("a round needs at least one timed step")
  total = sum(step_times)
  if total <= 0:
    raise ValueError(f"non-positive round time {total}")
  return samples / total


def round_rate(record: dict, phase: str, batch: int) -> float:
  """A side's rate in one round: `total_rate` when the record carries its samples (real-shape
  mode), else `rate` (full mode: every step the same batch)."""
  if "samples" in record:
    return total_rate(record[phase], record["samples"][phase])
  return rate(record[phase], batch)


def spread(step_times: Sequence[float]) -> dict:
  """Step-time spread over every timed step: min, median, max (ms) and (max - min) / median."""
  median = statistics.median(step_times)
  lo, hi = min(step_times), max(step_times)
  return {"min_ms": 1e3 * lo, "median_ms": 1e3 * median, "max_ms": 1e3 * hi,
          "rel_range": (hi - lo) / median if median > 0 else None}


def _stats(values: Sequence[float]) -> dict:
  return {"median": statistics.median(values), "min": min(values), "max": max(values),
          "per_round": list(values)}


def summarise(rounds: Sequence[dict], batch: int) -> dict:
  """rounds: [{side: {"train": [s, ...], "eval": [s, ...]}}, ...] (plus "samples": {phase: n} in
  real-shape mode, see `round_rate`) -> per side and phase the
  samples/s (median, min, max, per round) and step-time spread; per phase the paired ratio
  mmer_jax / original of each round (both sides' rates from the same round) and its median."""
  out: dict = {}
  for side in (ORIGINAL, MMER_JAX):
    out[side] = {}
    for phase in PHASES:
      per_round = [round_rate(r[side], phase, batch) for r in rounds]
      every_step = [t for r in rounds for t in r[side][phase]]
      out[side][phase] = {**_stats(per_round), "spread": spread(every_step)}
  out["ratio"] = {}
  for phase in PHASES:
    paired = [m / o for m, o in zip(out[MMER_JAX][phase]["per_round"], out[ORIGINAL][phase]["per_round"])]
    out["ratio"][phase] = _stats(paired)
  return out


def peak_shares(summary: dict, flops: Optional[dict], batch: int, peak: Optional[float]) -> Optional[dict]:
  """Each side's achieved FLOP/s as a share of the host's measured peak, per phase, from the
  median rates and one count of the model's FLOPs per step (both sides run the same model on the
  same shapes, so one count serves both). Also the share mmer_jax would need for a 1.5x ratio:
  above 1 it is out of reach at this precision on this host.

  A side that ran faster than `peak` shows the measurement came out low (one timing per size once
  read 255 GFLOP/s where the best of three read 292); the highest achieved rate then serves as the
  peak, so no achieved share passes 100%."""
  if not flops or not peak:
    return None
  rates = {side: {ph: flops[ph] * summary[side][ph]["median"] / batch for ph in PHASES if flops.get(ph)}
           for side in (ORIGINAL, MMER_JAX)}
  peak = max([peak] + [r for side in rates.values() for r in side.values()])
  out: dict = {"peak_flops": peak, "gflop_per_step": {ph: flops[ph] / 1e9 for ph in PHASES if flops.get(ph)}}
  for side in (ORIGINAL, MMER_JAX):
    out[side] = {ph: rate / peak for ph, rate in rates[side].items()}
  out["needed_for_1.5x"] = {ph: 1.5 * share for ph, share in out[ORIGINAL].items()}
  return out


@dataclasses.dataclass(frozen=True)
class CpuSample:
  """CPU seconds spent by the whole host (steal included: another tenant on our cores) and by this
  benchmark (itself plus every worker it has waited for), at one wall-clock instant."""
  host_busy_s: float
  steal_s: float
  own_s: float
  wall_s: float


def parse_proc_stat(text: str, ticks_per_s: float) -> tuple[float, float]:
  """(busy seconds, steal seconds) summed over all CPUs from /proc/stat's aggregate `cpu` line."""
  for line in text.splitlines():
    if line.startswith("cpu "):
      ticks = [int(v) for v in line.split()[1:]]
      ticks += [0] * (8 - len(ticks))
      return sum(ticks[i] for i in _BUSY_FIELDS) / ticks_per_s, ticks[7] / ticks_per_s
  raise ValueError("no aggregate 'cpu' line in /proc/stat")


def foreign_cores(before: CpuSample, after: CpuSample) -> dict:
  """How many cores, on average over the interval, went to anything but this benchmark: the
  host's busy time minus the benchmark's own, over the wall time. The 1-minute load average cannot
  tell this apart, because the benchmark's own two threads already make it about 2."""
  wall = after.wall_s - before.wall_s
  if wall <= 0:
    raise ValueError(f"non-positive interval {wall}")
  foreign = (after.host_busy_s - before.host_busy_s) - (after.own_s - before.own_s)
  return {"cores": max(foreign, 0.0) / wall, "steal_cores": (after.steal_s - before.steal_s) / wall,
          "own_cores": (after.own_s - before.own_s) / wall, "wall_s": wall}


def quiet_warning(foreign: Optional[dict], threshold: float = FOREIGN_WARN) -> Optional[str]:
  """A warning when other work took more than `threshold` cores during a model's rounds: the two
  sides then compete with it and their ratio can move by 2x. None when quiet or not measured."""
  if foreign and foreign["cores"] > threshold:
    return (f"other processes took {foreign['cores']:.2f} cores (steal {foreign['steal_cores']:.2f}) > {threshold}: "
            "the machine was not quiet; do not quote these ratios")
  return None


def cpu_sample() -> Optional[CpuSample]:
  """The host's and this benchmark's CPU seconds now; None where /proc/stat is missing (not Linux).
  os.times' children fields count each worker once it has been waited for (vs_originals.compare
  waits for every worker before its second sample; vs_pytorch_text adds its live workers' own)."""
  try:
    busy, steal = parse_proc_stat(Path("/proc/stat").read_text(), os.sysconf("SC_CLK_TCK"))
  except (OSError, ValueError):
    return None
  t = os.times()
  return CpuSample(host_busy_s=busy, steal_s=steal, wall_s=time.monotonic(),
                   own_s=t.user + t.system + t.children_user + t.children_system)


def num(x: float) -> str:
  """Three significant figures without scientific notation for the table."""
  if x >= 100:
    return f"{x:.0f}"
  if x >= 10:
    return f"{x:.1f}"
  if x >= 1:
    return f"{x:.2f}"
  return f"{x:.3g}"


def cell(stats: dict) -> str:
  """Median (min–max); the median alone when there was one value."""
  if stats["min"] == stats["max"]:
    return num(stats["median"])
  return f"{num(stats['median'])} ({num(stats['min'])}–{num(stats['max'])})"


def _mem(side: dict) -> str:
  mb = side.get("peak_rss_mb")
  return f"{mb / 1024:.2f}" if mb else "?"


def _shares(shares: Optional[dict]) -> str:
  if not shares or set(shares["gflop_per_step"]) != set(PHASES):
    return "?"
  pct = lambda x: f"{100 * x:.0f}%"  # noqa: E731
  g, o, m, need = shares["gflop_per_step"], shares[ORIGINAL], shares[MMER_JAX], shares["needed_for_1.5x"]
  return (f"{num(g['train'])} / {num(g['eval'])}; {pct(o['train'])} / {pct(m['train'])}; "
          f"{pct(o['eval'])} / {pct(m['eval'])}; {pct(need['train'])} / {pct(need['eval'])}")


def _foreign(foreign: Optional[dict]) -> str:
  return "not measured" if not foreign else f"{foreign['cores']:.2f}"


def markdown_table(results: Sequence[dict]) -> str:
  """One row per model: samples/s median (min–max over rounds) per side and phase, the paired
  ratio, peak resident memory (GB) and the step-time spread; a failed model gets its error, a model
  with fixed shapes in real-shape mode its reason. Rows name their mode (`lengths`: full | real)."""
  head = ("| model (batch, shapes) | original train / eval samples/s | mmer_jax train / eval | "
          "ratio train / eval (paired, per round) | peak RSS GB original / mmer_jax | "
          "step-time range/median original / mmer_jax (train; eval) | "
          "GFLOP/step; share of measured peak original / mmer_jax (train; eval); needed for 1.5x | "
          "other processes' CPU, cores |")
  lines = [head, "|" + "---|" * 8]
  for r in results:
    mode = f"; {r['lengths']} lengths" if r.get("lengths") else ""
    name = f"{r['title']} ({r['batch']}; {r['shapes']}{mode})"
    if r.get("skipped"):
      lines.append(f"| {name} | {r['skipped']} | | | | | | |")
      continue
    if r.get("error"):
      lines.append(f"| {name} | not run: {r['error']} | | | | | | |")
      continue
    s = r["summary"]
    o, m, q = s[ORIGINAL], s[MMER_JAX], s["ratio"]
    rr = lambda side, ph: f"{100 * side[ph]['spread']['rel_range']:.0f}%"  # noqa: E731
    lines.append(
        f"| {name} | {cell(o['train'])} / {cell(o['eval'])} | {cell(m['train'])} / {cell(m['eval'])} | "
        f"{cell(q['train'])} / {cell(q['eval'])} | {_mem(r['sides'][ORIGINAL])} / {_mem(r['sides'][MMER_JAX])} | "
        f"{rr(o, 'train')} / {rr(m, 'train')}; {rr(o, 'eval')} / {rr(m, 'eval')} | {_shares(r.get('shares'))} | "
        f"{_foreign(r.get('foreign'))}{' ⚠' if r.get('warnings') else ''} |")
  return "\n".join(lines) + "\n"


def interleave(run_side, rounds: int, steps: int) -> list[dict]:
  """Runs `rounds` rounds through `run_side(side, round_index, steps) -> {"train": [...], "eval": [...]}`
  in `round_orders` order and returns the per-round records `summarise` takes. A reply carrying
  "samples" (real-shape mode: the sides' step counts differ) must have processed the same samples
  on both sides; its step counts are not checked against `steps`."""
  records = []
  for r, order in enumerate(round_orders(rounds)):
    record = {}
    for side in order:
      timings = run_side(side, r, steps)
      record[side] = {phase: list(timings[phase]) for phase in PHASES}
      if "samples" in timings:
        record[side]["samples"] = {phase: int(timings["samples"][phase]) for phase in PHASES}
        continue
      for phase in PHASES:
        if len(timings[phase]) != steps:
          raise ValueError(f"{side} returned {len(timings[phase])} {phase} steps in round {r}, expected {steps}")
    counts = {side: rec.get("samples") for side, rec in record.items()}
    if len({json.dumps(c, sort_keys=True) for c in counts.values()}) > 1:
      raise ValueError(f"the sides processed different samples in round {r}: {counts}")
    records.append(record)
  return records
