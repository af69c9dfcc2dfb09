"""benchmarks/originals/op_profile.py and benchmarks/profile_report.py: FLOPs per XLA op from
compiled HLO, the grouping of traced op times, and the report's table, with fake timings."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import profile_report  # noqa: E402
from originals import op_profile  # noqa: E402


def _hlo(fn, *shapes):
  return jax.jit(fn).lower(*(jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes)).compile().as_text()


def test_a_matmul_counts_two_flops_per_multiply_add():
  text = _hlo(lambda a, b: a @ b, (64, 32), (32, 16))
  assert op_profile.entry_flops(text) == 2 * 64 * 32 * 16
  assert max(op_profile.op_flops(text).values()) == 2 * 64 * 32 * 16


def test_batched_matmul_and_convolutions_match_their_arithmetic():
  def fn(x, w, a, b):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y, jnp.einsum("bij,bjk->bik", a, b)

  text = _hlo(fn, (2, 10, 12, 8), (3, 3, 8, 16), (4, 5, 6), (4, 6, 7))
  conv = 2 * (2 * 10 * 12 * 16) * (3 * 3 * 8)
  assert op_profile.entry_flops(text) == conv + 2 * 4 * 5 * 6 * 7


def test_grouped_convolution_counts_only_each_groups_inputs():
  def fn(x, w):
    return jax.lax.conv_general_dilated(x, w, (2,), "VALID", dimension_numbers=("NWC", "WIO", "NWC"),
                                        feature_group_count=4)

  text = _hlo(fn, (3, 50, 8), (5, 2, 12))  # 8 inputs in 4 groups of 2; 12 outputs
  out_len = (50 - 5) // 2 + 1
  assert op_profile.entry_flops(text) == 2 * (3 * out_len * 12) * (5 * 2)


def test_elementwise_ops_count_nothing():
  text = _hlo(lambda x: jnp.tanh(x) * 2 + 1, (128, 128))
  assert op_profile.entry_flops(text) == 0


def test_lstm_kernel_calls_count_their_step_matmuls_like_the_flop_count_of_the_benchmarks():
  from mmer_jax.models.layers import lstm_recurrence, rnn
  if not lstm_recurrence.use_cpu_kernel(jnp.float32):
    pytest.skip("the LSTM CPU kernel is not built here")
  layer = rnn.BiLSTM(8)
  x = jnp.ones((3, 11, 5))
  params = layer.init(jax.random.key(0), x)
  lowered = jax.jit(layer.apply).lower(params, x)
  text = lowered.compile().as_text()
  names = op_profile.lstm_op_names(text)
  flops = op_profile.op_flops(text)
  assert len(names) == 1 and flops[names[0]] == 2 * 11 * 3 * 8 * 32 * 2
  assert flops[names[0]] == lstm_recurrence.kernel_flops(lowered.as_text())


HAND_WRITTEN = """HloModule m

