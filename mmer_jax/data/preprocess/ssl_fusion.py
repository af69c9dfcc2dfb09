"""Seed 004 inputs (IEMOCAP): BERT ids, raw 16 kHz waveform, MoCap chunk means, 4-class label.

- label: raw code -> `seed004_4class` (neu 0, ang 1, exc 2, sad 3; exc is not merged with hap);
  other codes are dropped by `keep`;
- audio: zero-padded at the end to `audio_len` (the seed's 246,000 samples) with a mask of the
  real samples. The seed DROPS utterances longer than 246,000 samples (57 of 4,936) from every
  modality: `drop_long_audio=True` (default) does the same with `drop_above` samples. A shorter
  bucket (`audio_len`, e.g. 96,000) is far cheaper; utterances between the bucket and
  `drop_above` are truncated to the bucket;
- text: the transcript tokenised with the BERT folder's tokenizer, `[CLS] ... [SEP]`, zero-padded
  to `text_max_length` (88 in the seed's fusion notebooks);
- MoCap: concat(head, hand, rotated) -> (200, 189) as the seed, NaN -> 0. IEMOCAP's files hold
  head 6 / hand 18 values, but the seed's notebooks expect head (200, 18) and hand (200, 6) and
  replace any stream of another shape by zeros, so in the seed the first 24 columns are always 0
  and only the rotated markers carry information. Clean (default): the real head and hand values
  (6 + 18 columns, same total width). `mocap_seed_shapes=True` (faithful) reproduces the zeroing.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
from ml_collections import ConfigDict

from mmer_jax import registry
from mmer_jax.data import label_schemes
from mmer_jax.data.length_buckets import LengthGroup
from mmer_jax.data.preprocess.base import (Example, Preprocessor, adopt_options, as_str, meta_fields,
                                           pad_or_truncate)
from mmer_jax.data.preprocess.options import dataset_family, model_field
from mmer_jax.data.preprocess.text_tokens import TextTokens

SEED_AUDIO_MAXLEN = 246_000
AUDIO_BUCKET_MULTIPLE = 1600  # waveform buckets in 0.1 s steps (16 kHz): 5 wav2vec2 frames each
MOCAP_ORDER = ("mocap_head", "mocap_hand", "mocap_rot")  # the seed's concatenation order
# The shapes seed 004's notebooks check for (head and hand swapped with respect to the files).
SEED_MOCAP_SHAPES = {"mocap_head": (200, 18), "mocap_hand": (200, 6), "mocap_rot": (200, 165)}


def seed_mocap_streams(example: Example) -> list[np.ndarray]:
  """The streams as seed 004 uses them: a stream whose shape differs from SEED_MOCAP_SHAPES is
  replaced by zeros of the expected shape (`if x.shape != (200, 18): x = np.zeros((200, 18))`)."""
  streams = []
  for key in MOCAP_ORDER:
    values = np.asarray(example[key], np.float32)
    streams.append(values if values.shape == SEED_MOCAP_SHAPES[key] else np.zeros(SEED_MOCAP_SHAPES[key], np.float32))
  return streams


@dataclasses.dataclass(frozen=True)
class SslFusionOptions:
  modalities: str = "tsm"
  audio_len: int = SEED_AUDIO_MAXLEN
  drop_long_audio: bool = True
  drop_above: int = SEED_AUDIO_MAXLEN
  text_max_length: int = 88
  tokenizer: Optional[str] = None  # the BERT checkpoint folder, needed for modality 't'
  meta_keys: tuple = ("id",)
  mocap_seed_shapes: bool = False
  # The waveform may be padded to length buckets only when the model pools frames by mask
  # (model.speech_pool="masked_mean"); its flatten head needs every utterance at `audio_len`.
  bucket_audio: bool = False
  manifest_label: Optional[str] = None  # a manifest dataset's label column key (input.manifest.label)

  @staticmethod
  def derive(config: ConfigDict) -> dict:
    derived = {"modalities": model_field(config, "modalities")}
    derived["bucket_audio"] = model_field(config, "speech_pool") == "masked_mean"
    if dataset_family(config.input.tfds_name) == label_schemes.MANIFEST:
      derived["manifest_label"] = config.input.manifest.label
    return derived


class SslFusionPreprocessor(Preprocessor):

  def __init__(self, options: SslFusionOptions):
    adopt_options(self, options)  # `tokenizer`: the BERT checkpoint folder
    self.scheme = label_schemes.get_scheme("seed004_4class")
    self.manifest = (label_schemes.scheme_for(label_schemes.MANIFEST, options.manifest_label)
                     if options.manifest_label is not None else None)
    if "t" in self.modalities and not self.tokenizer:
      raise ValueError("preprocess.tokenizer (the BERT checkpoint folder) is needed for modality 't'.")
    self._tokens = TextTokens(self.tokenizer, self.text_max_length)

  def keep(self, example: Example) -> bool:
    if self.manifest is None and self.scheme(example["label"]) is None:
      return False
    # The seed drops long utterances from all modalities (so the rows stay aligned), even when
    # speech is not used; keep that so every table row sees the same 4,879 utterances.
    return not (self.drop_long_audio and "waveform" in example and len(example["waveform"]) > self.drop_above)

  def inputs(self) -> tuple[str, ...]:
    """The stored features this preprocessor reads (mmer_jax/data/manifest_task.py checks a build has them)."""
    return ((("text",) if "t" in self.modalities else ()) + (("waveform",) if "s" in self.modalities else ())
            + (MOCAP_ORDER if "m" in self.modalities else ()))

  def length_groups(self) -> dict[str, LengthGroup]:
    """The waveform when the model pools its frames by mask (`bucket_audio`; a flatten head needs
    the full length), and the token ids; the waveform first, as it dominates the step."""
    groups = {}
    if "s" in self.modalities and self.bucket_audio:
      groups["audio"] = LengthGroup(self.audio_len, AUDIO_BUCKET_MULTIPLE)
    if "t" in self.modalities:
      groups["text"] = LengthGroup(self.text_max_length)
    return groups

  def lengths(self, example: Example) -> dict[str, int]:
    groups, out = self.length_groups(), {}
    if "audio" in groups:
      out["audio"] = min(len(example["waveform"]), self.audio_len)
    if "text" in groups:
      out["text"] = int(self._tokens(as_str(example["text"]))[1].sum())
    return out

  def __call__(self, example: Example) -> dict[str, np.ndarray]:
    out = {"label": self.manifest.target(example[self.manifest.field]) if self.manifest is not None
           else self.scheme.target(example["label"])}
    if "t" in self.modalities:
      out["text"], out["text_mask"] = self._tokens(as_str(example["text"]))
    if "s" in self.modalities:
      out["audio"], out["audio_mask"] = pad_or_truncate(np.asarray(example["waveform"], np.float32), self.audio_len)
    if "m" in self.modalities:
      streams = (seed_mocap_streams(example) if self.mocap_seed_shapes
                 else [np.asarray(example[k], np.float32) for k in MOCAP_ORDER])
      mocap = np.concatenate(streams, axis=-1)
      out["mocap"] = np.nan_to_num(mocap, nan=0.0)
    out.update(meta_fields(example, self.meta_keys))
    return out


@registry.PREPROCESSORS.register("ssl_fusion")
def make(options: SslFusionOptions) -> SslFusionPreprocessor:
  return SslFusionPreprocessor(options)
