"""Sentence vectors from token states: `cls` (first token) or `mean` (attention-mask-weighted mean).

A checkpoint should be pooled the way it was trained. Sentence-transformers folders say how in
`<Pooling module>/config.json` (all-MiniLM-L6-v2: mean over real tokens); plain BERT/ALBERT folders
say nothing, and their pre-training reads the [CLS] state, so `cls` is their default.

The one home of that rule: the frozen-feature builders (text_encoder.py) and every in-model text
encoder (the text classifier, MME2E / MESM with `text=finetune`, upstream ALBERT, seed 004's BERT)
call `resolve` and `pool`. `pool` takes numpy or JAX arrays alike (it uses array methods only), so
the traced models and the numpy feature code compute the same vector.
"""

from __future__ import annotations

import json
import os

import numpy as np

POOLINGS = ("cls", "mean")
_POOLING_MODULE = "sentence_transformers.models.Pooling"


def checkpoint_pooling(checkpoint: str) -> str:
  """`mean` or `cls`, as the checkpoint folder's sentence-transformers Pooling config says; `cls`
  when the folder has none. Pooling modes this code does not offer (max, sqrt-len) are an error."""
  folder = os.path.expanduser(checkpoint)
  config_path = None
  modules = os.path.join(folder, "modules.json")
  if os.path.isfile(modules):
    with open(modules) as f:
      for module in json.load(f):
        if module.get("type") == _POOLING_MODULE:
          config_path = os.path.join(folder, module.get("path", ""), "config.json")
  elif os.path.isfile(os.path.join(folder, "1_Pooling", "config.json")):
    config_path = os.path.join(folder, "1_Pooling", "config.json")
  if config_path is None:
    return "cls"
  try:
    with open(config_path) as f:
      modes = json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError(f"{config_path}: cannot read the sentence-transformers pooling config ({e}); "
                     "fix the file or choose the pooling explicitly (cls or mean).") from e
  chosen = [name for name in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
            if modes.get(f"pooling_mode_{name}")]
  if chosen == ["mean_tokens"]:
    return "mean"
  if chosen == ["cls_token"]:
    return "cls"
  raise ValueError(f"{config_path}: pooling modes {chosen} are not supported (only exactly one of "
                   "cls_token or mean_tokens); choose the pooling explicitly (cls or mean).")


def resolve(checkpoint: str, pooling: str | None = None, field: str = "pooling") -> str:
  """`pooling` when given (an override), else the checkpoint's own (`checkpoint_pooling`); `field`
  names the config field in the error."""
  chosen = pooling or checkpoint_pooling(checkpoint)
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
