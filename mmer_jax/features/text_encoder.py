"""Frozen text-encoder features (CLS, pooled sentence vector, token states) from a local checkpoint.

Seeds 000 (SAMSEMO), 002 and 004 feed a frozen BERT's `last_hidden_state`; this computes it once at
build time with transformers' Flax model of the folder's type. Its config, tokenizer, weights (Flax
or PyTorch-named safetensors) and pooling come from `mmer_jax.checkpoint_folder`.

Padding: sequences are padded to `max_length` and the attention mask is passed, so the states of the
real tokens equal those of an unpadded forward pass (seed 002 encoded one unpadded utterance at a
time without a mask); padded positions are marked False in the returned mask.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Sequence

import numpy as np

from mmer_jax import checkpoint_folder
from mmer_jax.features import pooling as pooling_lib
from mmer_jax.features import text as text_features


@dataclasses.dataclass(frozen=True)
class TextEncoderConfig:
  checkpoint: str
  max_length: int = 50
  batch_size: int = 32
  # Seed 002 adds special tokens whose new embedding rows are random; they get N(0, init_range)
  # rows drawn from `extra_token_seed` so builds are reproducible.
  extra_special_tokens: tuple[str, ...] = ()
  extra_token_seed: int = 0
  # False when the texts already hold [CLS]/[SEP] (seed 002's cleaned .wdseg words).
  add_special_tokens: bool = True
  # Sentence vector `pooled`: "cls", "mean", or None = what the checkpoint was trained with
  # (its sentence-transformers Pooling config; `cls` for plain BERT/ALBERT folders).
  pooling: str | None = None


@dataclasses.dataclass(frozen=True)
class TextFeatures:
  cls: np.ndarray     # (B, H) float32: last-layer state of the first token ([CLS])
  tokens: np.ndarray  # (B, L, H) float32: last-layer states, zero at padded positions
  mask: np.ndarray    # (B, L) bool
  pooled: np.ndarray | None = None  # (B, H) float32: the config's pooling of the token states


def load_flax_encoder(path: str):
  """transformers' Flax model of the folder's type (BERT, ALBERT, ...) holding the folder's weights.

  As `from_pretrained` does, the model is first initialised from its seed (0): parameters the
  checkpoint lacks (e.g. the pooler of one saved from a model with a head) keep those values, and
  checkpoint entries the model does not have are dropped. Frozen features read only token states.
  """
  import flax
  from transformers import FlaxAutoModel
  model = FlaxAutoModel.from_config(checkpoint_folder.config(path))
  initial = flax.traverse_util.flatten_dict(flax.core.unfreeze(model.params))
  loaded = flax.traverse_util.flatten_dict(checkpoint_folder.weights(path, model.params_shape_tree))
  wrong = [k for k in initial if k in loaded and loaded[k].shape != initial[k].shape]
  if wrong:
    raise checkpoint_folder.CheckpointFolderError(
        f"{path!r}: {'/'.join(wrong[0])} has shape {loaded[wrong[0]].shape} in the checkpoint but "
        f"{initial[wrong[0]].shape} in a model of its config.json ({len(wrong)} such parameters).")
  model.params = flax.traverse_util.unflatten_dict({k: loaded.get(k, v) for k, v in initial.items()})
  return model


def _add_embedding_rows(params, count: int, init_range: float, seed: int):
  """Appends `count` N(0, init_range) rows to the word-embedding table (BERT and ALBERT layouts)."""
  import flax
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params))
  key = next((k for k in flat if k[-3:] == ("embeddings", "word_embeddings", "embedding")), None)
  if key is None:
    raise ValueError("Cannot find embeddings/word_embeddings/embedding in the encoder parameters.")
  table = np.asarray(flat[key])
  rows = np.random.default_rng(seed).normal(0.0, init_range, (count, table.shape[1]))
  flat[key] = np.concatenate([table, rows.astype(table.dtype)], axis=0)
  return flax.traverse_util.unflatten_dict(flat)


class FrozenTextEncoder:
  """Tokenizer + Flax encoder loaded once; `encode(texts)` returns CLS and token states."""

  def __init__(self, config: TextEncoderConfig):
    import jax
    self.config = config
    self.tokenizer = text_features.load_tokenizer(config.checkpoint, config.extra_special_tokens)
    self.model = load_flax_encoder(config.checkpoint)
    params = self.model.params
    added = len(self.tokenizer) - self.model.config.vocab_size
    if added > 0:
      params = _add_embedding_rows(params, added, self.model.config.initializer_range,
                                   config.extra_token_seed)
      # Flax checks parameter shapes against the module's config, so rebuild it for the new vocab.
      grown = copy.deepcopy(self.model.config)
      grown.vocab_size = len(self.tokenizer)
      self.model = type(self.model)(grown, _do_init=False)
    self.params = jax.device_put(params)
    self.hidden_size = int(self.model.config.hidden_size)
    self.pooling = config.pooling or checkpoint_folder.pooling(config.checkpoint)
    if self.pooling not in pooling_lib.POOLINGS:
      raise ValueError(f"pooling {self.pooling!r}: choose one of {pooling_lib.POOLINGS} (or None for the "
                       "checkpoint's own).")
    self._forward = jax.jit(functools.partial(self._apply, self.model))

  @staticmethod
  def _apply(model, params, ids, mask, token_types):
    return model(input_ids=ids, attention_mask=mask, token_type_ids=token_types, params=params,
                 train=False).last_hidden_state

  def encode(self, texts: Sequence[str]) -> TextFeatures:
    clss, tokens, masks, pooled = [], [], [], []
    size = self.config.batch_size
    for begin in range(0, len(texts), size):
      chunk = list(texts[begin:begin + size])
      real = len(chunk)
      chunk += [""] * (size - real)  # constant batch shape: one compilation per build
      enc = text_features.tokenize(self.tokenizer, chunk, self.config.max_length,
                                   add_special_tokens=self.config.add_special_tokens)
      # Run the encoder on the batch's longest sequence rounded up to a power of two (>= 16), not on
      # max_length: transcripts are mostly far shorter, and padded positions cost as much as real
      # ones. The padded tail is zero anyway; at most log2(max_length / 16) + 1 shapes compile.
      length = _bucket(int(enc.mask.sum(axis=1).max()), self.config.max_length)
      states = np.asarray(self._forward(self.params, enc.ids[:, :length], enc.mask[:, :length].astype(np.int32),
                                        enc.token_type_ids[:, :length]), dtype=np.float32)[:real]
      states = np.pad(states, ((0, 0), (0, self.config.max_length - length), (0, 0)))
      mask = enc.mask[:real]
      clss.append(states[:, 0])
      tokens.append(states * mask[..., None])
      masks.append(mask)
      pooled.append(pooling_lib.pool(states, mask, self.pooling))
    if not texts:
      h, length = self.hidden_size, self.config.max_length
      return TextFeatures(np.zeros((0, h), np.float32), np.zeros((0, length, h), np.float32),
                          np.zeros((0, length), bool), np.zeros((0, h), np.float32))
    return TextFeatures(np.concatenate(clss), np.concatenate(tokens), np.concatenate(masks),
                        np.concatenate(pooled))


def _bucket(used: int, max_length: int) -> int:
  length = 16
  while length < used:
    length *= 2
  return min(length, max_length)
