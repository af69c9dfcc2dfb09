"""The CMU-MultimodalSDK alignment, reimplemented with vectorised numpy.

Semantics (SDK `mmdataset.align`, spec §2.4), for one video at a time:
  * a reference row i is skipped when |end - start| < EPSILON (zero-length words or segments);
  * a row j of another sequence intersects reference row i when
        (ref_end - start_j) > -EPSILON  and  (end_j - ref_start) > -EPSILON,
    its interval is clipped to the reference interval, and clipped rows whose length is not
    > EPSILON are dropped;
  * the other sequence's rows are first stably sorted by start time (the SDK sorts its
    "relevant entries"), while the reference keeps its stored row order, which defines `vid[i]`;
  * the average collapse turns the intersecting rows of reference row i into one row: interval
    [min, max] over the clipped intervals and features `np.average(features, axis=0)` (NaN stays NaN).

Everything below works on whole videos: candidate rows for every reference row are found with
`searchsorted` on the sorted starts and on the running maximum of the ends, then expanded into flat
(reference row, source row) pairs, filtered with the exact SDK predicates and reduced with
`np.*.reduceat`. No Python loop runs per reference row.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# SDK `dataset.py`: epsilon = 10e-6, i.e. 1e-5 seconds.
EPSILON = 1e-5
# Upper bound on gathered feature values per chunk in `average_collapse` (bounds peak memory on
# long videos with 713-d OpenFace rows).
_CHUNK_VALUES = 4_000_000


def sort_by_start(intervals: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
  """Stable sort by start time, as the SDK does for non-reference sequences."""
  order = np.argsort(intervals[:, 0], kind="stable")
  return (intervals[order],) + tuple(a[order] for a in arrays)


def valid_reference_rows(ref: np.ndarray, eps: float = EPSILON) -> np.ndarray:
  """Reference rows the SDK aligns: those with |end - start| >= eps."""
  return np.abs(ref[:, 0] - ref[:, 1]) >= eps


@dataclasses.dataclass
class Intersections:
  """Flat list of (reference row, source row, clipped interval), grouped by reference row.

  `ref_row` is non-decreasing; within one reference row the source rows keep the source order
  (sorted by start). `counts[i]` is the number of pairs of reference row i.
  """
  ref_row: np.ndarray   # (K,) int64
  src_row: np.ndarray   # (K,) int64
  clipped: np.ndarray   # (K, 2) float64
  counts: np.ndarray    # (n_ref,) int64
  offsets: np.ndarray = dataclasses.field(init=False)  # (n_ref + 1,) start of each group

  def __post_init__(self):
    self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

  def rows_of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
    """(source rows, clipped intervals) of reference row i."""
    a, b = self.offsets[i], self.offsets[i + 1]
    return self.src_row[a:b], self.clipped[a:b]


def intersect(ref: np.ndarray, src: np.ndarray, eps: float = EPSILON) -> Intersections:
  """All SDK intersections between reference rows `ref` (n, 2) and `src` (m, 2) sorted by start.

  Rows of `src` with non-finite intervals never intersect (NaN comparisons are False in the SDK
  too); callers drop and count them beforehand.
  """
  ref = np.asarray(ref, dtype=np.float64).reshape(-1, 2)
  src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
  n, m = ref.shape[0], src.shape[0]
  empty = Intersections(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros(n, np.int64))
  if n == 0 or m == 0:
    return empty
  starts, ends = src[:, 0], src[:, 1]
  if np.any(np.diff(starts) < 0):
    raise ValueError("intersect() needs `src` sorted by start time; call sort_by_start first.")
  rs, re = ref[:, 0], ref[:, 1]
  # Candidate window [lo, hi): a small slack keeps every row the exact predicates below accept
  # (they are evaluated in the SDK's own arithmetic form, which can differ in the last ulp).
  slack = eps * 1e-3 + 1e-12 * np.maximum(np.abs(rs), np.abs(re))
  hi = np.searchsorted(starts, re + eps + slack, side="left")
  reach = np.maximum.accumulate(ends)  # running max of ends: monotone, so searchsorted applies
  lo = np.searchsorted(reach, rs - eps - slack, side="right")
  counts = np.where(valid_reference_rows(ref, eps), np.maximum(hi - lo, 0), 0)
  total = int(counts.sum())
  if total == 0:
    return empty
  ref_row = np.repeat(np.arange(n), counts)
  first = np.concatenate([[0], np.cumsum(counts)[:-1]])
  src_row = lo[ref_row] + (np.arange(total) - np.repeat(first, counts))
  s, e = starts[src_row], ends[src_row]
  r0, r1 = rs[ref_row], re[ref_row]
  hit = ((r1 - s) > -eps) & ((e - r0) > -eps)
  clipped = np.stack([np.maximum(s, r0), np.minimum(e, r1)], axis=1)
  keep = hit & (np.abs(clipped[:, 0] - clipped[:, 1]) > eps)
  ref_row, src_row, clipped = ref_row[keep], src_row[keep], clipped[keep]
  return Intersections(ref_row, src_row, clipped, np.bincount(ref_row, minlength=n).astype(np.int64))


@dataclasses.dataclass
class Collapsed:
  """One row per reference row: `present[i]` is False where nothing intersected row i."""
  present: np.ndarray    # (n,) bool
  intervals: np.ndarray  # (n, 2) float64; [min, max] of the clipped intervals (NaN if absent)
  features: np.ndarray   # (n, D) float32; average of the intersecting rows (NaN if absent)


def average_collapse(ref: np.ndarray, src: np.ndarray, features: np.ndarray, eps: float = EPSILON) -> Collapsed:
  """SDK `align(ref, collapse_functions=[average])` for one non-reference sequence of one video.

  `src` must be sorted by start (see `sort_by_start`). Averages are accumulated in float64.
  """
  features = np.asarray(features)
  n, dim = ref.shape[0], features.shape[1]
  hits = intersect(ref, src, eps)
  present = hits.counts > 0
  out_iv = np.full((n, 2), np.nan)
  out_ft = np.full((n, dim), np.nan, dtype=np.float32)
  if not present.any():
    return Collapsed(present, out_iv, out_ft)
  offsets = hits.offsets
  rows = np.flatnonzero(present)
  # Chunk over reference rows so the gathered (pairs, D) block stays bounded.
  pairs_per_row = hits.counts[rows]
  budget = max(1, _CHUNK_VALUES // max(dim, 1))
  chunk_id = np.cumsum(pairs_per_row) // budget
  for c in np.unique(chunk_id):
    chunk = rows[chunk_id == c]
    a, b = offsets[chunk[0]], offsets[chunk[-1] + 1]
    local_starts = offsets[chunk] - a
    block = features[hits.src_row[a:b]].astype(np.float64)
    sums = np.add.reduceat(block, local_starts, axis=0)
    out_ft[chunk] = (sums / hits.counts[chunk][:, None]).astype(np.float32)
    clipped = hits.clipped[a:b]
    # The SDK takes min/max over both columns (a row could be inverted); column-wise is cheaper.
    lows = np.minimum.reduceat(np.minimum(clipped[:, 0], clipped[:, 1]), local_starts)
    highs = np.maximum.reduceat(np.maximum(clipped[:, 0], clipped[:, 1]), local_starts)
    out_iv[chunk] = np.stack([lows, highs], axis=1)
  return Collapsed(present, out_iv, out_ft)


@dataclasses.dataclass
class Sequence:
  """One video's rows of one computational sequence."""
  intervals: np.ndarray  # (n, 2) float64
  features: np.ndarray   # (n, D)


