"""What a step's XLA ops compute and how fast: FLOPs per op from the compiled HLO text, grouped.

`benchmarks/profile_step.py` traces a step and gets each op's time; this module reads the same
step's compiled HLO (`compiled.as_text()`) to say how much arithmetic each op does, so that a
profile can show whether a step is bound by its matmuls and convolutions (and at what share of the
host's measured peak they run), by the LSTM kernel's recurrences, or by everything else
(elementwise fusions, copies, transposes, reductions). Standard library only, so tests run it on
hand-written HLO as well as on programs jax compiles.

Counted: `dot` (2 x output elements x contracted size), `convolution` (2 x output elements x
kernel elements per output feature), and the LSTM kernel's custom calls (its step matmuls, the
count `mmer_jax.models.layers.lstm_recurrence.kernel_flops` uses), inside fusions too. Elementwise
arithmetic is not counted: it is small next to these and its cost is memory traffic.
"""

from __future__ import annotations

import math
import re
from typing import Container, Mapping

MATMUL = "matmul / convolution"
LSTM = "LSTM kernel"
OTHER = "other (elementwise, copies, transposes, reductions)"
CATEGORIES = (MATMUL, LSTM, OTHER)

_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%(\S+)\s+\((.*)\)\s+->\s+.*\{\s*$")
_PARAM = re.compile(r"(\S+?):\s+([a-z0-9]+\[[0-9,]*\])")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%(\S+)\s+=\s+(\(.*?\)|[a-z0-9]+\[[0-9,]*\])\S*\s+([a-z\-]+)\((.*)$")
_SHAPE = re.compile(r"[a-z0-9]+\[([0-9,]*)\]")


def _dims(shape: str) -> list[int]:
  match = _SHAPE.search(shape)
  return [int(d) for d in match.group(1).split(",") if d] if match else []


def _operands(rest: str) -> list[str]:
  """Operand names of an instruction, from the text after its opening parenthesis."""
  depth, end = 1, len(rest)
  for i, ch in enumerate(rest):
    depth += ch == "("
    depth -= ch == ")"
    if depth == 0:
      end = i
      break
  return re.findall(r"%([\w.\-]+)", rest[:end])


def _dot_flops(out: list[int], lhs: list[int], rest: str) -> float:
  match = re.search(r"lhs_contracting_dims=\{([0-9,]*)\}", rest)
  contracted = math.prod(lhs[int(d)] for d in match.group(1).split(",") if d) if match else 1
  return 2.0 * math.prod(out) * contracted


def _conv_flops(out: list[int], rhs: list[int], rest: str) -> float:
  match = re.search(r"dim_labels=\w+_(\w+)->", rest)
  if not match or "o" not in match.group(1):
    return 0.0
  per_output = math.prod(rhs) / rhs[match.group(1).index("o")]
  return 2.0 * math.prod(out) * per_output


def _lstm_flops(rest: str) -> float:
  match = re.search(r"operand_layout_constraints=\{(.*?)\}\s*,\s*api_version", rest)
  if not match:
    return 0.0
  shapes = [_dims(s) for s in re.findall(r"f32\[[0-9,]*\]", match.group(1))]
  (directions, hidden, gates), sequence = shapes[0], next(s for s in shapes[1:] if len(s) == 3)
  return 2.0 * sequence[0] * sequence[1] * hidden * gates * directions


def op_flops(hlo_text: str) -> dict[str, float]:
  """FLOPs per instruction of the entry computation and of every other computation (an
  instruction that calls fused computations gets theirs), keyed by instruction name."""
  shapes: dict[str, list[int]] = {}
  own: dict[str, float] = {}
  calls: dict[str, list[str]] = {}
  members: dict[str, list[str]] = {}
  current = None
  for line in hlo_text.splitlines():
    header = _COMPUTATION.match(line)
    if header:
      current = header.group(1)
      members[current] = []
      for name, shape in _PARAM.findall(header.group(2)):
        shapes[name] = _dims(shape)
      continue
    inst = _INSTRUCTION.match(line)
    if not inst:
      continue
    name, shape, op, rest = inst.groups()
    shapes[name] = _dims(shape) if not shape.startswith("(") else []
    if current is not None:
      members[current].append(name)
    operands = _operands(rest)
    flops = 0.0
    if op == "dot" and operands:
      flops = _dot_flops(shapes[name], shapes.get(operands[0], []), rest)
    elif op == "convolution" and len(operands) > 1:
      flops = _conv_flops(shapes[name], shapes.get(operands[1], []), rest)
    elif op == "custom-call" and 'custom_call_target="mmer_lstm_' in rest:
      flops = _lstm_flops(rest)
    own[name] = flops
    calls[name] = re.findall(r"(?:calls|to_apply|body|condition)=%([\w.\-]+)", rest)

  def total(name: str, seen: frozenset = frozenset()) -> float:
    flops = own.get(name, 0.0)
    for comp in calls.get(name, []):
      if comp not in seen:
        flops += sum(total(m, seen | {comp}) for m in members.get(comp, []))
    return flops

  return {name: total(name) for name in own}


def entry_flops(hlo_text: str) -> float:
  """The FLOPs `op_flops` counts in the entry computation (each fused or called computation once
  per calling instruction)."""
  flops = op_flops(hlo_text)
  entry = hlo_text[hlo_text.index("\nENTRY"):]
  body = entry[:entry.index("\n}")]
  names = [m.group(1) for m in (_INSTRUCTION.match(line) for line in body.splitlines()[1:]) if m]
  return sum(flops.get(n, 0.0) for n in names)


def side_by_side(vs_data: dict, model: str, phase: str) -> dict:
  """From a vs_originals.py result: the original's median step time (s) and the median paired
  ratio for a model and phase ({} when the row or phase is missing)."""
  for result in vs_data.get("results", []):
    summary = result.get("summary", {})
    rate = summary.get("original", {}).get(phase, {}).get("median") if result.get("key") == model else None
    if rate:
      return {"original_step_s": result["batch"] / rate, "ratio": summary["ratio"][phase]["median"]}
  return {}


def category(op_name: str, flops: Mapping[str, float], lstm_ops: Container[str]) -> str:
  """The group a traced op belongs to: the LSTM kernel's calls, ops that do matmul or
  convolution arithmetic (`flops` from `op_flops`), or other."""
  if op_name in lstm_ops:
    return LSTM
  return MATMUL if flops.get(op_name, 0.0) > 0 else OTHER


def lstm_op_names(hlo_text: str) -> list[str]:
  return [m.group(1) for m in re.finditer(r"%(\S+)\s+=\s+.*custom_call_target=\"mmer_lstm_", hlo_text)]


def breakdown(op_seconds: Mapping[str, float], hlo_text: str, step_s: float) -> dict[str, dict[str, float]]:
  """Per category: op time per step summed over the threads that ran them ("seconds"), that time
  scaled to the step ("wall_s", below), FLOPs per step and the rate ("flop_per_s" = FLOPs / wall_s).

  `op_seconds`: traced seconds per step per op name. Ops that ran side by side on different
  threads add up to more than the step; "wall_s" then shares the step out in proportion to each
  category's summed time, so that the rates compare with the whole host's peak (a convolution
  summed at 100 GFLOP/s per thread while another ran beside it did not leave a core idle)."""
  flops = op_flops(hlo_text)
  lstm = set(lstm_op_names(hlo_text))
  out = {c: {"seconds": 0.0, "flops": 0.0} for c in CATEGORIES}
  for name, seconds in op_seconds.items():
    group = out[category(name, flops, lstm)]
    group["seconds"] += seconds
    group["flops"] += flops.get(name, 0.0)
  busy = sum(g["seconds"] for g in out.values())
  scale = min(1.0, step_s / busy) if busy > 0 else 1.0
  for group in out.values():
    group["wall_s"] = group["seconds"] * scale
    group["flop_per_s"] = group["flops"] / group["wall_s"] if group["wall_s"] > 0 else 0.0
  return out