%fused_computation.1 (param_0: f32[40,30], param_1: f32[30,20]) -> f32[40,20] {
  %param_0 = f32[40,30]{1,0} parameter(0)
  %param_1 = f32[30,20]{1,0} parameter(1)
  ROOT %dot.1 = f32[40,20]{1,0} dot(%param_0, %param_1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

ENTRY %main (a: f32[40,30], b: f32[30,20], u: f32[2,4,16], g: f32[7,3,16], v: pred[7,3]) -> f32[40,20] {
  %a = f32[40,30]{1,0} parameter(0)
  %b = f32[30,20]{1,0} parameter(1)
  %u = f32[2,4,16]{2,1,0} parameter(2)
  %g = f32[7,3,16]{2,1,0} parameter(3)
  %v = pred[7,3]{1,0} parameter(4)
  %ynn_fusion.1 = f32[40,20]{1,0} fusion(%a, %b), kind=kCustom, calls=%fused_computation.1
  %ffi_call.2 = (f32[7,3,4]{2,1,0}, f32[7,3,4]{2,1,0}) custom-call(%u, %g, %g, %v, %v), custom_call_target="mmer_lstm_inference", operand_layout_constraints={f32[2,4,16]{2,1,0}, f32[7,3,16]{2,1,0}, f32[7,3,16]{2,1,0}, pred[7,3]{1,0}, pred[7,3]{1,0}}, api_version=API_VERSION_TYPED_FFI
  ROOT %add_fusion.3 = f32[40,20]{1,0} add(%ynn_fusion.1, %ynn_fusion.1)
}
"""


def test_fusions_take_their_called_computations_flops_and_ops_group_by_kind():
  flops = op_profile.op_flops(HAND_WRITTEN)
  assert flops["ynn_fusion.1"] == 2 * 40 * 30 * 20
  assert flops["ffi_call.2"] == 2 * 7 * 3 * 4 * 16 * 2
  assert flops["add_fusion.3"] == 0
  times = {"ynn_fusion.1": 0.002, "ffi_call.2": 0.001, "add_fusion.3": 0.0005, "copy.9": 0.0005}
  groups = op_profile.breakdown(times, HAND_WRITTEN, step_s=0.005)  # ops summed to less than the step
  assert groups[op_profile.MATMUL]["seconds"] == groups[op_profile.MATMUL]["wall_s"] == pytest.approx(0.002)
  assert groups[op_profile.MATMUL]["flop_per_s"] == pytest.approx(48000 / 0.002)
  assert groups[op_profile.LSTM]["flops"] == 2 * 7 * 3 * 4 * 16 * 2
  assert groups[op_profile.OTHER] == {"seconds": pytest.approx(0.001), "wall_s": pytest.approx(0.001),
                                      "flops": 0.0, "flop_per_s": 0.0}
  # Ops that ran side by side summed to twice the step: each kind gets its share of the step.
  groups = op_profile.breakdown(times, HAND_WRITTEN, step_s=0.002)
  assert groups[op_profile.MATMUL]["wall_s"] == pytest.approx(0.001)
  assert groups[op_profile.MATMUL]["flop_per_s"] == pytest.approx(48000 / 0.001)
  assert sum(g["wall_s"] for g in groups.values()) == pytest.approx(0.002)


def _vs_result():
  def row(key, batch, original, ratio):
    return {"key": key, "batch": batch,
            "summary": {"original": {p: {"median": original[p]} for p in original},
                        "ratio": {p: {"median": ratio[p]} for p in ratio}}}
  return {"results": [row("a", 32, {"train": 64.0, "eval": 320.0}, {"train": 1.6, "eval": 1.2}),
                      row("b", 8, {"train": 2.0, "eval": 8.0}, {"train": 0.7, "eval": 1.5}),
                      {"key": "c", "batch": 2, "error": "not run"}]}


def test_side_by_side_reads_the_originals_step_time_and_the_ratio():
  assert op_profile.side_by_side(_vs_result(), "a", "eval") == {"original_step_s": 0.1, "ratio": 1.2}
  assert op_profile.side_by_side(_vs_result(), "c", "eval") == {}
  assert op_profile.side_by_side(_vs_result(), "zz", "train") == {}


def test_missed_lists_the_rows_below_the_target_and_skips_unmeasured_ones():
  report = profile_report
  assert report.missed(_vs_result()) == [("a", "eval"), ("b", "train")]
  assert report.missed(_vs_result(), target=1.0) == [("b", "train")]


def _record(model="a", phase="eval", **kw):
  groups = {op_profile.MATMUL: {"seconds": 0.06, "flops": 12e9, "flop_per_s": 2e11},
            op_profile.LSTM: {"seconds": 0.05, "flops": 8e9, "flop_per_s": 1.6e11},
            op_profile.OTHER: {"seconds": 0.015, "flops": 0.0, "flop_per_s": 0.0}}
  record = {"model": model, "title": f"model {model}", "phase": phase, "batch": 32, "step_s": 0.125,
            "step_flops": 20e9, "peak_flop_per_s": 2.5e11, "groups": groups}
  record.update(kw)
  return record


def test_report_row_gives_the_budget_the_shares_the_rates_and_the_floors():
  # Ops summed to 125 ms over a 125 ms step: matmuls 60 ms for 12 GFLOP = 200 GFLOP/s = 80% of 250.
  row = profile_report.row(_record(original_step_s=0.15, ratio=1.2))
  cells = [c.strip() for c in row.strip("|").split("|")]
  assert cells == ["model a, eval (32)", "125.0", "150.0; 100.0; 1.20x", "48% (12.00 at 80%)",
                   "40% (8.00 at 64%)", "12%", "110.0; 80.0"]
  # A step half as long as its summed op time (ops side by side): the same shares, twice the rates.
  cells = [c.strip() for c in profile_report.row(_record(step_s=0.0625)).strip("|").split("|")]
  assert cells[3:] == ["48% (12.00 at 160%)", "40% (8.00 at 128%)", "12%", "55.0; 80.0"]
  assert profile_report.row(_record()).split("|")[3].strip() == "–"


def test_report_table_keeps_the_last_profile_per_model_and_phase():
  report = profile_report
  text = report.table([_record(step_s=0.5), _record(phase="train"), _record(step_s=0.125)])
  lines = text.splitlines()
  assert lines[0] == "Shares of the highest f32 matmul peak measured on this host: 250 GFLOP/s."
  body = [line for line in lines if line.startswith("| model a")]
  assert [line.split("|")[1].strip() for line in body] == ["model a, eval (32)", "model a, train (32)"]
  assert body[0].split("|")[2].strip() == "125.0"
  assert len(lines[3].split("|")) == len(report.HEADER.split("|"))
  # A higher peak (the host's cache) lowers every share; a lower one is ignored.
  assert "(12.00 at 40%)" in report.table([_record()], peak=5e11)
  assert "(12.00 at 80%)" in report.table([_record()], peak=1e11)
