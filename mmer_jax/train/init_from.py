"""`config.init_from`: copy parameter subtrees from other runs' best checkpoints.

Seed 002's fusion models start from pretrained unimodal BLSTMs; entries look like
`{"workdir": "runs/acoustic_attention", "source": "encoder", "target": "acoustic_encoder"}`:
every parameter whose '/'-joined path starts with `source` in that run is copied to the same
relative path under `target` here. Shapes must match; anything unmatched is an error, never a
silent skip.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.traverse_util
import numpy as np

from mmer_jax import checkpoint


def apply_init_from(params: Any, entries: Sequence[Mapping[str, str]]) -> Any:
  flat = flax.traverse_util.flatten_dict(params, sep="/")
  for i, entry in enumerate(entries):
    for field in ("workdir", "source", "target"):
      if field not in entry:
        raise ValueError(f"config.init_from[{i}] lacks {field!r}; each entry needs workdir, source and target.")
    other = flax.traverse_util.flatten_dict(checkpoint.restore_params_from(entry["workdir"]), sep="/")
    source, target = entry["source"].strip("/"), entry["target"].strip("/")
    copied = 0
    for path, value in other.items():
      if path != source and not path.startswith(source + "/"):
        continue
      new_path = target + path[len(source):]
      if new_path not in flat:
        raise KeyError(f"config.init_from[{i}]: {entry['workdir']}:{path} maps to {new_path!r}, which this "
                       f"model does not have. Its parameters under {target!r}: "
                       f"{[p for p in flat if p.startswith(target)][:10]}")
      if np.shape(flat[new_path]) != np.shape(value):
        raise ValueError(f"config.init_from[{i}]: shape of {path} {np.shape(value)} != {new_path} "
                         f"{np.shape(flat[new_path])}.")
      flat[new_path] = np.asarray(value, dtype=np.asarray(flat[new_path]).dtype)
      copied += 1
    if copied == 0:
      raise KeyError(f"config.init_from[{i}]: no parameter under {source!r} in {entry['workdir']}. "
                     f"Top-level names there: {sorted({p.split('/')[0] for p in other})}.")
  return flax.traverse_util.unflatten_dict(flat, sep="/")
