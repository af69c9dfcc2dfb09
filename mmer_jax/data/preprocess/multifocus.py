"""Seed 002 inputs (Multi-Focus BLSTM): ComParE LLD frames and frozen BERT token states, IEMOCAP.

Per utterance:
- `audio` (max_audio_frames, 65): the 65 ComParE_2016 LLDs per 10 ms frame, z-normalised per feature
  with the mean and standard deviation of every frame of the TRAIN split (`fit`), as the seed does;
  zero-padded at the end, `audio_mask` marks real frames. Utterances longer than `max_audio_frames`
  keep their first frames (the seed padded each batch to its longest utterance instead; raise the
  limit to cover every utterance at the cost of more padding).
- `text` (max_text_tokens, 768) and `text_mask`: the builder's frozen BERT token states, including
  the [CLS]/[SEP] positions (the "CLS Block" pools position 0).
- `label`: the label scheme's index (`iemocap_4class`: ang, hap+exc, neu, sad).
- `meta/id`, `meta/session`, `meta/gender` for sliced evaluation.

`keep` drops utterances outside the label scheme and, with `drop_noise_only` (seed default), the
transcripts that are only `<s> ++GARBAGE++ </s>` or `<s> ++BREATHING++ </s>` (10 utterances).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from mmer_jax import registry
from mmer_jax.data import label_schemes
from mmer_jax.data.length_buckets import LengthGroup
from mmer_jax.data.preprocess.base import Example, Preprocessor, as_str, pad_or_truncate
from mmer_jax.features import text as text_lib

MODALITIES = ("audio", "text")


def iemocap_meta(example: Example) -> dict[str, np.ndarray]:
  """Host-only metadata shared by the IEMOCAP preprocessors.

  Every key is always present (batches need uniform keys): examples from extra training sources
  that have no session or speaker get session -1 and gender "".
  """
  return {"meta/id": np.asarray(as_str(example["id"])),
          "meta/session": np.asarray(int(example.get("session", -1)), np.int32),
          "meta/gender": np.asarray(as_str(example.get("gender", "")))}


class FeatureStandardizer:
  """Per-feature mean/std over all frames seen in `update` (streamed in float64)."""

  def __init__(self):
    self.count, self.total, self.total_sq = 0, None, None

  def update(self, frames: np.ndarray) -> None:
    frames = np.asarray(frames, np.float64)
    if self.total is None:
      self.total, self.total_sq = np.zeros(frames.shape[-1]), np.zeros(frames.shape[-1])
    self.count += frames.shape[0]
    self.total += frames.sum(axis=0)
    self.total_sq += np.square(frames).sum(axis=0)

  def finish(self) -> tuple[np.ndarray, np.ndarray]:
    if not self.count:
      raise ValueError("No frames to fit the normaliser on: the train split is empty after `keep`.")
    mean = self.total / self.count
    # Population std; with millions of frames the N-1 correction is immaterial. A constant feature
    # gets std 1 so it maps to 0 instead of NaN.
    std = np.sqrt(np.maximum(self.total_sq / self.count - mean * mean, 0.0))
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


class MultiFocusInput(Preprocessor):

  def __init__(self, label_scheme: str, modalities: Sequence[str], max_audio_frames: int,
               max_text_tokens: int, normalize_audio: bool, drop_noise_only: bool):
    unknown = sorted(set(modalities) - set(MODALITIES))
    if unknown or not modalities:
      raise ValueError(f"input.preprocess.modalities={list(modalities)}; use a subset of {MODALITIES}.")
    self.scheme = label_schemes.get_scheme(label_scheme)
    self.modalities = tuple(modalities)
    self.max_audio_frames, self.max_text_tokens = max_audio_frames, max_text_tokens
    self.normalize_audio, self.drop_noise_only = normalize_audio, drop_noise_only
    self.mean = self.std = None

  def keep(self, example: Example) -> bool:
    if self.scheme(example["label"]) is None:
      return False
    if self.drop_noise_only and "words" in example:
      return not text_lib.is_seed002_noise_only([as_str(w) for w in example["words"]])
    return True

  def label(self, example: Example) -> np.ndarray:
    """The target alone; needs no fitted statistics (e.g. to oversample classes before `fit`)."""
    return self.scheme.target(example["label"])

  def length_groups(self) -> dict[str, LengthGroup]:
    """LLD frames (the longer sequence, first) and word-piece states, at most their maxima."""
    caps = {"audio": self.max_audio_frames, "text": self.max_text_tokens}
    return {m: LengthGroup(caps[m]) for m in MODALITIES if m in self.modalities}

  def lengths(self, example: Example) -> dict[str, int]:
    out = {}
    if "audio" in self.modalities:
      out["audio"] = min(len(example["compare_lld"]), self.max_audio_frames)
    if "text" in self.modalities:
      out["text"] = min(int(np.asarray(example["text_tokens_mask"], bool).sum()), self.max_text_tokens)
    return out

  def needs_fit(self) -> bool:
    return self.normalize_audio and "audio" in self.modalities

  def fit(self, examples: Iterable[Example]) -> None:
    stats = FeatureStandardizer()
    for example in examples:
      stats.update(example["compare_lld"])
    self.mean, self.std = stats.finish()

  def state_dict(self) -> dict[str, Any]:
    return {} if self.mean is None else {"mean": self.mean, "std": self.std}

  def load_state_dict(self, state: Mapping[str, Any]) -> None:
    if state:
      self.mean, self.std = np.asarray(state["mean"], np.float32), np.asarray(state["std"], np.float32)

  def __call__(self, example: Example) -> dict[str, np.ndarray]:
    out = {"label": self.label(example), **iemocap_meta(example)}
    if "audio" in self.modalities:
      frames = np.asarray(example["compare_lld"], np.float32)
      if self.needs_fit():
        if self.mean is None:
          raise RuntimeError("MultiFocusInput: call fit() on the train split (or load its state) first.")
        frames = (frames - self.mean) / self.std
      out["audio"], out["audio_mask"] = pad_or_truncate(frames, self.max_audio_frames)
    if "text" in self.modalities:
      tokens = np.asarray(example["text_tokens"], np.float32)
      mask = np.asarray(example["text_tokens_mask"], bool)
      tokens, mask_pad = pad_or_truncate(tokens, self.max_text_tokens)
      out["text"], out["text_mask"] = tokens, pad_or_truncate(mask, self.max_text_tokens)[0] & mask_pad
    return out


@dataclasses.dataclass(frozen=True)
class MultiFocusOptions:
  label_scheme: str = "iemocap_4class"
  modalities: tuple = MODALITIES
  max_audio_frames: int = 1000
  max_text_tokens: int = 128
  normalize_audio: bool = True
  drop_noise_only: bool = True


@registry.PREPROCESSORS.register("multifocus")
def make(options: MultiFocusOptions) -> MultiFocusInput:
  return MultiFocusInput(**dataclasses.asdict(options))
