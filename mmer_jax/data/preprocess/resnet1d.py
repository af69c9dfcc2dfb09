"""Seed 003 inputs (ResNet1D): 276 audio statistics ++ TF-IDF of the transcript, IEMOCAP 6-class.

Per utterance: `features` = concat(MinMax-scaled `audio_stats` (276), TF-IDF of the normalised
transcript (vocabulary size V)) as float32 (276 + V,); V = 2464 on the seed's data, so the model sees
a 2740-long 1-channel signal. `label` is the `seed003_6class` index (ang, hap+exc, sad+fru, fea,
sur, neu); `meta/*` as for the other IEMOCAP inputs.

The MinMax scaler and the TF-IDF vocabulary/idf are fitted in `fit`, which the pipeline calls on
the TRAIN split only (extra generated training sources included: they are part of train). The
seed's leaks are pipeline options (see configs/resnet1d_iemocap.py): `input.fit_on_all_splits`
(scaler and TF-IDF see the test rows) and `input.random_split` with `oversample` and
`oversample_before_split` (fear x31 and surprise x11 copies before the random 80/20 split, so copies
of one utterance land in train and test).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Iterable, Mapping

import numpy as np

from mmer_jax import registry
from mmer_jax.data import label_schemes
from mmer_jax.data.preprocess.base import Example, Preprocessor, as_str
from mmer_jax.data.preprocess.multifocus import iemocap_meta
from mmer_jax.data.preprocess.options import dataset_family
from mmer_jax.features import audio_stats as stats_lib
from mmer_jax.features import text as text_lib


class Seed003Input(Preprocessor):

  def __init__(self, label_scheme: str, use_audio: bool, use_text: bool, tfidf: Mapping[str, Any],
               manifest_label: Optional[str] = None):
    if not (use_audio or use_text):
      raise ValueError("Seed003Input needs use_audio and/or use_text.")
    # A manifest dataset's label column (its stored value is the target), else an IEMOCAP scheme.
    self.scheme = (label_schemes.scheme_for(label_schemes.MANIFEST, manifest_label) if manifest_label is not None
                   else label_schemes.get_scheme(label_scheme))
    self.label_field = getattr(self.scheme, "field", "label")
    self.use_audio, self.use_text = use_audio, use_text
    self.tfidf_overrides = dict(tfidf)
    self.minimum = self.maximum = self.vectorizer = None

  def keep(self, example: Example) -> bool:
    return self.scheme.target(example[self.label_field]) is not None

  def label(self, example: Example) -> np.ndarray:
    """The target alone; needs no fitted statistics (e.g. to oversample classes before `fit`)."""
    return self.scheme.target(example[self.label_field])

  def inputs(self) -> tuple[str, ...]:
    """The stored features this preprocessor reads (mmer_jax/data/manifest_task.py checks a build has them)."""
    return (("audio_stats",) if self.use_audio else ()) + (("text",) if self.use_text else ())

  def needs_fit(self) -> bool:
    return True

  def fit(self, examples: Iterable[Example]) -> None:
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
            "label": self.label(example), **iemocap_meta(example)}


@dataclasses.dataclass(frozen=True)
class Seed003Options:
  label_scheme: str = "seed003_6class"
  use_audio: bool = True
  use_text: bool = True
  tfidf: Optional[dict] = None  # TfidfVectorizer arguments over the seed's defaults
  manifest_label: Optional[str] = None  # a manifest dataset's label column key (input.manifest.label)

  @staticmethod
  def derive(config) -> dict:
    if dataset_family(config.input.tfds_name) == label_schemes.MANIFEST:
      return {"manifest_label": config.input.manifest.label}
    return {}


@registry.PREPROCESSORS.register("seed003_resnet1d")
def make(options: Seed003Options) -> Seed003Input:
  return Seed003Input(label_scheme=options.label_scheme, use_audio=options.use_audio, use_text=options.use_text,
                      tfidf=dict(options.tfidf or {}),  # lists arrive as tuples, as sklearn wants
                      manifest_label=options.manifest_label)
