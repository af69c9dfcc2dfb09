"""A transcript as token ids of a checkpoint folder's tokenizer, padded and truncated to a fixed length.

The preprocessors that feed an in-model text encoder (text_classifier, mme2e with `text_input="ids"`,
ssl_fusion) tokenise one utterance at a time the same way; the tokenizer comes from
`mmer_jax.checkpoint_folder` and is loaded on first use, so a preprocessor stays cheap to build and
picklable (pipeline workers build their own).
"""

from __future__ import annotations

import numpy as np

from mmer_jax import checkpoint_folder


class TextTokens:
  """text -> (ids (max_length,) int32, mask (max_length,) bool, True = real token)."""

  def __init__(self, folder: str, max_length: int):
    self.folder = folder
    self.max_length = max_length
    self._tokenizer = None

  def __call__(self, text: str) -> tuple[np.ndarray, np.ndarray]:
    if self._tokenizer is None:
      self._tokenizer = checkpoint_folder.tokenizer(self.folder)
    enc = self._tokenizer(text, max_length=self.max_length, padding="max_length", truncation=True,
                          return_tensors="np")
    return enc["input_ids"][0].astype(np.int32), enc["attention_mask"][0].astype(bool)
