"""benchmarks/vs_originals.py's own logic with fake timings: no originals, torch or TensorFlow needed."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from originals import harness, notebook, specs  # noqa: E402

O, M = harness.ORIGINAL, harness.MMER_JAX


def test_rounds_alternate_which_side_goes_first():
  assert harness.round_orders(4) == [(O, M), (M, O), (O, M), (M, O)]
  assert harness.round_orders(1) == [(O, M)]
  with pytest.raises(ValueError):
    harness.round_orders(0)


def test_interleave_calls_the_sides_in_round_order_and_keeps_each_rounds_times():
  calls = []

  def run_side(side, r, steps):
    calls.append((side, r))
    base = 0.1 if side == O else 0.05
    return {"train": [base * (r + 1)] * steps, "eval": [base / 2] * steps}

  records = harness.interleave(run_side, 4, 3)
  assert calls == [(O, 0), (M, 0), (M, 1), (O, 1), (O, 2), (M, 2), (M, 3), (O, 3)]
  assert records[2][O]["train"] == [pytest.approx(0.3)] * 3 and records[2][M]["eval"] == [0.025] * 3


def test_interleave_rejects_a_side_that_timed_the_wrong_number_of_steps():
  with pytest.raises(ValueError, match="expected 2"):
    harness.interleave(lambda side, r, steps: {"train": [0.1], "eval": [0.1, 0.1]}, 2, 2)


def test_rate_uses_the_median_step():
  assert harness.rate([0.5, 0.25, 10.0], batch=32) == pytest.approx(32 / 0.5)
  assert harness.rate([0.2, 0.4], batch=8) == pytest.approx(8 / 0.3)
  with pytest.raises(ValueError):
    harness.rate([], batch=8)


def _fake_rounds():
  # Original: train 0.2 s/step steady, eval 0.05; mmer_jax: train 0.1 then 0.4 in round 1 (a slow
  # round), eval 0.1 (half the original's speed). Batch 10.
  rounds = []
  for r in range(4):
    rounds.append({O: {"train": [0.2, 0.2, 0.2], "eval": [0.05, 0.05, 0.06]},
                   M: {"train": [0.4, 0.4, 0.1] if r == 1 else [0.1, 0.1, 0.12], "eval": [0.1] * 3}})
  return rounds


def test_summary_medians_ranges_and_paired_ratios():
  s = harness.summarise(_fake_rounds(), batch=10)
  assert s[O]["train"]["per_round"] == [pytest.approx(50.0)] * 4
  assert s[M]["train"]["per_round"] == pytest.approx([100.0, 25.0, 100.0, 100.0])
  assert s[M]["train"]["median"] == pytest.approx(100.0)
  assert (s[M]["train"]["min"], s[M]["train"]["max"]) == (pytest.approx(25.0), pytest.approx(100.0))
  # Paired per round: mmer_jax's rate over the original's rate of the same round.
  assert s["ratio"]["train"]["per_round"] == pytest.approx([2.0, 0.5, 2.0, 2.0])
  assert s["ratio"]["train"]["median"] == pytest.approx(2.0)
  assert s["ratio"]["eval"]["median"] == pytest.approx(0.5)
  # Spread over every step: 0.1 .. 0.4 around a 0.1 median.
  sp = s[M]["train"]["spread"]
  assert (sp["min_ms"], sp["max_ms"], sp["median_ms"]) == (pytest.approx(100), pytest.approx(400), pytest.approx(100))
  assert sp["rel_range"] == pytest.approx(3.0)


def test_peak_shares_use_one_flop_count_for_both_sides_and_say_what_1_5x_needs():
  summary = harness.summarise(_fake_rounds(), batch=10)  # original 50 / 200, mmer_jax 100 / 100 samples/s
  shares = harness.peak_shares(summary, {"train": 2e9, "eval": 1e9}, batch=10, peak=100e9)
  # original train: 5 steps/s x 2 GFLOP = 10 GFLOP/s = 10% of a 100 GFLOP/s peak; mmer_jax 20%.
  assert shares[O]["train"] == pytest.approx(0.10) and shares[M]["train"] == pytest.approx(0.20)
  assert shares[O]["eval"] == pytest.approx(0.20) and shares[M]["eval"] == pytest.approx(0.10)
  assert shares["needed_for_1.5x"] == {"train": pytest.approx(0.15), "eval": pytest.approx(0.30)}
  assert shares["gflop_per_step"] == {"train": pytest.approx(2.0), "eval": pytest.approx(1.0)}
  assert harness.peak_shares(summary, None, 10, 100e9) is None
  assert harness.peak_shares(summary, {"train": 1e9, "eval": 1e9}, 10, None) is None
  row = harness.markdown_table([_result(shares=shares)]).strip().splitlines()[2]
  assert "| 2.00 / 1.00; 10% / 20%; 20% / 10%; 15% / 30% |" in row
  assert "| ? |" in harness.markdown_table([_result()]).strip().splitlines()[2]
  # A peak measured too low (below a side's achieved rate): that rate becomes the peak.
  low = harness.peak_shares(summary, {"train": 2e9, "eval": 1e9}, batch=10, peak=10e9)
  # Fastest: mmer_jax's train (10 steps/s x 2 GFLOP) and the original's eval (20 x 1), 20 GFLOP/s.
  assert low["peak_flops"] == pytest.approx(20e9)
  assert low[M]["train"] == low[O]["eval"] == pytest.approx(1.0) and low[O]["train"] == pytest.approx(0.5)
  assert low["needed_for_1.5x"]["eval"] == pytest.approx(1.5)  # out of reach, as it should read


def test_foreign_cores_are_the_hosts_busy_time_minus_the_benchmarks_own():
  stat = "cpu  300 0 100 5000 7 0 0 50 0 0\ncpu0 150 0 50 2500 3 0 0 25 0 0\n"
  assert harness.parse_proc_stat(stat, 100) == (pytest.approx(4.5), pytest.approx(0.5))  # user+system+steal
  with pytest.raises(ValueError):
    harness.parse_proc_stat("intr 1 2 3\n", 100)
  before = harness.CpuSample(host_busy_s=100.0, steal_s=1.0, own_s=10.0, wall_s=0.0)
  # 60 s: the host was busy 110 CPU-seconds, the benchmark used 104, steal 3 -> 0.1 cores foreign.
  after = harness.CpuSample(host_busy_s=210.0, steal_s=4.0, own_s=114.0, wall_s=60.0)
  foreign = harness.foreign_cores(before, after)
  assert foreign["cores"] == pytest.approx(0.1) and foreign["steal_cores"] == pytest.approx(0.05)
  assert foreign["own_cores"] == pytest.approx(104 / 60)
  # Own time counted from waited-for children can exceed the host's ticks by rounding: never negative.
  assert harness.foreign_cores(before, harness.CpuSample(200.0, 1.0, 111.0, 60.0))["cores"] == 0.0
  with pytest.raises(ValueError):
    harness.foreign_cores(before, before)


def test_quiet_warning_only_above_the_threshold():
  assert harness.quiet_warning(None) is None
  assert harness.quiet_warning({"cores": 0.05, "steal_cores": 0.0}) is None
  warning = harness.quiet_warning({"cores": 0.75, "steal_cores": 0.5})
  assert "0.75 cores" in warning and "steal 0.50" in warning
  assert harness.quiet_warning({"cores": 0.3, "steal_cores": 0.0}, threshold=0.5) is None


def _result(**extra):
  return {"key": "lf_rnn", "title": "LF-RNN", "batch": 10, "shapes": "text 20x300",
          "summary": harness.summarise(_fake_rounds(), batch=10), "foreign": {"cores": 0.04, "steal_cores": 0.0},
          "sides": {O: {"peak_rss_mb": 2048}, M: {"peak_rss_mb": 3072}}, "warnings": [], **extra}


def test_markdown_table_rows():
  table = harness.markdown_table([_result(), {"title": "MESM", "batch": 2, "shapes": "x", "error": "no sparseconvnet"}])
  lines = table.strip().splitlines()
  assert len(lines) == 4 and lines[0].startswith("| model (batch, shapes)")
  row = lines[2]
  assert "| LF-RNN (10; text 20x300) |" in row
  assert "| 50.0 / 200 |" in row  # original train / eval (one value each: no range)
  assert "100 (25.0–100) / 100 |" in row  # mmer_jax train / eval
  assert "2.00 (0.5–2.00) / 0.5 |" in row  # paired ratios
  assert "0% / 300%; 20% / 0%" in row  # step-time range over median: train, then eval
  assert "2.00 / 3.00" in row and row.endswith("| 0.04 |")  # peak RSS; other processes' cores
  assert harness.markdown_table([_result(foreign=None)]).strip().splitlines()[2].endswith("| not measured |")
  assert "not run: no sparseconvnet" in lines[3]
  warned = harness.markdown_table([_result(warnings=["not quiet"])])
  assert "⚠" in warned


def test_notebook_loader_executes_only_model_definitions(tmp_path):
  cells = [
      "!pip install something\nimport pandas as pd\ndf = pd.read_csv('/content/drive/data.csv')",
      "%matplotlib inline\nclass Tiny(nn.Module):\n  def __init__(self, n):\n    super().__init__()\n    self.n = n\n"
      "  def forward(self, x):\n    return helper(x) * self.n\nraise RuntimeError('training code ran')",
      "def helper(x):\n  return x + 1\ndef train(model):\n  raise RuntimeError('train ran')\ntrain(None)",
      "class Tiny(Module):\n  def __init__(self, n):\n    self.n = 10 * n\n"
      "  def forward(self, x):\n    return x * self.n",
      "this is not python (",
      "class NotAModel(object):\n  pass",
  ]
  nb = {"cells": [{"cell_type": "markdown", "source": ["class Fake(nn.Module): pass"]}] +
        [{"cell_type": "code", "source": c.splitlines(keepends=True)} for c in cells], "nbformat": 4}
  path = tmp_path / "tiny.ipynb"
  path.write_text(json.dumps(nb))

  class Module:
    def __init__(self):
      pass

  class nn:  # noqa: N801 - stands in for torch.nn
    pass
  nn.Module = Module

  ns = notebook.load_notebook(path, {"nn": nn, "Module": Module}, functions=["helper"])
  assert "Tiny" in ns and "helper" in ns and "train" not in ns and "NotAModel" not in ns and "Fake" not in ns
  assert ns["Tiny"](2).forward(3) == 60  # the later cell's definition wins, as running top-down would
  assert [c.name for c in notebook.definitions(notebook.code_cells(path))] == ["Tiny", "Tiny"]


def test_script_loader_takes_named_functions_only(tmp_path):
  path = tmp_path / "model_training.py"
  path.write_text("from missing_package import data\nX = data()\n"
                  "def build_model(n):\n  return [n] * 2\ndef train_model():\n  raise SystemExit\n")
  ns = notebook.load_script(path, {}, ["build_model"])
  assert ns["build_model"](3) == [3, 3] and "train_model" not in ns and "X" not in ns


def test_every_spec_is_complete_and_consistent():
  assert len(specs.SPECS) >= 10
  for key, spec in specs.SPECS.items():
    assert spec.key == key and spec.framework in ("torch", "keras") and spec.batch > 0 and spec.steps > 0
    assert spec.original in specs.ORIGINAL_KEYS, key
    assert spec.shapes and spec.title
