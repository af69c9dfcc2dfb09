"""Inputs of MME2E's late-fusion baselines (LF_RNN, LF_TRANSFORMER) on CMU-MOSEI or IEMOCAP features.

Per example, for each configured modality: a (max_len, d) float32 sequence zero-padded at the end
and its `<modality>_mask`:

| modality | `dataset="cmu_mosei"` (csd_unaligned) | `dataset="iemocap"` |
|---|---|---|
| text | `glove` (T, 300) | `text_tokens` (L, 768) + `text_tokens_mask` (frozen BERT) |
| audio | `covarep` (T, 74) | `compare_lld` (T, 65) |
| vision | `facet` (T, 35) | (none) |

Non-finite values (COVAREP has -inf) become 0. With `normalize=True` (default) audio and vision are
z-normalised per feature with TRAIN-split statistics; upstream's hand-crafted feature files do not
say how they were scaled, and raw COVAREP magnitudes saturate an LSTM.

Labels (multi-label, float32, for sigmoid BCE as upstream):
- MOSEI: MME2E's 6 emotions [anger, disgust, fear, happy, sad, surprise], present iff the averaged
  annotation is > 0 (upstream: sum of annotator answers > 0, the same set).
- IEMOCAP: a label scheme (default `mme2e_6class`, one-hot over ang, exc, fru, hap, neu, sad).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
from ml_collections import ConfigDict

from mmer_jax import registry
from mmer_jax.data import label_schemes
from mmer_jax.data.preprocess.base import Example, Preprocessor, as_str, pad_or_truncate
from mmer_jax.data.preprocess.multifocus import FeatureStandardizer, iemocap_meta
from mmer_jax.data.preprocess.options import dataset_family
from mmer_jax.datasets import cmu_mosei

FEATURES = {
    "cmu_mosei": {"text": "glove", "audio": "covarep", "vision": "facet"},
    "iemocap": {"text": "text_tokens", "audio": "compare_lld"},
}
NORMALIZED = ("audio", "vision")


def mosei_emotion_targets(labels: np.ndarray) -> np.ndarray:
  labels = np.asarray(labels, np.float32).reshape(-1)
  return np.asarray(labels[list(cmu_mosei.EMOTION_COLUMNS)] > 0, np.float32)  # in cmu_mosei.EMOTIONS order


class LateFusionInput(Preprocessor):

  def __init__(self, dataset: str, modalities: Sequence[str], max_lengths: Mapping[str, int],
               normalize: bool, label_scheme: str):
    if dataset not in FEATURES:
      raise ValueError(f"input.preprocess.dataset={dataset!r}; use one of {sorted(FEATURES)}.")
    unknown = sorted(set(modalities) - set(FEATURES[dataset]))
    if unknown or not modalities:
      raise ValueError(f"input.preprocess.modalities={list(modalities)}: {dataset} offers {sorted(FEATURES[dataset])}.")
    missing = sorted(set(modalities) - set(max_lengths))
    if missing:
      raise ValueError(f"input.preprocess.max_lengths lacks {missing}.")
    self.dataset, self.modalities = dataset, tuple(modalities)
    self.max_lengths = {m: int(max_lengths[m]) for m in self.modalities}
    self.normalize = normalize
    self.scheme = label_schemes.get_scheme(label_scheme) if dataset == "iemocap" else None
    self.stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}

  def _sequence(self, example: Example, modality: str) -> np.ndarray:
    return np.nan_to_num(np.asarray(example[FEATURES[self.dataset][modality]], np.float32),
                         nan=0.0, posinf=0.0, neginf=0.0)

  def keep(self, example: Example) -> bool:
    return self.scheme is None or self.scheme(example["label"]) is not None

  def label(self, example: Example) -> np.ndarray:
    """The multi-hot (MOSEI) or scheme target; needs no fitted statistics."""
    if self.dataset == "cmu_mosei":
      return mosei_emotion_targets(example["labels"])
    target = self.scheme.target(example["label"])
    return np.asarray(target, np.float32) if self.scheme.multi_label else target

  def needs_fit(self) -> bool:
    return self.normalize and any(m in NORMALIZED for m in self.modalities)

  def fit(self, examples: Iterable[Example]) -> None:
    standardizers = {m: FeatureStandardizer() for m in self.modalities if m in NORMALIZED}
    for example in examples:
      for modality, standardizer in standardizers.items():
        standardizer.update(self._sequence(example, modality))
    self.stats = {m: s.finish() for m, s in standardizers.items()}

  def state_dict(self) -> dict[str, Any]:
    return {m: {"mean": mean, "std": std} for m, (mean, std) in self.stats.items()}

  def load_state_dict(self, state: Mapping[str, Any]) -> None:
    self.stats = {m: (np.asarray(s["mean"], np.float32), np.asarray(s["std"], np.float32))
                  for m, s in state.items()}

  def __call__(self, example: Example) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for modality in self.modalities:
      x = self._sequence(example, modality)
      if self.needs_fit() and modality in NORMALIZED:
        if modality not in self.stats:
          raise RuntimeError("LateFusionInput: fit on the train split (or load its state) first.")
        mean, std = self.stats[modality]
        x = (x - mean) / std
      out[modality], mask = pad_or_truncate(x, self.max_lengths[modality])
      if modality == "text" and self.dataset == "iemocap":
        mask &= pad_or_truncate(np.asarray(example["text_tokens_mask"], bool), self.max_lengths["text"])[0]
      out[f"{modality}_mask"] = mask
    out["label"] = self.label(example)
    if self.dataset == "cmu_mosei":
      out["meta/id"] = np.asarray(as_str(example["id"]))
    else:
      out.update(iemocap_meta(example))
    return out


@dataclasses.dataclass(frozen=True)
class LateFusionOptions:
  dataset: str = "cmu_mosei"
  modalities: Optional[tuple] = None       # default: every modality the dataset has
  max_lengths: Optional[dict] = None       # per modality; the dataset's defaults fill the rest
  normalize: bool = True
  label_scheme: str = "mme2e_6class"

  @staticmethod
  def derive(config: ConfigDict) -> dict:
    derived = {}
    if "modalities" in config.model and config.model.modalities:  # else the dataset's (below)
      derived["modalities"] = tuple(config.model.modalities)
    family = dataset_family(config.input.tfds_name)
    if family in FEATURES:
      derived["dataset"] = family
    return derived


@registry.PREPROCESSORS.register("late_fusion")
def make(options: LateFusionOptions) -> LateFusionInput:
  dataset = options.dataset
  defaults = {"cmu_mosei": {"text": 50, "audio": 500, "vision": 150},
              "iemocap": {"text": 128, "audio": 1000}}[dataset] if dataset in FEATURES else {}
  return LateFusionInput(dataset=dataset, modalities=tuple(options.modalities or FEATURES.get(dataset, {})),
                         max_lengths=dict(defaults, **(options.max_lengths or {})), normalize=options.normalize,
                         label_scheme=options.label_scheme)
