"""benchmarks/originals/real_shapes.py: the real-shape plans and each side's padding (no torch, no originals)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from originals import harness, real_shapes, specs  # noqa: E402

from mmer_jax.data import pipeline, real_lengths  # noqa: E402

ORIGINALS = Path(__file__).resolve().parents[1] / "benchmarks" / "originals"


def test_the_plan_is_seeded():
  a = real_shapes.draw_plan("lf_rnn", batch=8, steps=3, seed=0)
  assert a == real_shapes.draw_plan("lf_rnn", batch=8, steps=3, seed=0)
  b = real_shapes.draw_plan("lf_rnn", batch=8, steps=3, seed=1)
  assert a["train"] != b["train"] and a["eval"] != b["eval"]
  assert len(a["train"]) == len(a["eval"]) == 24
  assert a["train"] != a["eval"]  # eval draws its own samples


def test_both_workers_read_the_plan_the_driver_wrote(tmp_path):
  plan = real_shapes.draw_plan("mmmla", batch=4, steps=2, seed=3)
  path = real_shapes.write_plan(plan, tmp_path / "mmmla.json")
  # The torch worker and the jax worker each call read_plan on the same file.
  assert real_shapes.read_plan(path, "mmmla") == real_shapes.read_plan(path, "mmmla") == plan
  with pytest.raises(ValueError, match="not 'mmb'"):
    real_shapes.read_plan(path, "mmb")
  stale = dict(plan, version=real_shapes.PLAN_VERSION + 1)
  (tmp_path / "stale.json").write_text(json.dumps(stale))
  with pytest.raises(ValueError):
    real_shapes.read_plan(tmp_path / "stale.json", "mmmla")


def test_real_shapes_imports_without_mmer_jax():
  """The torch venv has no mmer_jax: the module may import it only inside draw_lengths."""
  source = (ORIGINALS / "real_shapes.py").read_text()
  top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
  assert top_level and not any("mmer_jax" in line for line in top_level)


def test_lengths_follow_the_real_distributions_and_caps():
  plan = real_shapes.draw_plan("lf_rnn", batch=100, steps=20, seed=0)  # 2,000 samples
  seconds = np.array([s["seconds"] for s in plan["train"]])
  assert np.median(seconds) == pytest.approx(real_lengths.CMU_MOSEI_SEGMENT_SECONDS.median, rel=0.08)
  for s in plan["train"]:
    # COVAREP 100 Hz and FACET 30 Hz, capped at mmer_jax's 500 / 150 (seconds are stored to 1 ms)
    assert abs(s["audio"] - min(max(s["seconds"] * 100, 1), 500)) <= 0.6
    assert abs(s["vision"] - min(max(s["seconds"] * 30, 1), 150)) <= 0.6
    assert 1 <= s["text"] <= 50
  iemocap = real_shapes.draw_plan("mmb", batch=100, steps=20, seed=0)["train"]
  tokens = np.array([s["text"] for s in iemocap])
  assert tokens.mean() == pytest.approx(real_lengths.IEMOCAP_TOKENS.mean, rel=0.08)
  assert tokens.min() >= 3 and tokens.max() <= 126
  # Duration and transcript come from one draw: the longer clip has the longer transcript.
  audio = np.array([s["audio"] for s in iemocap])
  assert np.corrcoef(np.argsort(np.argsort(audio)), np.argsort(np.argsort(tokens)))[0, 1] > 0.95


@pytest.mark.parametrize("rule, expected", [(real_shapes.FIXED, 50), (real_shapes.BATCH_MAX, 31),
                                            (real_shapes.PACKED, (3 + 31 + 12) / 3)])
def test_padding_rules(rule, expected):
  assert real_shapes.padded_length(rule, [3, 31, 12], cap=50) == pytest.approx(expected)


def test_unknown_padding_rule_is_refused():
  with pytest.raises(ValueError):
    real_shapes.padded_length("bucketed", [1], cap=5)


def test_original_batches_keep_plan_order_and_pad_by_the_originals_rules():
  batch = [{"seconds": 1.0, "text": 7, "audio": 120, "vision": 30},
           {"seconds": 4.0, "text": 11, "audio": 400, "vision": 120}]
  # LF: the HCF text is stacked at a fixed length, audio and vision packed with their lengths.
  assert real_shapes.original_shapes("lf_rnn", batch) == {"text": 50, "audio": [120, 400], "vision": [30, 120]}
  # Seed 002: pad_sequence to the batch's longest.
  assert real_shapes.original_shapes("mmb", batch) == {"audio": 400, "text": 11}
  assert real_shapes.original_shapes("unimodal_text", batch) == {"text": 11}
  plan = real_shapes.draw_plan("mmb", batch=4, steps=3, seed=0)
  batches = real_shapes.original_batches(plan, "train")
  assert [s for b in batches for s in b] == plan["train"] and all(len(b) == 4 for b in batches)


def test_every_rule_is_cited_and_every_variable_model_has_a_row():
  for key, real in real_shapes.REAL.items():
    assert key in specs.SPECS
    for inp in real.inputs:
      assert inp.rule in real_shapes.RULES and ":" in inp.cite and inp.cap > 0, (key, inp)
  assert set(real_shapes.FIXED_SHAPES).isdisjoint(real_shapes.REAL)
  assert {"resnet1d", "semor_mocap_cnn", "williams"} <= set(real_shapes.FIXED_SHAPES)


@pytest.mark.parametrize("key", sorted(real_shapes.REAL))
@pytest.mark.parametrize("phase", ["train", "eval"])
def test_mmer_jax_batches_cover_every_sample_once_at_their_buckets(key, phase):
  plan = real_shapes.draw_plan(key, batch=32, steps=5, seed=7)
  real = real_shapes.REAL[key]
  batches = real_shapes.mmer_jax_batches(key, plan, phase)
  covered = [i for b in batches for i, ok in zip(b["indices"], b["valid"]) if ok]
  assert sorted(covered) == list(range(len(plan[phase])))
  size = 32 if phase == "train" else real.eval_batch
  assert all(len(b["indices"]) == size for b in batches)
  buckets = real_shapes.buckets_of(key, plan)
  for b in batches:
    for inp in real.inputs:
      longest = max(plan[phase][i][inp.name] for i in b["indices"])
      if inp.name in buckets:
        assert b["shapes"][inp.name] == pipeline.bucket_length(longest, buckets[inp.name])
      else:
        assert b["shapes"][inp.name] == inp.cap
  assert real_shapes.padding_share(key, plan, phase, "mmer_jax") <= 1.0


def test_grouping_puts_similar_lengths_together_and_eval_is_sorted():
  lengths = list(np.random.default_rng(0).integers(1, 1000, 320))
  rows = real_shapes.grouped_order(lengths, batch=32, window_batches=50, seed=42)
  assert sorted(rows.reshape(-1).tolist()) == list(range(320))
  spans = [max(lengths[i] for i in r) - min(lengths[i] for i in r) for r in rows]
  assert max(spans) < 200  # one window sorted: each batch a narrow slice of the range
  rows, valid = real_shapes.eval_order(lengths[:70], eval_batch=64)
  assert rows.shape == (2, 64) and valid.sum() == 70 and not valid[1, 6:].any()
  flat = [lengths[i] for i in rows[valid]]
  assert flat == sorted(flat)
  assert (rows[1, 6:] == rows[1, 0]).all()  # padding rows repeat the batch's shortest sample


def test_grouped_order_is_the_pipelines():
  """The same order as InputPipeline._length_grouped_order for one host (its code, on a stub)."""
  lengths = np.random.default_rng(1).integers(1, 500, 96)

  class Stub:
    seed, host = 5, pipeline.HostInfo(0, 1)
    cfg = type("Cfg", (), {"batch_size": 8})()
    steps_per_epoch = 12

    def split_lengths(self, split, key):
      return lengths

  ours = real_shapes.grouped_order(lengths, batch=8, window_batches=3, seed=5)
  theirs = pipeline.InputPipeline._length_grouped_order(Stub(), 0, {"key": "audio", "window_batches": 3})
  assert ours.reshape(-1).tolist() == theirs.tolist()


def test_lf_batches_without_buckets_pad_to_the_cap_and_keep_the_split_order_in_eval():
  plan = real_shapes.draw_plan("lf_rnn", batch=32, steps=3, seed=0)
  batches = real_shapes.mmer_jax_batches("lf_rnn", plan, "eval")
  assert [b["shapes"] for b in batches] == [{"text": 50, "audio": 500, "vision": 150}] * 2
  assert batches[0]["indices"] == list(range(64))


def test_total_rate_and_real_rounds():
  assert harness.total_rate([0.5, 0.25, 0.25], samples=64) == pytest.approx(64.0)
  with pytest.raises(ValueError):
    harness.total_rate([], samples=8)
  # Real-shape records carry their samples: the rate is samples over the round's total time.
  record = {"train": [0.1, 0.3], "eval": [0.2], "samples": {"train": 40, "eval": 40}}
  assert harness.round_rate(record, "train", batch=20) == pytest.approx(100.0)
  assert harness.round_rate({"train": [0.1, 0.3]}, "train", batch=20) == pytest.approx(100.0)  # median 0.2
  assert harness.round_rate({"train": [0.1, 0.1, 0.4]}, "train", batch=20) == pytest.approx(200.0)


def test_interleave_accepts_real_rounds_only_when_both_sides_did_the_same_samples():
  def run_side(side, r, steps):
    n = 3 if side == harness.ORIGINAL else 2  # different step counts (eval batch 64 vs 32)
    return {"train": [0.1] * n, "eval": [0.1] * n, "samples": {"train": 96, "eval": 96}}

  rounds = harness.interleave(run_side, 2, steps=5)
  s = harness.summarise(rounds, batch=32)
  assert s["ratio"]["train"]["median"] == pytest.approx(1.5)  # 96/0.2 s over 96/0.3 s

  def unequal(side, r, steps):
    return {"train": [0.1], "eval": [0.1], "samples": {"train": 96 if side == harness.ORIGINAL else 64, "eval": 96}}

  with pytest.raises(ValueError, match="different samples"):
    harness.interleave(unequal, 1, steps=1)


def test_markdown_rows_name_their_mode_and_skipped_models():
  rows = harness.markdown_table([{"title": "ResNet1D", "batch": 32, "shapes": "2740 features", "lengths": "real",
                                  "skipped": "fixed shapes: full only"}]).strip().splitlines()
  assert rows[2].startswith("| ResNet1D (32; 2740 features; real lengths) | fixed shapes: full only |")


def test_mme2e_counts_faces_and_mel_pieces_from_the_duration_and_chooses_text_buckets_as_the_pipeline():
  from mmer_jax.data import length_buckets

  plan = real_shapes.draw_plan("mme2e_upstream", batch=8, steps=2, seed=0)
  for s in plan["train"]:
    # a face every 500 ms of 30 fps video; 80 mel frames/s in 32-frame pieces; mmer_jax's caps 16 / 32
    # (ceil adds under one; seconds are stored to 1 ms)
    assert -0.01 <= s["vision"] - min(2 * s["seconds"], 16) < 1.01
    assert -0.05 <= s["audio"] - min((1 + 80 * s["seconds"]) / 32, 32) < 1.01
    assert 3 <= s["text"] <= 100
  split = real_shapes.draw_lengths(real_shapes.REAL["mme2e_upstream"], real_shapes.BUCKET_SPLIT,
                                   np.random.default_rng([0, real_shapes.PLAN_VERSION, 1]))
  expected = length_buckets.choose([s["text"] for s in split], length_buckets.LengthGroup(100, 8), 2)
  assert plan["buckets"] == {"text": expected} and expected[-1] == 100 and len(expected) <= 3
  # The original pads the tokens to 100 and concatenates faces and pieces with their lengths.
  shapes = real_shapes.original_shapes("mme2e_upstream", plan["train"][:8])
  assert shapes["text"] == 100 and shapes["vision"] == [s["vision"] for s in plan["train"][:8]]


def test_padding_share_counts_what_the_original_computes():
  plan = {"batch": 2, "train": [{"text": 10, "audio": 100, "vision": 30}, {"text": 20, "audio": 300, "vision": 90}]}
  # LF: text fixed at 50; audio and vision arrive packed but the model pads them to the batch's longest.
  expected = (10 + 20 + 100 + 300 + 30 + 90) / (2 * 50 + 2 * 300 + 2 * 90)
  assert real_shapes.padding_share("lf_rnn", plan, "train", "original") == pytest.approx(expected)
  # Upstream MME2E: faces and mel pieces stay packed through the CNNs.
  plan = {"batch": 2, "train": [{"text": 10, "vision": 4, "audio": 6}, {"text": 20, "vision": 8, "audio": 12}]}
  expected = (10 + 20 + 4 + 8 + 6 + 12) / (2 * 100 + 4 + 8 + 6 + 12)
  assert real_shapes.padding_share("mme2e_upstream", plan, "train", "original") == pytest.approx(expected)


def test_grouped_configs_batch_a_window_and_a_split_as_the_pipeline_does():
  real = real_shapes.REAL["mmb"]
  plan = real_shapes.draw_plan("mmb", batch=32, steps=5, seed=0)
  # The plan's mmer_jax train batches are batches of the pipeline's grouped order over a 50-batch window.
  rng = np.random.default_rng([0, real_shapes.PLAN_VERSION])
  pool = real_shapes.draw_lengths(real, real.window_batches * 32, rng)
  rows = real_shapes.grouped_order([s["audio"] for s in pool], 32, real.window_batches, 0)
  window_batches = [sorted(json.dumps(pool[i], sort_keys=True) for i in r) for r in rows]
  for b in plan["mmer_jax"]["train"]:
    assert sorted(json.dumps(plan["train"][i], sort_keys=True) for i in b) in window_batches
  assert len(plan["mmer_jax"]["train"]) == 5 and len(plan["train"]) == 160
  # Evaluation: whole batches of 64 from a sorted split, as many as the original's 5 x 32 need.
  assert len(plan["eval"]) == 3 * 64 and len(plan["mmer_jax"]["eval"]) == 3
  # mmer_jax's batches hold close lengths, the original's (random order) the whole range.
  for phase in ("train", "eval"):
    ours = [np.ptp([plan[phase][i]["audio"] for i in b]) for b in plan["mmer_jax"][phase]]
    theirs = [np.ptp([s["audio"] for s in b]) for b in real_shapes.original_batches(plan, phase)]
    assert np.mean(ours) < 0.5 * np.mean(theirs), (phase, ours, theirs)
  # Spread evenly over the lengths: short and long batches both appear.
  for phase in ("train", "eval"):
    means = sorted(np.mean([plan[phase][i]["audio"] for i in b]) for b in plan["mmer_jax"][phase])
    assert means[0] < 250 < means[-1], (phase, means)


def test_batches_are_taken_from_the_centres_of_equal_strata():
  assert real_shapes._spaced(50, 1).tolist() == [25]  # one batch: the median one, not the shortest
  assert real_shapes._spaced(50, 2).tolist() == [12, 37]
  assert real_shapes._spaced(50, 5).tolist() == [5, 15, 25, 35, 45]
  assert real_shapes._spaced(3, 10).tolist() == [0, 1, 2]


def test_samsemo_mme2e_draws_scene_lengths_and_its_original_encodes_only_real_items():
  spec = specs.SPECS["samsemo_mme2e"]
  plan = real_shapes.draw_plan("samsemo_mme2e", batch=16, steps=spec.steps_for("real"), seed=0)
  # SAMSEMO EN scenes (mean 5.65 s), not IEMOCAP utterances. The real row's round is large enough to
  # sit near that mean for the driver's seed (the spec's one full-mode step drew 3.7 s scenes).
  for phase in ("train", "eval"):
    assert abs(np.mean([s["seconds"] for s in plan[phase]]) / 5.65 - 1) < 0.2, phase
  assert "text" not in plan["inputs"] and spec.steps_for("full") == spec.steps
  for s in plan["train"]:  # 2 fps frames and 0.4 s mel pieces, cut at the model's 16 and 32
    assert -0.01 <= s["vision"] - min(2 * s["seconds"], 16) < 1.01
    assert -0.05 <= s["audio"] - min((1 + 80 * s["seconds"]) / 32, 32) < 1.01
  batch = plan["train"][:16]
  shapes = real_shapes.original_shapes("samsemo_mme2e", batch)
  assert shapes == {"vision": [s["vision"] for s in batch], "audio": [s["audio"] for s in batch]}
  # The original's CNNs see exactly the real faces and pieces; mmer_jax's pack to a bucket of slots.
  assert real_shapes.padding_share("samsemo_mme2e", plan, "train", "original") == 1.0
  eval_batches = real_shapes.mmer_jax_batches("samsemo_mme2e", plan, "eval")
  assert all(len(b["indices"]) == 16 for b in eval_batches)


@pytest.mark.parametrize("key", sorted(set(real_shapes.REAL) - {"mme2e_upstream"}))  # that one builds ALBERT-base
def test_each_real_spec_is_its_configs_batching(key):
  """real_shapes keeps a copy of each config's caps, buckets, grouping, eval batch and packing (the
  torch venv cannot read configs); jax_side checks the copy against the config before it runs."""
  from originals import jax_side
  spec = specs.SPECS[key]
  config = jax_side._real_config(spec, Path("unused"))  # noqa: SLF001
  jax_side.check_real_spec(spec, config)
  config.input.eval_batch_size = real_shapes.REAL[key].eval_batch + 1
  with pytest.raises(ValueError, match="no longer matches its config"):
    jax_side.check_real_spec(spec, config)
