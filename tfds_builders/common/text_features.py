"""Frozen text-encoder features as the builders store them: the feature spec and the per-worker encoder.

Every builder with a `text_checkpoint` option stores the same four features: `text_cls` (H,) the
first token's state, `text_pooled` (H,) the sentence vector pooled as the checkpoint was trained
(`text_pooling` overrides: cls | mean), `text_tokens` (L, H) and `text_tokens_mask` (L,). The
encoder is loaded in a Beam worker's set-up, once per worker, and encodes a unit's texts in batches.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow_datasets as tfds

from mmer_jax import checkpoint_folder
from mmer_jax.features import pooling as pooling_lib
from mmer_jax.features import text as text_lib
from mmer_jax.features import text_encoder as text_encoder_lib

BATCH_SIZE = 16
FEATURE_NAMES = ("text_cls", "text_pooled", "text_tokens", "text_tokens_mask")


def feature_spec(checkpoint: str, max_length: int) -> dict[str, tfds.features.Tensor]:
  """The TFDS features of a checkpoint's states; reads only `config.json` (fast, for `_info`)."""
  f = tfds.features
  hidden = checkpoint_folder.hidden_size(checkpoint)
  return {
      "text_cls": f.Tensor(shape=(hidden,), dtype=np.float32),
      "text_pooled": f.Tensor(shape=(hidden,), dtype=np.float32),
      "text_tokens": f.Tensor(shape=(max_length, hidden), dtype=np.float32),
      "text_tokens_mask": f.Tensor(shape=(max_length,), dtype=np.bool_),
  }


def check_pooling(pooling: str | None) -> list[str]:
  """Problems with a `text_pooling` option (None = the checkpoint's own)."""
  if pooling in (None, "", "auto") or pooling in pooling_lib.POOLINGS:
    return []
  return [f"text_pooling must be one of {pooling_lib.POOLINGS} or auto, got {pooling!r}"]


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
  """Everything a worker needs to load the encoder (small and picklable; the weights are not)."""
  checkpoint: str
  max_length: int
  pooling: str | None = None
  tokenizer: str | None = None                 # another folder's tokenizer (SAMSEMO's faithful bug)
  extra_special_tokens: tuple[str, ...] = ()   # seed 002's added tokens (texts carry [CLS]/[SEP])
  batch_size: int = BATCH_SIZE

  def load(self) -> "Encoder":
    return Encoder(self)


class Encoder:
  """The frozen encoder of one worker process."""

  def __init__(self, spec: EncoderSpec):
    pooling = None if spec.pooling in (None, "", "auto") else spec.pooling
    config = text_encoder_lib.TextEncoderConfig(
        checkpoint=str(Path(spec.checkpoint).expanduser()), max_length=spec.max_length,
        batch_size=spec.batch_size, extra_special_tokens=tuple(spec.extra_special_tokens),
        add_special_tokens=not spec.extra_special_tokens, pooling=pooling)
    self._encoder = text_encoder_lib.FrozenTextEncoder(config)
    if spec.tokenizer:
      swapped = text_lib.load_tokenizer(str(Path(spec.tokenizer).expanduser()))
      vocab = int(self._encoder.model.config.vocab_size)
      if len(swapped) > vocab:
        # An English vocabulary on a multilingual model keeps ids in range (SAMSEMO's bug: the
        # meanings differ); ids past the embedding table would be an error, not a reproduction.
        raise ValueError(f"text_tokenizer {spec.tokenizer!r} has {len(swapped)} tokens; the encoder's "
                         f"vocabulary has only {vocab}.")
      self._encoder.tokenizer = swapped

  def encode(self, texts: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """One dict of the four features per text, computed `batch_size` texts at a time."""
    out = self._encoder.encode(list(texts))
    return [{"text_cls": out.cls[i], "text_pooled": out.pooled[i], "text_tokens": out.tokens[i],
             "text_tokens_mask": out.mask[i]} for i in range(len(texts))]

