"""Seed 003 inputs (ResNet1D): 276 audio statistics ++ TF-IDF of the transcript, IEMOCAP 6-class.

Per utterance: `features` = concat(MinMax-scaled `audio_stats` (276), TF-IDF of the normalised
transcript (vocabulary size V)) as float32 (276 + V,); V = 2464 on the seed's data, so the model sees
a 2740-long 1-channel signal. `label` is the `seed003_6class` index (ang, hap+exc, sad+fru, fea,
sur, neu); `meta/*` as for the other IEMOCAP inputs.

Statistics:
- `fit_scope="train"` (default): the MinMax scaler and the TF-IDF vocabulary/idf are fitted on the
  TRAIN split only (extra generated training sources included, they are part of train).
- `fit_scope="all_splits"` (faithful, LEAKS): the seed fitted both on every row, test included.
  That needs the pipeline to hand over every split: it calls `fit_on_splits`; a plain `fit` call in
  this mode raises instead of silently fitting on train only.

The seed's other leak, oversampling fear 31x and surprise 11x BEFORE its random 80/20 split (copies
of the same utterance land in train and test), is a dataset-level operation: `oversample_indices`
and `random_split_indices` implement it for a pipeline that pools the sessions first.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from ml_collections import ConfigDict

from mmer_jax import registry
from mmer_jax.data import label_schemes
from mmer_jax.data.preprocess.base import Example, Preprocessor
from mmer_jax.data.preprocess.multifocus import as_str, iemocap_meta
from mmer_jax.features import audio_stats as stats_lib
from mmer_jax.features import text as text_lib

FIT_SCOPES = ("train", "all_splits")
# Seed 003: fear rows appended 30 more times (x31), then surprise 10 more times (x11).
SEED003_OVERSAMPLING = {"fea": 31, "sur": 11}


class Seed003Input(Preprocessor):

  def __init__(self, label_scheme: str, use_audio: bool, use_text: bool, tfidf: Mapping[str, Any],
               fit_scope: str):
    if fit_scope not in FIT_SCOPES:
      raise ValueError(f"input.preprocess.fit_scope={fit_scope!r}; use one of {FIT_SCOPES}.")
    if not (use_audio or use_text):
      raise ValueError("Seed003Input needs use_audio and/or use_text.")
    self.scheme = label_schemes.get_scheme(label_scheme)
    self.use_audio, self.use_text, self.fit_scope = use_audio, use_text, fit_scope
    self.tfidf_overrides = dict(tfidf)
    self.minimum = self.maximum = self.vectorizer = None

  def keep(self, example: Example) -> bool:
    return self.scheme(example["label"]) is not None

  def needs_fit(self) -> bool:
    return True

  def fit(self, examples: Iterable[Example]) -> None:
    if self.fit_scope != "train":
      raise RuntimeError(
          "input.preprocess.fit_scope='all_splits' fits on every split (the seed's leak); the input "
          "pipeline must call fit_on_splits({'train': ..., 'valid': ..., 'test': ...}).")
    self._fit(examples)

  def fit_on_splits(self, splits: Mapping[str, Iterable[Example]]) -> None:
    """Fits on train only, or on every split given when fit_scope='all_splits'."""
    if self.fit_scope == "train":
      self._fit(splits["train"])
    else:
      self._fit(itertools.chain.from_iterable(splits.values()))

  def _fit(self, examples: Iterable[Example]) -> None:
    stats, texts = [], []
    for example in examples:
      if self.use_audio:
        stats.append(np.asarray(example["audio_stats"], np.float64))
      if self.use_text:
        texts.append(text_lib.seed003_normalize(as_str(example["text"])))
    if self.use_audio:
      if not stats:
        raise ValueError("No examples to fit the MinMax scaler on.")
      stats = np.stack(stats)
      self.minimum, self.maximum = stats.min(axis=0), stats.max(axis=0)
    if self.use_text:
      self.vectorizer = text_lib.fit_tfidf(texts, **self.tfidf_overrides)

  @property
  def num_features(self) -> int:
    text = len(self.vectorizer.vocabulary_) if self.use_text else 0
    return (stats_lib.NUM_STATS if self.use_audio else 0) + text

  def state_dict(self) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if self.minimum is not None:
      state.update(minimum=self.minimum, maximum=self.maximum)
    if self.vectorizer is not None:
      state["tfidf"] = text_lib.tfidf_state(self.vectorizer)
    return state

  def load_state_dict(self, state: Mapping[str, Any]) -> None:
    if "minimum" in state:
      self.minimum, self.maximum = np.asarray(state["minimum"]), np.asarray(state["maximum"])
    if "tfidf" in state:
      self.vectorizer = text_lib.tfidf_from_state(state["tfidf"])

  def min_max(self, stats: np.ndarray) -> np.ndarray:
    """sklearn MinMaxScaler((0, 1)): a constant feature keeps scale 1 (x - min)."""
    span = self.maximum - self.minimum
    return (np.asarray(stats, np.float64) - self.minimum) / np.where(span > 0, span, 1.0)

  def __call__(self, example: Example) -> dict[str, np.ndarray]:
    if (self.use_audio and self.minimum is None) or (self.use_text and self.vectorizer is None):
      raise RuntimeError("Seed003Input: fit on the train split (or load its state) first.")
    parts = []
    if self.use_audio:
      parts.append(self.min_max(example["audio_stats"]))
    if self.use_text:
      text = text_lib.seed003_normalize(as_str(example["text"]))
      parts.append(text_lib.tfidf_transform(self.vectorizer, [text])[0])
    return {"features": np.concatenate(parts).astype(np.float32),
            "label": self.scheme.target(example["label"]), **iemocap_meta(example)}


def oversample_indices(codes: Sequence[str], factors: Mapping[str, int] = SEED003_OVERSAMPLING) -> np.ndarray:
  """Row indices with every row of code c repeated factors[c] times in total (others once).

  Copies are appended after the original rows, class by class in `factors` order, as the seed's
  `df.append` loop does.
  """
  codes = [label_schemes.raw_code(c) for c in codes]
  indices = list(range(len(codes)))
  for code, factor in factors.items():
    rows = [i for i, c in enumerate(codes) if c == code]
    indices += rows * (int(factor) - 1)
  return np.asarray(indices, np.int64)


def random_split_indices(n: int, fractions: Mapping[str, float], seed: int) -> dict[str, np.ndarray]:
  """A seeded random partition of range(n) by fractions (the last split takes the remainder)."""
  order = np.random.default_rng(seed).permutation(n)
  names = list(fractions)
  bounds = np.cumsum([int(round(fractions[name] * n)) for name in names[:-1]])
  return {name: np.sort(part) for name, part in zip(names, np.split(order, bounds))}


@registry.PREPROCESSORS.register("seed003_resnet1d")
def make(cfg: ConfigDict) -> Seed003Input:
  tfidf = cfg.get("tfidf", None)
  tfidf = tfidf.to_dict() if isinstance(tfidf, ConfigDict) else dict(tfidf or {})
  if "ngram_range" in tfidf:  # configs store lists; sklearn wants a tuple
    tfidf["ngram_range"] = tuple(tfidf["ngram_range"])
  return Seed003Input(label_scheme=cfg.get("label_scheme", "seed003_6class"),
                      use_audio=bool(cfg.get("use_audio", True)), use_text=bool(cfg.get("use_text", True)),
                      tfidf=tfidf,
                      fit_scope=cfg.get("fit_scope", "train"))
