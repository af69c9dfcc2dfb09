"""A fresh run's pretrained encoders: the checkpoint folders a model names replace its random init.

A model names them in `pretrained_folders()` ({'/'-joined parameter path: folder}); the folders are
read by `mmer_jax.checkpoint_folder`, which converts their weights to the parameter subtree's own
names and shapes, so no model code is needed here. A resumed run has the weights in its checkpoint.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import flax.traverse_util
import jax.numpy as jnp

from mmer_jax import checkpoint_folder

log = logging.getLogger(__name__)


def load_into(params: Mapping[str, Any], folders: Mapping[str, str], *, strict: bool = True) -> dict[str, Any]:
  """Returns `params` with the subtree at each '/'-joined path replaced by the checkpoint's weights.

  Every parameter of the target subtree must be in the checkpoint with the same shape (else an
  error lists the differences). Checkpoint entries the model does not use (e.g. a pooler when the
  model builds the encoder without one) are ignored.
  """
  flat = flax.traverse_util.flatten_dict(dict(params), sep="/")
  out = dict(flat)
  for target, folder in folders.items():
    prefix = target.rstrip("/") + "/"
    wanted = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
    if not wanted:
      raise KeyError(f"No parameters under {target!r}; top-level entries: {sorted(params)}.")
    like = flax.traverse_util.unflatten_dict(wanted, sep="/")
    loaded = flax.traverse_util.flatten_dict(checkpoint_folder.weights(folder, like), sep="/")
    missing = sorted(k for k in wanted if k not in loaded)
    wrong = sorted(k for k in wanted if k in loaded and tuple(loaded[k].shape) != tuple(wanted[k].shape))
    if strict and (missing or wrong):
      raise ValueError(f"Checkpoint {folder!r} does not fit {target!r}: missing {missing[:5]} "
                       f"({len(missing)} in all), shape mismatch {wrong[:5]} ({len(wrong)} in all).")
    for k, v in wanted.items():
      if k in loaded and tuple(loaded[k].shape) == tuple(v.shape):
        out[prefix + k] = jnp.asarray(loaded[k], dtype=v.dtype)
  return flax.traverse_util.unflatten_dict(out, sep="/")


def load_pretrained_weights(model, state, tx):
  """Overwrites the subtrees a model names in `pretrained_folders()` (local BERT/ALBERT/wav2vec2
  checkpoints) after random init, on a fresh run only: a resumed run has them in its checkpoint."""
  folders = model.pretrained_folders() if hasattr(model, "pretrained_folders") else {}
  # A folder with only config.json defines the architecture of a randomly initialised encoder
  # (tiny test configs); say so, so that nobody mistakes it for a loaded checkpoint.
  for target, folder in list(folders.items()):
    if checkpoint_folder.weight_file(folder) is None:
      log.warning("%s has no weights (%s): %s stays randomly initialised.", folder,
                  " or ".join(checkpoint_folder.WEIGHT_FILES), target)
      del folders[target]
  if not folders:
    return state
  log.info("Loading pretrained weights: %s", folders)
  params = load_into(state.params, folders)
  return state.replace(params=params, opt_state=tx.init(params))
