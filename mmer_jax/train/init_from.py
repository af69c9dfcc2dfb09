"""`config.init_from`: copy parameter subtrees from other runs' best checkpoints.

Seed 002's fusion models start from pretrained unimodal BLSTMs; entries look like
`{"workdir": "runs/acoustic_attention", "source": "encoder", "target": "acoustic_encoder"}`:
every parameter whose '/'-joined path starts with `source` in that run is copied to the same
relative path under `target` here. Shapes must match; anything unmatched is an error, never a
silent skip.

An entry with `workdirs` (several runs) and `combine: "concat_kernels_sum_biases"` merges dense
layers instead: kernels are concatenated along their input axis in the runs' order and biases are
summed, so the merged layer over the concatenated features starts as the sum of the runs' layers.
That is how seed 002's MM-B initialises its fusion layer from the two unimodal heads.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import flax.traverse_util
import jax
import numpy as np

from mmer_jax.errors import ConfigError
from mmer_jax.train.experiment import Experiment


COMBINES = ("concat_kernels_sum_biases",)
ParamsLoader = Callable[[str], Any]


def best_params(workdir: str) -> Any:
  """Parameters of another run's best checkpoint, as host arrays, restored through its Experiment."""
  experiment = Experiment.restore(workdir)
  try:
    return jax.device_get(experiment.best_variables()["params"])
  finally:
    experiment.close()


def _combine(flat: dict, entry: Mapping[str, Any], i: int, load: ParamsLoader) -> None:
  if entry.get("combine") not in COMBINES:
    raise ConfigError(f"config.init_from[{i}].combine={entry.get('combine')!r}; known: {COMBINES}.")
  source, target = entry["source"].strip("/"), entry["target"].strip("/")
  runs = [flax.traverse_util.flatten_dict(load(w), sep="/") for w in entry["workdirs"]]
  for leaf in ("kernel", "bias"):
    parts = [run.get(f"{source}/{leaf}") for run in runs]
    if any(p is None for p in parts):
      raise KeyError(f"config.init_from[{i}]: {source}/{leaf} is missing in one of {list(entry['workdirs'])}.")
    merged = np.concatenate(parts, axis=0) if leaf == "kernel" else np.sum(parts, axis=0)
    path = f"{target}/{leaf}"
    if path not in flat or np.shape(flat[path]) != merged.shape:
      raise ValueError(f"config.init_from[{i}]: merged {leaf} {merged.shape} does not fit {path} "
                       f"{np.shape(flat.get(path))}.")
    flat[path] = merged.astype(np.asarray(flat[path]).dtype)


def apply_init_from(params: Any, entries: Sequence[Mapping[str, Any]], load: ParamsLoader = best_params) -> Any:
  flat = flax.traverse_util.flatten_dict(params, sep="/")
  for i, entry in enumerate(entries):
    if "workdirs" in entry:
      _combine(flat, entry, i, load)
      continue
    for field in ("workdir", "source", "target"):
      if field not in entry:
        raise ConfigError(f"config.init_from[{i}] lacks {field!r}; each entry needs workdir, source and target.")
    other = flax.traverse_util.flatten_dict(load(entry["workdir"]), sep="/")
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
