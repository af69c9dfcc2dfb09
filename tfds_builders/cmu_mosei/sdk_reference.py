"""A deliberately plain, one-reference-row-at-a-time statement of the SDK alignment.

It restates the rules of spec §2.4 directly (no searchsorted, no reduceat) so tests can check the
vectorised `align` module against it on random data, and the benchmark can report the speed-up.
It is not used to build datasets.
"""

from __future__ import annotations

import numpy as np

from tfds_builders.cmu_mosei.align import EPSILON


def rows_for(ref_row: np.ndarray, intervals: np.ndarray, eps: float = EPSILON) -> tuple[np.ndarray, np.ndarray]:
  """Indices (into `intervals`, in its order) and clipped intervals of the rows that intersect."""
  start, end = float(ref_row[0]), float(ref_row[1])
  picked, clipped = [], []
  for j, (s, e) in enumerate(intervals):
    if (end - s) > -eps and (e - start) > -eps:
      lo, hi = max(s, start), min(e, end)
      if abs(lo - hi) > eps:
        picked.append(j)
        clipped.append((lo, hi))
  return np.array(picked, dtype=np.int64), np.array(clipped, dtype=np.float64).reshape(-1, 2)


def stable_sorted(intervals: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  order = sorted(range(len(intervals)), key=lambda j: intervals[j, 0])
  return intervals[order], features[order]


def word_level(words_iv, words_ft, others: dict, eps: float = EPSILON) -> dict:
  """{name: (intervals, features)} after aligning everything to the words with average collapse."""
  out = {"words": ([], [])}
  sorted_others = {k: stable_sorted(*v) for k, v in others.items()}
  for k in sorted_others:
    out[k] = ([], [])
  for i, row in enumerate(words_iv):
    if abs(row[0] - row[1]) < eps:
      continue
    out["words"][0].append(row)
    out["words"][1].append(words_ft[i])
    for k, (iv, ft) in sorted_others.items():
      idx, clip = rows_for(row, iv, eps)
      if len(idx):
        out[k][0].append([clip.min(), clip.max()])
        out[k][1].append(np.average(ft[idx].astype(np.float64), axis=0))
  return {k: (np.array(a, dtype=np.float64).reshape(-1, 2), np.array(b)) for k, (a, b) in out.items()}


def segment_level(label_iv, sequences: dict, eps: float = EPSILON) -> list[dict | None]:
  """Per label row: None if skipped (zero length), else {name: features rows (possibly empty)}."""
  sorted_seqs = {k: stable_sorted(*v) for k, v in sequences.items()}
  result = []
  for row in label_iv:
    if abs(row[0] - row[1]) < eps:
      result.append(None)
      continue
    result.append({k: ft[rows_for(row, iv, eps)[0]] for k, (iv, ft) in sorted_seqs.items()})
  return result
