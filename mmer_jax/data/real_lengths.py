"""How long real transcripts and clips are, as data: §7 of `../shared/specs/dataset_formats.md`.

Fixtures, the built-in sample and benchmarks draw their text lengths (and clip durations) from these
distributions, so tests and timings see the shapes users' data produces rather than uniform toys.

Each distribution is given by the figures measured on the real releases (quantiles, the shares
above 32 / 64 tokens, maximum, mean) plus a minimum (one word: [CLS] w [SEP] = 3 tokens). Between
knots the quantile function is interpolated linearly in log(length), which follows the long right
tail better than straight lines do (those overshoot the mean by 0.4-1.2 tokens). The median and
upper knots alone then put the mean a little off, so one lower knot (`fit_at`) is solved for at
first use so that the sampler's mean equals the measured mean: real short turns ("Yeah.", "Okay.")
are what that knot stands for. `tests/test_real_lengths.py` checks the measured figures are
reproduced.

Clip durations (`ClipDurations`): §7 gives CMU-MOSEI's segment figures (min 0.12 s, median 6.49 s,
mean 7.63 s, max 109.39 s) but only means for SAMSEMO (5.65 s EN) and IEMOCAP (about 4.5 s, under
1 s to over 30 s); those two take MOSEI's shape scaled to their own mean.
"""

from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np

_GRID = 20001  # quantile grid used to fit the lower knot and to check the mean


