"""The vectorised SDK alignment against hand-computed cases and the loop-per-row reference."""

import numpy as np
import pytest

from tfds_builders.cmu_mosei import align, sdk_reference

EPS = align.EPSILON


def _collapse(ref, src, feats):
  iv, ft = align.sort_by_start(np.asarray(src, float), np.asarray(feats, np.float32))
  return align.average_collapse(np.asarray(ref, float), iv, ft)


def test_partial_overlaps_are_clipped_and_averaged():
  ref = [[1.0, 2.0]]
  src = [[0.5, 1.2],   # partial at the start -> [1.0, 1.2]
         [1.2, 1.8],   # inside
         [1.8, 2.5],   # partial at the end -> [1.8, 2.0]
         [2.5, 3.0],   # after: no intersection
         [0.0, 1.0]]   # touches the start: clipped to [1.0, 1.0], zero length -> dropped
  feats = [[1.0], [2.0], [3.0], [40.0], [50.0]]
  hits = align.intersect(np.array(ref), *align.sort_by_start(np.array(src)))
  np.testing.assert_allclose(hits.clipped, [[1.0, 1.2], [1.2, 1.8], [1.8, 2.0]])
  out = _collapse(ref, src, feats)
  assert out.present.tolist() == [True]
  np.testing.assert_allclose(out.features, [[2.0]])          # (1 + 2 + 3) / 3
  np.testing.assert_allclose(out.intervals, [[1.0, 2.0]])    # [min, max] of the clipped rows


def test_epsilon_rule_on_boundaries():
  ref = [[1.0, 2.0]]
  src = [[0.5, 1.0 + 5e-6],    # overlaps by 5 us <= eps -> dropped
         [0.5, 1.0 + 2e-5],    # overlaps by 20 us > eps -> kept, clipped to [1.0, 1.00002]
         [2.0 + 5e-7, 2.5],    # starts just after the end but within eps: intersects, zero length -> dropped
         [1.5, 1.5]]           # zero-length source row -> dropped
  feats = [[10.0], [20.0], [30.0], [40.0]]
  out = _collapse(ref, src, feats)
  np.testing.assert_allclose(out.features, [[20.0]])
  np.testing.assert_allclose(out.intervals, [[1.0, 1.0 + 2e-5]])


def test_zero_length_and_tiny_reference_rows_are_skipped():
  ref = np.array([[3.0, 3.0], [3.0, 3.0 + 5e-6], [3.0, 3.0 + 2e-5], [4.0, 5.0]])
  assert align.valid_reference_rows(ref).tolist() == [False, False, True, True]
  out = _collapse(ref, [[2.0, 6.0]], [[7.0]])
  assert out.present.tolist() == [False, False, True, True]
  assert np.isnan(out.features[0]).all()


def test_long_row_before_short_rows_is_found():
  # Ends are not monotone: the running-max search must still find the long first row.
  ref = [[5.0, 6.0]]
  src = [[0.0, 10.0], [1.0, 2.0], [5.5, 5.75]]
  out = _collapse(ref, src, [[1.0], [100.0], [3.0]])
  np.testing.assert_allclose(out.features, [[2.0]])
  np.testing.assert_allclose(out.intervals, [[5.0, 6.0]])


def test_nan_stays_in_its_own_word():
  ref = [[0.0, 1.0], [1.0, 2.0]]
  src = [[0.0, 0.5], [0.5, 1.0], [1.0, 1.5], [1.5, 2.0]]
  out = _collapse(ref, src, [[np.nan], [1.0], [2.0], [4.0]])
  assert np.isnan(out.features[0, 0])
  assert out.features[1, 0] == pytest.approx(3.0)


def test_stable_sort_keeps_file_order_for_equal_starts():
  iv, ft = align.sort_by_start(np.array([[2.0, 3.0], [1.0, 2.0], [1.0, 1.5]]), np.array([[0], [1], [2]]))
  assert ft[:, 0].tolist() == [1, 2, 0]


def test_unsorted_source_is_rejected():
  with pytest.raises(ValueError, match="sorted by start"):
    align.intersect(np.array([[0.0, 1.0]]), np.array([[0.5, 0.6], [0.1, 0.2]]))


def test_two_level_alignment_by_hand():
  # Words: w0 [0,1], w1 [1,2], w2 [2,2] (zero length, skipped), w3 [2,3].
  words = align.Sequence(np.array([[0, 1], [1, 2], [2, 2], [2, 3.0]]), np.arange(4.0)[:, None])
  frames = np.array([[t, t + 0.5] for t in np.arange(0, 3, 0.5)])
  covarep = align.Sequence(frames, np.arange(1.0, 7.0)[:, None])       # 1..6 per half second
  level1 = align.align_to_words("glove", {"glove": words, "covarep": covarep})
  np.testing.assert_allclose(level1["glove"].features[:, 0], [0, 1, 3])
  np.testing.assert_allclose(level1["covarep"].features[:, 0], [1.5, 3.5, 5.5])
  # Label rows stored out of time order; row 1 is zero-length.
  labels = np.array([[2.5, 3.0], [1.0, 1.0], [0.5, 2.5]])
  valid, hits = align.align_to_segments(labels, level1)
  assert valid.tolist() == [True, False, True]
  seq, h = hits["covarep"]
  rows, clipped = h.rows_of(2)
  np.testing.assert_allclose(seq.features[rows, 0], [1.5, 3.5, 5.5])  # words overlapping [0.5, 2.5]
  np.testing.assert_allclose(clipped, [[0.5, 1.0], [1.0, 2.0], [2.0, 2.5]])
  rows0, _ = hits["glove"][1].rows_of(0)
  np.testing.assert_allclose(hits["glove"][0].features[rows0, 0], [3])
  assert len(h.rows_of(1)[0]) == 0


def _random_intervals(rng, n, span=20.0):
  starts = rng.uniform(0, span, n).round(2)
  lengths = rng.choice([0.0, 1e-6, 0.01, 0.033, 0.3, 1.5], n) * rng.uniform(0.5, 1.5, n)
  iv = np.stack([starts, starts + lengths], axis=1)
  return iv


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_loop_reference_on_random_data(seed):
  rng = np.random.default_rng(seed)
  words_iv = _random_intervals(rng, 60)
  words_ft = rng.normal(size=(60, 3))
  others = {"a": (_random_intervals(rng, 400), rng.normal(size=(400, 4))),
            "b": (_random_intervals(rng, 90), rng.normal(size=(90, 2)))}
  others["a"][1][rng.random(400) < 0.05] = np.nan
  expected = sdk_reference.word_level(words_iv, words_ft, others)
  got = align.align_to_words("words", {"words": align.Sequence(words_iv, words_ft),
                                       **{k: align.Sequence(*v) for k, v in others.items()}})
  for name in ["words", "a", "b"]:
    np.testing.assert_allclose(got[name].intervals, expected[name][0])
    np.testing.assert_allclose(got[name].features, expected[name][1], rtol=1e-5, atol=1e-6, equal_nan=True)
  labels = _random_intervals(rng, 15)
  ref_segments = sdk_reference.segment_level(labels, {k: (s.intervals, s.features) for k, s in got.items()})
  valid, hits = align.align_to_segments(labels, got)
  for j, ref_seg in enumerate(ref_segments):
    assert valid[j] == (ref_seg is not None)
    if ref_seg is None:
      continue
    for name, (seq, h) in hits.items():
      np.testing.assert_array_equal(seq.features[h.rows_of(j)[0]], ref_seg[name])
