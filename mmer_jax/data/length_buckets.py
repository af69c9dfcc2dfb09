"""Length buckets chosen from the training data: few compiles, little padding.

A step compiles once per input shape. Padding every transcript to the preprocessor's maximum (128
tokens) compiles once but mostly computes padding: real transcripts average about 19 tokens
(`../shared/specs/dataset_formats.md` §7). One shape per length would compile dozens of times.
`choose` picks at most `max_buckets` lengths that minimise the padded steps over the training
examples, exactly: a dynamic program over the sorted distinct lengths (rounded up to `multiple`),
where a bucket holds every example longer than the bucket below it. With length-grouped batches
(pipeline.py) a batch is padded to about its examples' own bucket, so the per-example sum is the
work the steps really do.

The top bucket is the longest training example (rounded up, capped at the preprocessor's maximum).
When that is below the maximum, the maximum is added above it: training never reaches it (so
training compiles at most `max_buckets` shapes), while an evaluation or prediction example longer
than every training example is padded to the maximum instead of being cut short.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

DEFAULT_MULTIPLE = 8  # token and frame buckets: multiples of 8 suit the vector units


@dataclasses.dataclass(frozen=True)
class LengthGroup:
  """A variable-length input of a preprocessor: the `<key>` and `<key>_*` arrays along axis 0.

  `cap`: the longest this preprocessor emits (its max length); `multiple`: buckets are multiples of
  it (or the cap), which also bounds the dynamic program's size for long inputs (raw audio).
  """
  cap: int
  multiple: int = DEFAULT_MULTIPLE

  def to_json(self) -> dict:
    return {"cap": int(self.cap), "multiple": int(self.multiple)}


def round_up(lengths: np.ndarray, group: LengthGroup) -> np.ndarray:
  """Each length rounded up to the group's multiple, capped at its maximum (at least 1)."""
  lengths = np.maximum(np.asarray(lengths, np.int64), 1)
  return np.minimum(-(-lengths // group.multiple) * group.multiple, group.cap)


def choose(lengths: Sequence[int], group: LengthGroup, max_buckets: int) -> list[int]:
  """Ascending bucket lengths that minimise sum(bucket(l) - l) over `lengths` with at most
  `max_buckets` buckets used by them (plus `group.cap` above, see the module docstring).

  Deterministic: the same lengths give the same buckets on every host (ties go to the shorter
  bucket). O(max_buckets x m^2) with m distinct rounded lengths (16 for 128 tokens in steps of 8).
  """
  if max_buckets < 1:
    raise ValueError(f"max_buckets={max_buckets}; use 1 or more.")
  lengths = np.minimum(np.maximum(np.asarray(lengths, np.int64), 1), group.cap)
  if lengths.size == 0:
    return [int(group.cap)]
  rounded = round_up(lengths, group)
  values, inverse = np.unique(rounded, return_inverse=True)
  counts = np.bincount(inverse).astype(np.float64)
  sums = np.bincount(inverse, weights=lengths.astype(np.float64))
  m = len(values)
  # cum[i] = totals over values[:i]; a bucket at values[i] covering values[a:i+1] pads
  # values[i] * (count) - (sum of their lengths).
  cum_count = np.concatenate([[0.0], np.cumsum(counts)])
  cum_sum = np.concatenate([[0.0], np.cumsum(sums)])
  v = values.astype(np.float64)

  def cost(start: np.ndarray, end: int) -> np.ndarray:  # bucket values[end] covering values[start:end+1]
    return v[end] * (cum_count[end + 1] - cum_count[start]) - (cum_sum[end + 1] - cum_sum[start])

  k_max = min(int(max_buckets), m)
  best = np.full((k_max + 1, m), np.inf)
  back = np.zeros((k_max + 1, m), np.int64)
  best[1] = [cost(np.zeros(1, np.int64), i)[0] for i in range(m)]
  for k in range(2, k_max + 1):
    for i in range(k - 1, m):
      prev = np.arange(k - 2, i)  # the bucket below ends at values[prev]
      total = best[k - 1, prev] + cost(prev + 1, i)
      j = int(np.argmin(total))
      best[k, i], back[k, i] = total[j], prev[j]
  k = int(np.argmin(best[1:, m - 1])) + 1  # fewest buckets among the optimal ones
  chosen, i = [], m - 1
  while k >= 1:
    chosen.append(int(values[i]))
    i, k = int(back[k, i]), k - 1
  chosen = sorted(chosen)
  if chosen[-1] < group.cap:
    chosen.append(int(group.cap))
  return chosen


def bucket_of(lengths: np.ndarray, buckets: Sequence[int]) -> np.ndarray:
  """The smallest bucket holding each length (the largest bucket for longer ones)."""
  edges = np.asarray(sorted(buckets))
  return edges[np.minimum(np.searchsorted(edges, np.asarray(lengths), side="left"), len(edges) - 1)]


def padded_ratio(lengths: Sequence[int], buckets: Sequence[int]) -> float:
  """Steps computed / real steps when each example is padded to its own bucket."""
  lengths = np.asarray(lengths, np.int64)
  return float(bucket_of(lengths, buckets).sum() / max(lengths.sum(), 1))


def batch_padded_ratio(batch_lengths: Sequence[Sequence[int]], padded_to: Sequence[int]) -> float:
  """Steps computed / real steps over batches: each batch's rows padded to `padded_to[i]`."""
  real = sum(int(np.sum(b)) for b in batch_lengths)
  done = sum(int(p) * len(b) for b, p in zip(batch_lengths, padded_to))
  return done / max(real, 1)


def settings(groups: Mapping[str, LengthGroup], max_buckets: int) -> dict:
  """What the chosen buckets depend on besides the data; a run reuses its recorded buckets only
  while these are unchanged."""
  return {"max_buckets": int(max_buckets), "groups": {k: g.to_json() for k, g in groups.items()}}
