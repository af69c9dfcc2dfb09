"""IEMOCAP motion capture: parse the MOCAP_{rotated,head,hand} text files and pool them per utterance.

File format (dataset_formats.md §1.6): two header lines, then one row per 120 fps frame,
`<Frame#> <Time> <values...>`, space separated, with missing markers written `NaN`.
The streams' widths and where their files lie are IEMOCAP's facts (`mmer_jax.datasets.iemocap`).

Seed 004 (Tripathi et al.'s pipeline) keeps the dialog-level rows with `start < Time < end`, splits
them with `np.array_split` into 200 chunks and averages each chunk (`np.mean`, so one NaN marker makes
its chunk NaN), then replaces NaN by 0. `utterance_chunk_means` reproduces that and also returns the
per-chunk validity mask, so a model can tell "marker missing" from "marker at the origin".
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

NUM_CHUNKS = 200


class MocapReadError(ValueError):
  """A MoCap file is missing, unreadable, or its rows do not have the expected width."""


@dataclasses.dataclass(frozen=True)
class MocapTrack:
  """One MoCap file: frame times (N,) in seconds and values (N, D) float32, NaN where missing."""
  path: str
  times: np.ndarray
  values: np.ndarray

  @property
  def width(self) -> int:
    return self.values.shape[1]


def read_mocap(path: str | os.PathLike, width: int | None = None) -> MocapTrack:
  """Parses a MOCAP_* text file. `width`, if given, is checked against the value columns."""
  import pandas as pd

  path = os.fspath(path)
  try:
    table = pd.read_csv(path, sep=r"\s+", header=None, skiprows=2, dtype=np.float64,
                        na_values=["NaN", "nan"], engine="c")
  except FileNotFoundError as e:
    raise MocapReadError(f"MoCap file {path!r} does not exist.") from e
  except pd.errors.EmptyDataError:
    table = pd.DataFrame(np.zeros((0, 2 + (width or 0))))
  except (ValueError, pd.errors.ParserError) as e:
    raise MocapReadError(f"Cannot parse MoCap file {path!r}: {e}. Expected 2 header lines then "
                         "rows of '<Frame#> <Time> <values...>'.") from e
  data = table.to_numpy(dtype=np.float64)
  if data.ndim != 2 or data.shape[1] < 2:
    raise MocapReadError(f"MoCap file {path!r} has no '<Frame#> <Time>' columns.")
  values = data[:, 2:].astype(np.float32)
  if width is not None and values.shape[1] != width:
    raise MocapReadError(f"MoCap file {path!r} has {values.shape[1]} value columns per row; "
                         f"expected {width}.")
  return MocapTrack(path=path, times=data[:, 1].copy(), values=values)


def segment_rows(track: MocapTrack, start: float, end: float) -> np.ndarray:
  """Rows with start < Time < end (strict, as the seed filters), shape (T, D) with NaN kept."""
  keep = (track.times > start) & (track.times < end)
  return track.values[keep]


def chunk_means(rows: np.ndarray, num_chunks: int = NUM_CHUNKS) -> np.ndarray:
  """`np.array_split(rows, num_chunks)` + mean per chunk, vectorised; empty chunks give NaN rows.

  array_split gives the first `T % num_chunks` chunks one extra row. With fewer rows than chunks the
  trailing chunks are empty, whose mean is NaN in numpy (the seed then zeroes them).
  """
  rows = np.asarray(rows, dtype=np.float64)
  total = rows.shape[0]
  base, extra = divmod(total, num_chunks)
  sizes = np.full(num_chunks, base, dtype=np.int64)
  sizes[:extra] += 1
  ends = np.cumsum(sizes)
  starts = ends - sizes
  # Prefix sums over NaN-free values plus a prefix count of NaNs, so one NaN only poisons its chunk.
  missing = ~np.isfinite(rows)
  prefix = np.concatenate([np.zeros((1, rows.shape[1])), np.cumsum(np.where(missing, 0.0, rows), axis=0)])
  prefix_missing = np.concatenate([np.zeros((1, rows.shape[1]), np.int64), np.cumsum(missing, axis=0)])
  sums = prefix[ends] - prefix[starts]
  poisoned = (prefix_missing[ends] - prefix_missing[starts]) > 0
  with np.errstate(invalid="ignore", divide="ignore"):
    means = np.where((sizes[:, None] > 0) & ~poisoned, sums / np.maximum(sizes[:, None], 1), np.nan)
  return means.astype(np.float32)


def nan_to_zero(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(x with NaN/inf -> 0, mask of finite entries)."""
  finite = np.isfinite(x)
  return np.where(finite, x, 0.0).astype(np.float32), finite


@dataclasses.dataclass(frozen=True)
class PooledMocap:
  """Seed 004's pooled stream: values (num_chunks, D) with NaN -> 0, and which chunk rows are valid."""
  values: np.ndarray
  chunk_valid: np.ndarray  # (num_chunks,) True where the chunk had frames and no missing marker
  num_frames: int


def utterance_chunk_means(track: MocapTrack, start: float, end: float,
                          num_chunks: int = NUM_CHUNKS) -> PooledMocap:
  rows = segment_rows(track, start, end)
  values, finite = nan_to_zero(chunk_means(rows, num_chunks))
  return PooledMocap(values=values, chunk_valid=finite.all(axis=1), num_frames=int(rows.shape[0]))

