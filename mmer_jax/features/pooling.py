"""Sentence vectors from token states: `cls` (first token) or `mean` (attention-mask-weighted mean).

A checkpoint should be pooled the way it was trained: `mmer_jax.checkpoint_folder.pooling` reads that
from its folder (all-MiniLM-L6-v2: mean over real tokens; plain BERT/ALBERT folders: `cls`).

The one home of the choice: the frozen-feature builders (text_encoder.py) and every in-model text
encoder (the text classifier, MME2E / MESM with `text=finetune`, upstream ALBERT, seed 004's BERT)
call `resolve` and `pool`. `pool` takes numpy or JAX arrays alike (it uses array methods only), so
the traced models and the numpy feature code compute the same vector.
"""

from __future__ import annotations

from mmer_jax import checkpoint_folder

POOLINGS = ("cls", "mean")


def resolve(checkpoint: str, pooling: str | None = None, field: str = "pooling") -> str:
  """`pooling` when given (an override), else the checkpoint's own (`checkpoint_folder.pooling`);
  `field` names the config field in the error."""
  chosen = pooling or checkpoint_folder.pooling(checkpoint)
  if chosen not in POOLINGS:
    raise ValueError(f"{field}={chosen!r}; use one of {POOLINGS} (or None for the checkpoint's own).")
  return chosen


def mean_pool(states, mask):
  """(B, L, H) states, (B, L) mask -> (B, H): the mean over real tokens (clamped count, as
  sentence-transformers does, so an all-padding row gives zeros instead of NaN). numpy or JAX."""
  weights = mask.astype(states.dtype)[..., None]
  return (states * weights).sum(axis=1) / weights.sum(axis=1).clip(1e-9)


def pool(states, mask, how: str):
  """(B, L, H) token states -> (B, H) sentence vectors, numpy or JAX (traceable)."""
  if how == "cls":
    return states[:, 0]
  if how == "mean":
    return mean_pool(states, mask)
  raise ValueError(f"Unknown text pooling {how!r}; choose one of {POOLINGS}.")