@dataclasses.dataclass(frozen=True)
class LengthDistribution:
  """A positive length distribution from measured knots: ((probability, value), ...), p=0 the
  minimum and p=1 the maximum; `fit_at`: the probability of the knot solved for the mean."""
  name: str
  unit: str
  knots: tuple[tuple[float, float], ...]
  mean: float
  fit_at: float
  source: str = ""

  @functools.cached_property
  def _table(self) -> tuple[np.ndarray, np.ndarray]:
    return _fit(self.knots, self.mean, self.fit_at)

  def quantile(self, p: np.ndarray | float) -> np.ndarray:
    probs, log_values = self._table
    return np.exp(np.interp(np.asarray(p, np.float64), probs, log_values))

  def sample(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
    """`n` whole-number draws, reproducible from the seed or generator."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    values = np.rint(self.quantile(rng.random(n)))
    return np.clip(values, self.knots[0][1], self.knots[-1][1]).astype(np.int64)


def _fit(knots, mean: float, fit_at: float) -> tuple[np.ndarray, np.ndarray]:
  """Knot table (probabilities, log values) with a knot at `fit_at` whose value makes the mean
  (over a fine probability grid) equal `mean`; bisection between its neighbours."""
  probs = np.asarray([p for p, _ in knots], np.float64)
  values = np.asarray([v for _, v in knots], np.float64)
  if not (np.all(np.diff(probs) > 0) and np.all(np.diff(values) >= 0)):
    raise ValueError(f"knots must rise in probability and value: {knots}")
  below = int(np.searchsorted(probs, fit_at)) - 1
  lo, hi = values[below], values[below + 1]
  grid = (np.arange(_GRID) + 0.5) / _GRID
  table_p = np.insert(probs, below + 1, fit_at)

  def table(v: float) -> np.ndarray:
    return np.log(np.insert(values, below + 1, v))

  def mean_with(v: float) -> float:
    return float(np.exp(np.interp(grid, table_p, table(v))).mean())

  if not mean_with(lo) <= mean <= mean_with(hi):
    raise ValueError(f"no knot at p={fit_at} between {lo} and {hi} gives the mean {mean}.")
  for _ in range(60):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if mean_with(mid) < mean else (lo, mid)
  return table_p, table(0.5 * (lo + hi))


_SPEC = "../shared/specs/dataset_formats.md §7"
# Tokens: the bert-base-uncased WordPiece tokenizer all-MiniLM-L6-v2 ships, [CLS] and [SEP] included.
# Knots at 1 - share: 12.3% of SAMSEMO EN texts exceed 32 tokens and 0.5% exceed 64; IEMOCAP 14.9% / 1.0%.
SAMSEMO_EN_TOKENS = LengthDistribution(
    "samsemo_en_tokens", "tokens",
    knots=((0.0, 3), (0.5, 16), (0.877, 32), (0.9, 35), (0.99, 54), (0.995, 64), (1.0, 103)),
    mean=18.9, fit_at=0.1, source=f"{_SPEC}: 3,898 scenes of the official EN splits")
IEMOCAP_TOKENS = LengthDistribution(
    "iemocap_tokens", "tokens",
    knots=((0.0, 3), (0.5, 15), (0.851, 32), (0.9, 38), (0.99, 64), (1.0, 126)),
    mean=18.8, fit_at=0.1, source=f"{_SPEC}: 7,433 utterances with a six-class label")
SAMSEMO_EN_WORDS = LengthDistribution(
    "samsemo_en_words", "words", knots=((0.0, 1), (0.5, 12), (0.9, 29), (0.99, 46), (1.0, 94)),
    mean=14.8, fit_at=0.1, source=SAMSEMO_EN_TOKENS.source)
IEMOCAP_WORDS = LengthDistribution(
    "iemocap_words", "words", knots=((0.0, 1), (0.5, 9), (0.9, 27), (0.99, 47), (1.0, 100)),
    mean=12.0, fit_at=0.25, source=IEMOCAP_TOKENS.source)


@dataclasses.dataclass(frozen=True)
class ClipDurations:
  """Clip lengths in seconds: log-normal with the measured median and mean, clipped to the measured
  range. (With only a median, a mean and the extremes, a log-normal is the usual assumption; knots
  interpolated up to a 109 s maximum would put the 99th percentile near 85 s.)"""
  name: str
  median: float
  mean: float
  minimum: float
  maximum: float
  source: str = ""

  @property
  def sigma(self) -> float:
    return float(np.sqrt(2.0 * np.log(self.mean / self.median)))

  def sample(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    values = self.median * np.exp(self.sigma * rng.standard_normal(n))
    return np.clip(values, self.minimum, self.maximum)

  def with_mean(self, name: str, mean: float, source: str, minimum: float, maximum: float) -> "ClipDurations":
    """The same shape (sigma) scaled to another mean."""
    return ClipDurations(name, self.median * mean / self.mean, mean, minimum, maximum, source)


CMU_MOSEI_SEGMENT_SECONDS = ClipDurations(
    "cmu_mosei_segment_seconds", median=6.49, mean=7.63, minimum=0.12, maximum=109.39,
    source="../shared/specs/dataset_formats.md §6.4: fold CSD segments")
SAMSEMO_EN_SCENE_SECONDS = CMU_MOSEI_SEGMENT_SECONDS.with_mean(
    "samsemo_en_scene_seconds", 5.65, "../shared/specs/dataset_formats.md §3.6 (EN mean; MOSEI's shape)",
    minimum=0.5, maximum=60.0)
IEMOCAP_UTTERANCE_SECONDS = CMU_MOSEI_SEGMENT_SECONDS.with_mean(
    "iemocap_utterance_seconds", 4.5, f"{_SPEC} (about 4.5 s on average, under 1 s to over 30 s; MOSEI's shape)",
    minimum=0.5, maximum=35.0)

# Speech rates: §7's mean tokens over the mean duration. Fixtures time their clips by them, so a clip's
# duration follows its transcript (IEMOCAP: 3 tokens 0.7 s, the 126-token maximum 30 s).
IEMOCAP_TOKENS_PER_SECOND = IEMOCAP_TOKENS.mean / IEMOCAP_UTTERANCE_SECONDS.mean
SAMSEMO_EN_TOKENS_PER_SECOND = SAMSEMO_EN_TOKENS.mean / SAMSEMO_EN_SCENE_SECONDS.mean

# Words per second of speech, as both releases §7 measures words for have it (IEMOCAP 12.0 words in
# ~4.5 s, SAMSEMO EN 14.8 in 5.65 s: 2.67 and 2.62). CMU-MOSEI's transcripts are not measured; its
# segments' words are their measured durations at this rate (median 6.49 s -> 17 words).
WORDS_PER_SECOND = (IEMOCAP_WORDS.mean / IEMOCAP_UTTERANCE_SECONDS.mean
                    + SAMSEMO_EN_WORDS.mean / SAMSEMO_EN_SCENE_SECONDS.mean) / 2


def cmu_mosei_segment_words(n: int, rng: np.random.Generator | int) -> np.ndarray:
  """Words in `n` CMU-MOSEI segments: real segment durations x WORDS_PER_SECOND, at least one."""
  seconds = CMU_MOSEI_SEGMENT_SECONDS.sample(n, rng)
  return np.maximum(np.rint(seconds * WORDS_PER_SECOND), 1).astype(np.int64)


DISTRIBUTIONS = {d.name: d for d in (SAMSEMO_EN_TOKENS, IEMOCAP_TOKENS, SAMSEMO_EN_WORDS, IEMOCAP_WORDS,
                                     CMU_MOSEI_SEGMENT_SECONDS, SAMSEMO_EN_SCENE_SECONDS,
                                     IEMOCAP_UTTERANCE_SECONDS)}


def word_pieces(word: str) -> int:
  """WordPiece tokens of a plain English word in bert-base-uncased's vocabulary: one per run of
  letters or digits and one per punctuation mark ("don't" -> don ' t; "it," -> it ,). Fixtures build
  their texts from common words, which the vocabulary holds whole."""
  return len(re.findall(r"\w+|[^\w\s]", word))


def words_for_tokens(tokens: int, words: list[str], rng: np.random.Generator | None = None) -> list[str]:
  """`words` cycled (from a random start, or the first word without `rng`) until [CLS] + the words +
  [SEP] make `tokens` word pieces (at least one word). Fixtures give label-bearing texts the real
  token-length distribution this way."""
  start = int(rng.integers(len(words))) if rng is not None else 0
  single = next((w for w in words if word_pieces(w) == 1), None)
  target = max(int(tokens), 3)
  chosen, count = [], 2
  while count < target:
    word = words[(start + len(chosen)) % len(words)]
    if count + word_pieces(word) > target and single:  # would overshoot: a one-piece word fits
      word = single
    chosen.append(word)
    count += word_pieces(word)
  return chosen


def text_of_tokens(tokens: int, words: list[str], rng: np.random.Generator | None = None) -> str:
  """A sentence of about `tokens` word pieces, [CLS], [SEP] and its full stop included (see
  `words_for_tokens`); a 3-token one is a single word without a full stop ("Yeah")."""
  if int(tokens) <= 3:
    return words_for_tokens(3, words, rng)[0].capitalize()
  return " ".join(words_for_tokens(int(tokens) - 1, words, rng)).capitalize() + "."