def align_to_words(reference: str, sequences: dict[str, Sequence], eps: float = EPSILON) -> dict[str, Sequence]:
  """SDK `align(reference, collapse_functions=[average])` for one video.

  Returns, per sequence, the word-level rows that exist after alignment, in word order: the
  reference keeps its own non-zero-length rows; another sequence keeps one averaged row for each
  such word it intersects (words it misses are absent, as the SDK has no `vid[k]` key for them).
  """
  words = sequences[reference]
  valid = valid_reference_rows(words.intervals, eps)
  out = {}
  for name, seq in sequences.items():
    if name == reference:
      out[name] = Sequence(words.intervals[valid], words.features[valid])
      continue
    iv, ft = sort_by_start(seq.intervals, seq.features)
    col = average_collapse(words.intervals, iv, ft, eps)
    out[name] = Sequence(col.intervals[col.present], col.features[col.present])
  return out


def align_to_segments(segments: np.ndarray, sequences: dict[str, Sequence],
                      eps: float = EPSILON) -> tuple[np.ndarray, dict[str, tuple[Sequence, Intersections]]]:
  """SDK `align(<labels>)` without collapse for one video.

  Returns the boolean mask of label rows that are aligned at all (non-zero length) and, per
  sequence, the start-sorted sequence with its intersections; `hits.rows_of(j)` then gives the
  rows of label segment j (empty where the SDK would have no `vid[j]` key for that sequence).
  """
  out = {}
  for name, seq in sequences.items():
    iv, ft = sort_by_start(seq.intervals, seq.features)
    sorted_seq = Sequence(iv, ft)
    out[name] = (sorted_seq, intersect(segments, iv, eps))
  return valid_reference_rows(segments, eps), out
