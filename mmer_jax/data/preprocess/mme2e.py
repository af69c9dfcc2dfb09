"""MME2E / MESM inputs (seed 000): faces, mel pieces and text per utterance, fixed shapes + masks.

- faces: raw uint8 RGB crops (F, 48, 48, 3) -> SAMSEMO's per-channel normalisation
  (mean 159,111,102 / std 37,33,32) -> padded/truncated to `max_faces` (16); the mask comes from
  `num_faces` (the count BEFORE truncation, which the original clips to 16) and the stored rows;
- audio: mel pieces (P, 128, 32), raw power (no log, as in the originals) -> `max_pieces` (32),
  mask from `num_mel_pieces`;
- text: the builder's frozen features: `cls` (SAMSEMO's CLS vector, `text_cls`), `pooled`
  (`text_pooled`: pooled as the checkpoint was trained, mean for sentence-transformers folders,
  else CLS) or `tokens` (token states; the model takes token 0); or `ids`: the transcript tokenised
  for an in-model encoder (upstream ALBERT, `text_max_length` 100, padded to it like the original;
  None = min(128, the checkpoint's limit));
- label by dataset: SAMSEMO `labels` multi-hot (5,); CMU-MOSEI `emotions` (6,) binarised
  `> 0` like MME2E; IEMOCAP `label` raw code -> MME2E's 6-class one-hot (other codes dropped).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
from ml_collections import ConfigDict

from mmer_jax import checkpoint_folder, registry
from mmer_jax.data import label_schemes
from mmer_jax.data.length_buckets import LengthGroup
from mmer_jax.data.preprocess.base import (Example, Preprocessor, adopt_options, as_str, meta_fields,
                                           pad_or_truncate)
from mmer_jax.data.preprocess.options import dataset_family, model_field
from mmer_jax.data.preprocess.text_classifier import DEFAULT_MAX_LENGTH
from mmer_jax.data.preprocess.text_tokens import TextTokens
from mmer_jax.errors import ConfigError, DataError
from mmer_jax.features.video import normalize_faces

LABEL_SOURCES = ("samsemo", "cmu_mosei", "iemocap", "manifest")  # the dataset the labels come from
TEXT_INPUTS = ("cls", "pooled", "tokens", "ids")


def items_with_mask(items: np.ndarray, count: int, length: int) -> tuple[np.ndarray, np.ndarray]:
  """Pads/truncates (N, ...) to `length`; valid = first min(count, N, length) rows."""
  out, mask = pad_or_truncate(np.asarray(items), length)
  mask &= np.arange(length) < min(int(count), length)
  return out, mask


@dataclasses.dataclass(frozen=True)
class Mme2eOptions:
  modalities: str = "tav"
  max_faces: int = 16
  max_pieces: int = 32
  text_input: str = "cls"          # one of TEXT_INPUTS
  text_max_length: Optional[int] = None  # for text_input="ids"; None: from the checkpoint
  tokenizer: Optional[str] = None  # the encoder's checkpoint folder (config.text.checkpoint), for "ids"
  label_source: str = "samsemo"    # one of LABEL_SOURCES
  meta_keys: tuple = ("id",)
  manifest_label: Optional[str] = None  # label_source="manifest": the label column's key (input.manifest.label)

  @staticmethod
  def derive(config: ConfigDict) -> dict:
    derived = {"modalities": model_field(config, "modalities")}
    family = dataset_family(config.input.tfds_name)
    if family in LABEL_SOURCES:
      derived["label_source"] = family
    if family == "manifest":
      derived["manifest_label"] = config.input.manifest.label
    return derived


class Mme2ePreprocessor(Preprocessor):

  def __init__(self, options: Mme2eOptions):
    adopt_options(self, options)  # `tokenizer`: the checkpoint folder
    if self.label_source not in LABEL_SOURCES:
      raise ValueError(f"preprocess.label_source={self.label_source!r}; known: {', '.join(LABEL_SOURCES)}.")
    if self.text_input not in TEXT_INPUTS:
      raise ValueError(f"preprocess.text_input={self.text_input!r}; known: {', '.join(TEXT_INPUTS)}.")
    if "t" in self.modalities and self.text_input == "ids" and not self.tokenizer:
      raise ConfigError("preprocess.text_input='ids' needs preprocess.tokenizer: set config.text.checkpoint "
                       "(a local BERT-family folder).")
    if self.text_input == "ids" and self.tokenizer and not self.text_max_length:
      self.text_max_length = min(DEFAULT_MAX_LENGTH, checkpoint_folder.max_length(self.tokenizer))
    self._scheme = label_schemes.get_scheme("mme2e_6class") if self.label_source == "iemocap" else None
    self._manifest = (label_schemes.scheme_for("manifest", options.manifest_label)
                      if self.label_source == "manifest" else None)
    self._tokens = TextTokens(self.tokenizer, self.text_max_length)

  def keep(self, example: Example) -> bool:
    return self._scheme is None or self._scheme(example["label"]) is not None

  def inputs(self) -> tuple[str, ...]:
    """The stored features this preprocessor reads (mmer_jax/data/manifest_task.py checks a build has them)."""
    text = ("text",) if self.text_input == "ids" else (f"text_{self.text_input}",)
    return ((text if "t" in self.modalities else ()) + (("faces", "num_faces") if "v" in self.modalities else ())
            + (("mel_pieces", "num_mel_pieces") if "a" in self.modalities else ()))

  def _label(self, example: Example) -> np.ndarray:
    if self.label_source == "samsemo":
      return np.asarray(example["labels"], np.float32)
    if self._manifest is not None:
      return self._manifest.target(example[self._manifest.field])
    if self.label_source == "cmu_mosei":  # MME2E binarises the summed annotator scores
      return (np.asarray(example["emotions"]) > 0).astype(np.float32)
    return self._scheme.target(example["label"])

  def _text(self, example: Example) -> dict[str, np.ndarray]:
    if self.text_input in ("cls", "pooled", "tokens") and f"text_{self.text_input}" not in example:
      raise DataError(f"The dataset has no frozen text features (text_{self.text_input}): build it with "
                      "--option text_checkpoint=<folder> and train on the name the build prints, or fine-tune "
                      "the encoder on the transcripts instead (config argument text=finetune).")
    if self.text_input in ("cls", "pooled"):
      return {"text": np.asarray(example[f"text_{self.text_input}"], np.float32)}
    if self.text_input == "tokens":
      return {"text": np.asarray(example["text_tokens"], np.float32),
              "text_mask": np.asarray(example["text_tokens_mask"], bool)}
    ids, mask = self._tokens(as_str(example["text"]))
    return {"text": ids, "text_mask": mask}

  def length_groups(self) -> dict[str, LengthGroup]:
    """Token ids (text_input="ids") vary in length; faces and mel pieces are packed instead
    (`input.pack_items`), and frozen text features have fixed widths."""
    if "t" in self.modalities and self.text_input == "ids":
      return {"text": LengthGroup(int(self.text_max_length))}
    return {}

  def lengths(self, example: Example) -> dict[str, int]:
    if not self.length_groups():
      return {}
    return {"text": int(self._text(example)["text_mask"].sum())}

  def __call__(self, example: Example) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {"label": self._label(example)}
    if "t" in self.modalities:
      out.update(self._text(example))
    if "v" in self.modalities:
      faces = normalize_faces(example["faces"]) if len(example["faces"]) else np.zeros((0, 48, 48, 3), np.float32)
      out["vision"], out["vision_mask"] = items_with_mask(faces, example["num_faces"], self.max_faces)
    if "a" in self.modalities:
      pieces = np.asarray(example["mel_pieces"], np.float32)
      out["audio"], out["audio_mask"] = items_with_mask(pieces, example["num_mel_pieces"], self.max_pieces)
    out.update(meta_fields(example, self.meta_keys))
    return out


@registry.PREPROCESSORS.register("mme2e")
def make(options: Mme2eOptions) -> Mme2ePreprocessor:
  return Mme2ePreprocessor(options)
