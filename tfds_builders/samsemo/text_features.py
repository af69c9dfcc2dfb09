"""Frozen text-encoder features for SAMSEMO, on top of `mmer_jax.features.text_encoder`.

SAMSEMO stores BERT's `last_hidden_state` for `max_length=50` (padded to max_length, truncated) and
its model reads position 0 (CLS). Its released preprocessing has two bugs (seed_models.md §000): it
encodes the utterance ID string instead of the transcript, and it tokenises with the English
`bert-base-uncased` vocabulary while encoding with `bert-base-multilingual-uncased`. The builder's
`text_source="utterance_id"` plus `text_tokenizer=<English tokenizer folder>` reproduce both; by
default the transcript is encoded with the checkpoint's own tokenizer. The only addition here is
that tokenizer swap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from mmer_jax.features import text as text_lib
from mmer_jax.features import text_encoder


def hidden_size(checkpoint: str) -> int:
  """The encoder width from `config.json`, read without loading the weights (for `_info`)."""
  path = Path(checkpoint).expanduser() / "config.json"
  try:
    return int(json.loads(path.read_text())["hidden_size"])
  except (OSError, KeyError, ValueError) as e:
    raise FileNotFoundError(
        f"text_checkpoint {checkpoint!r}: cannot read hidden_size from {path} ({e}). Point it to a "
        "local Hugging Face model folder (config.json + weights).") from e


class SamsemoTextEncoder:
  """Encodes texts to (CLS (B, H), token states (B, L, H), mask (B, L)) float32/bool arrays."""

  def __init__(self, checkpoint: str, tokenizer: str | None = None, max_length: int = 50):
    config = text_encoder.TextEncoderConfig(checkpoint=str(Path(checkpoint).expanduser()),
                                            max_length=max_length, batch_size=16)
    self._encoder = text_encoder.FrozenTextEncoder(config)
    if tokenizer:
      swapped = text_lib.load_tokenizer(str(Path(tokenizer).expanduser()))
      vocab = int(self._encoder.model.config.vocab_size)
      if len(swapped) > vocab:
        # An English vocabulary on a multilingual model keeps ids in range (SAMSEMO's bug: the
        # meanings differ); ids past the embedding table would be an error, not a reproduction.
        raise ValueError(f"text_tokenizer {tokenizer!r} has {len(swapped)} tokens; the encoder's "
                         f"vocabulary has only {vocab}.")
      self._encoder.tokenizer = swapped
    self.hidden_size = self._encoder.hidden_size

  def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out = self._encoder.encode(list(texts))
    return out.cls, out.tokens, out.mask
