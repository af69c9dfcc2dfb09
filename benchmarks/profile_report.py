r"""Turns `profile_step.py --json` records into a markdown table: where each step's time goes,
next to the time 1.5x the original would need.

  .venv/bin/python benchmarks/profile_report.py --profiles=workdirs/profiles.jsonl \
      --markdown=workdirs/profiles.md
  make profiles ORIGINALS=../originals     # profile the rows that missed 1.5x, then this table

With --run it first profiles, each in its own process, every model and phase of the --vs_json
result whose median paired ratio is below --target (the rows that missed 1.5x). With --originals
as well, each of those models is first timed again side by side (`vs_originals.py`, --rounds
rounds) and its profile quotes that fresh run, minutes old, rather than the --vs_json one: on this
VM a row moves by up to ~25% between runs hours apart. Both together took about 50 minutes for the
2026-12-01 result's nine models on the 2-core host, most of it SAMSEMO MME2E and the MoCap head.

Columns, per model and phase: the step's median time; the original's step (from the side-by-side
run), the time 1.5x needs (a third less) and that run's paired ratio; then the step's time by kind
of op, as shares of the op time: matmuls and convolutions, the LSTM kernel's recurrences (each
with its FLOPs and the rate it ran at as a share of the host's measured peak), and every other op
(elementwise fusions, copies, transposes, reductions). Op times are summed over the threads that
ran them and shared out over the step (`op_profile.breakdown`). Last, two floors: the step if the
other ops took no time, and the step's FLOPs at the measured peak.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from absl import app, flags

from originals import op_profile

_PROFILES = flags.DEFINE_string("profiles", "workdirs/profiles.jsonl", "profile_step.py --json records.")
_MARKDOWN = flags.DEFINE_string("markdown", "", "Write the table here as well as printing it.")
_VS_JSON = flags.DEFINE_string("vs_json", "", "A vs_originals.py result: the originals' step times, and with "
                               "--run, which rows to profile.")
_RUN = flags.DEFINE_bool("run", False, "Profile the --vs_json rows below --target first (appends to --profiles).")
_TARGET = flags.DEFINE_float("target", 1.5, "The ratio a row must reach to be left out of --run.")
_STEPS = flags.DEFINE_integer("steps", 2, "Traced steps per profile (--run).")
_ORIGINALS = flags.DEFINE_string("originals", "", "With --run: time each model side by side again first "
                                 "(vs_originals.py; the folder of the originals' checkouts).")
_ROUNDS = flags.DEFINE_integer("rounds", 2, "Rounds of that fresh side-by-side run.")
_VS_ARGS = flags.DEFINE_list("vs_args", [], "More vs_originals.py flags for the fresh runs, e.g. "
                             "--torch_python=.venv-torch/bin/python.")

HEADER = ("| model, phase (batch) | step ms | original ms; 1.5x needs; side-by-side ratio "
          "| matmul / conv: share of op time (GFLOP at share of peak) | LSTM kernel: share (GFLOP at share of peak) "
          "| other ops: share | floors ms: without other ops; all FLOPs at peak |")


def _group_cell(group: dict, busy: float, step_s: float, peak: float) -> str:
  """Share of op time, and for arithmetic ops their FLOPs at their rate over their share of the step."""
  if not group["seconds"]:
    return "–"
  share = group["seconds"] / busy
  if not group["flops"]:
    return f"{share:.0%}"
  wall = group["seconds"] * min(1.0, step_s / busy)  # as op_profile.breakdown's wall_s
  return f"{share:.0%} ({group['flops'] / 1e9:.2f} at {group['flops'] / wall / peak:.0%})"


def row(record: dict, peak: float = 0.0) -> str:
  """One table row for one profile_step.py record; rates as shares of `peak` (default: the
  record's own)."""
  groups, peak = record["groups"], peak or record["peak_flop_per_s"]
  busy = sum(g["seconds"] for g in groups.values())
  original = record.get("original_step_s")
  original_cell = (f"{1e3 * original:.1f}; {1e3 * original / 1.5:.1f}; {record['ratio']:.2f}x"
                   if original else "–")
  other_share = groups[op_profile.OTHER]["seconds"] / busy if busy else 0.0
  without_other = record["step_s"] * (1.0 - other_share)
  at_peak = record["step_flops"] / peak if peak else 0.0
  return (f"| {record['title']}, {record['phase']} ({record['batch']}) | {1e3 * record['step_s']:.1f} "
          f"| {original_cell} | {_group_cell(groups[op_profile.MATMUL], busy, record['step_s'], peak)} "
          f"| {_group_cell(groups[op_profile.LSTM], busy, record['step_s'], peak)} "
          f"| {_group_cell(groups[op_profile.OTHER], busy, record['step_s'], peak)} "
          f"| {1e3 * without_other:.1f}; {1e3 * at_peak:.1f} |")


def table(records: list[dict], peak: float = 0.0) -> str:
  """The markdown table, the last record per (model, phase) winning, in first-seen order. Shares
  are of the highest peak among the records and `peak` (the host's cached peak): a peak
  measurement can only come out too low."""
  latest: dict = {}
  for r in records:
    latest[(r["model"], r["phase"])] = r
  peak = max([peak] + [r["peak_flop_per_s"] for r in latest.values()])
  lines = [f"Shares of the highest f32 matmul peak measured on this host: {peak / 1e9:.0f} GFLOP/s.", "",
           HEADER, "|" + "---|" * 7]
  lines += [row(r, peak) for r in latest.values()]
  return "\n".join(lines) + "\n"


def missed(vs_data: dict, target: float = 1.5) -> list[tuple[str, str]]:
  """(model key, phase) of every measured row whose median paired ratio is below target."""
  out = []
  for result in vs_data.get("results", []):
    ratio = result.get("summary", {}).get("ratio", {})
    out += [(result["key"], phase) for phase in ("train", "eval")
            if phase in ratio and ratio[phase]["median"] < target]
  return out


def main(argv):
  del argv
  if _RUN.value:
    if not _VS_JSON.value:
      raise app.UsageError("--run needs --vs_json (a vs_originals.py result) to know which rows missed.")
    Path(_PROFILES.value).parent.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).parent
    timed: set = set()  # models already timed side by side in this run
    for model, phase in missed(json.loads(Path(_VS_JSON.value).read_text()), _TARGET.value):
      vs_json = _VS_JSON.value
      if _ORIGINALS.value:
        vs_json = str(Path(_PROFILES.value).with_name(f"{model}.vs.json"))
        if model not in timed:
          print(f"== side by side: {model}", flush=True)
          subprocess.run([sys.executable, str(here / "vs_originals.py"), f"--originals={_ORIGINALS.value}",
                          f"--models={model}", f"--rounds={_ROUNDS.value}", f"--json={vs_json}", *_VS_ARGS.value],
                         check=True)
          timed.add(model)
      print(f"== profiling {model} {phase}", flush=True)
      subprocess.run([sys.executable, str(here / "profile_step.py"), f"--model={model}", f"--phase={phase}",
                      f"--steps={_STEPS.value}", "--top=10", f"--vs_json={vs_json}", f"--json={_PROFILES.value}"],
                     check=True)
  if not Path(_PROFILES.value).exists():
    print(f"profile_report: skipped, no {_PROFILES.value}; `make profiles` makes it (see the docstring).")
    return
  records = [json.loads(line) for line in Path(_PROFILES.value).read_text().splitlines() if line.strip()]
  if not records:
    raise SystemExit(f"{_PROFILES.value} has no profiles; run benchmarks/profile_step.py --json={_PROFILES.value}.")
  from mmer_jax import perf
  text = table(records, perf.measured_peak_flops())
  print(text)
  if _MARKDOWN.value:
    Path(_MARKDOWN.value).write_text(text)


if __name__ == "__main__":
  app.run(main)
