"""The one reader of a local pretrained checkpoint folder (Hugging Face / sentence-transformers layout).

A folder holds `config.json`, weights (a native Flax `flax_model.msgpack` or a PyTorch-named
`model.safetensors`), tokenizer files, and for sentence-transformers models `modules.json` with a
Pooling module (`1_Pooling/config.json`) and `sentence_bert_config.json`. Everything the code knows
about such a folder is read here, so models, preprocessors, feature builders and the trainer agree:

- `config` (the transformers config, cached per folder) and `hidden_size` (config.json alone, fast);
- `weights`: the parameters as a nested dict of numpy arrays with Flax names; PyTorch names are
  converted by transformers 4.57's own renamer (numpy reader, so torch is NOT needed) against the
  parameter tree the caller will fill (only its shapes are read);
- `tokenizer` (never downloads) and `max_length` (the longest input the checkpoint takes);
- `pooling`: how the checkpoint was trained to pool token states into a sentence vector;
- `CheckpointFolderError`, the one user error naming the folder, what is missing and what to do.

Nothing is downloaded. This module is a leaf: it imports the standard library, numpy and
`mmer_jax.errors`; transformers, safetensors and flax.serialization only inside functions.
"""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Any, Mapping

import numpy as np

from mmer_jax.errors import UserError

WEIGHT_FILES = ("flax_model.msgpack", "model.safetensors")  # in the order transformers prefers them
CONFIG_FILE = "config.json"
_POOLING_MODULE = "sentence_transformers.models.Pooling"
_DEFAULT_POOLING_CONFIG = ("1_Pooling", "config.json")  # where sentence-transformers saves it
_UNLIMITED = 1_000_000  # tokenizers without a limit report a huge model_max_length


class CheckpointFolderError(UserError, FileNotFoundError):
  """The pretrained-checkpoint folder is missing, incomplete or unreadable."""


def folder(path: str | pathlib.Path) -> pathlib.Path:
  """The folder, checked to exist and to hold config.json."""
  checked = pathlib.Path(path).expanduser()
  if not checked.is_dir():
    raise CheckpointFolderError(
        f"Pretrained encoder folder {str(checked)!r} does not exist. Point the config at a local folder "
        f"with {CONFIG_FILE} and {' or '.join(WEIGHT_FILES)} (nothing is downloaded).")
  if not (checked / CONFIG_FILE).is_file():
    raise CheckpointFolderError(
        f"{str(checked)!r} has no {CONFIG_FILE}; found: {sorted(p.name for p in checked.iterdir())}.")
  return checked


# A run reads the same folder's config many times (model build, learning rate, max length, each
# init and trace of an encoder); configs are not modified after loading, so sharing one is safe.
@functools.lru_cache(maxsize=32)
def _config_of(resolved: str):
  from transformers import AutoConfig
  try:
    return AutoConfig.from_pretrained(resolved, local_files_only=True)
  except (ValueError, OSError, json.JSONDecodeError) as e:
    raise CheckpointFolderError(f"{resolved!r}: {CONFIG_FILE} could not be read: {e}") from e


def config(path: str | pathlib.Path):
  """The folder's transformers config (model type, sizes); only config.json is read."""
  return _config_of(str(folder(path).resolve()))


def hidden_size(path: str | pathlib.Path) -> int:
  """The encoder width from config.json alone, without transformers (for TFDS `_info`)."""
  file = pathlib.Path(path).expanduser() / CONFIG_FILE
  try:
    return int(json.loads(file.read_text())["hidden_size"])
  except (OSError, KeyError, ValueError) as e:
    raise CheckpointFolderError(f"Text checkpoint {str(path)!r}: cannot read hidden_size from {file} ({e}). "
                                "Point it at a local Hugging Face model folder (config.json + weights).") from e


def max_length(path: str | pathlib.Path) -> int:
  """The longest input the checkpoint takes: its position table, and the shorter limits that
  sentence-transformers (`max_seq_length`) or the tokenizer (`model_max_length`) set."""
  checked = folder(path)
  limits = [int(config(checked).max_position_embeddings)]
  for name, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length")):
    if (checked / name).is_file():
      value = json.loads((checked / name).read_text()).get(key)
      if isinstance(value, (int, float)) and 0 < value < _UNLIMITED:
        limits.append(int(value))
  return min(limits)


def tokenizer(path: str | pathlib.Path):
  """The folder's Hugging Face tokenizer (a fresh object: callers add tokens or change settings)."""
  from transformers import AutoTokenizer
  try:
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
  except (OSError, ValueError, TypeError) as e:  # TypeError: a BERT folder without vocab.txt
    raise CheckpointFolderError(f"No Hugging Face tokenizer in {str(path)!r} ({e}). Point the text checkpoint "
                                "option at a folder holding tokenizer.json or vocab.txt.") from e


def pooling(path: str | pathlib.Path) -> str:
  """`mean` or `cls`, as the folder's sentence-transformers Pooling config says; `cls` when it has
  none (plain BERT/ALBERT pre-training reads the [CLS] state). Pooling modes this code does not
  offer (max, sqrt-len) are an error."""
  checked = pathlib.Path(path).expanduser()
  config_path = None
  modules = checked / "modules.json"
  if modules.is_file():
    for module in json.loads(modules.read_text()):
      if module.get("type") == _POOLING_MODULE:
        config_path = checked / module.get("path", "") / CONFIG_FILE
  elif checked.joinpath(*_DEFAULT_POOLING_CONFIG).is_file():
    config_path = checked.joinpath(*_DEFAULT_POOLING_CONFIG)
  if config_path is None:
    return "cls"
  try:
    modes = json.loads(config_path.read_text())
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


def weight_file(path: str | pathlib.Path) -> pathlib.Path | None:
  """The weights file the folder holds (msgpack first, as transformers), or None: a folder with only
  config.json defines the architecture of a randomly initialised encoder (tiny test configs)."""
  checked = pathlib.Path(path).expanduser()
  return next((checked / name for name in WEIGHT_FILES if (checked / name).is_file()), None)


def weights(path: str | pathlib.Path, like: Mapping[str, Any], *, complete: bool = False) -> dict[str, Any]:
  """The checkpoint's parameters as a nested dict of numpy arrays, without random initialisation.

  `like`: the parameter tree (arrays or shape structs) of the bare encoder the weights are for. A
  Flax msgpack comes as stored, unwrapped from a `params` collection or a head model's prefix;
  PyTorch-named safetensors are renamed and reshaped to Flax names against `like` and cut to its
  entries (a checkpoint may hold more, e.g. a pooler the model does not build). Parameters `like`
  has and the checkpoint lacks are an error with `complete`, else the caller's to report or fill.
  """
  checked = folder(path)
  file = weight_file(checked)
  if file is None:
    hint = (" Only pytorch_model.bin is present, which needs torch to read; convert it once to "
            "model.safetensors." if (checked / "pytorch_model.bin").is_file() else "")
    raise CheckpointFolderError(f"{str(checked)!r} has no weights ({' or '.join(WEIGHT_FILES)}).{hint}")
  prefix = _base_model_prefix(config(checked))
  try:
    if file.name == "flax_model.msgpack":
      from flax.serialization import msgpack_restore
      params = msgpack_restore(file.read_bytes())
      params = params.get("params", params)  # models with batch norm nest params one level down
      if prefix in params and prefix not in like:  # saved from a model with a head
        params = params[prefix]
    else:
      params = _from_pytorch_names(file, like, prefix)
    present = _flatten(params)
    missing = [k for k in _flatten(like) if k not in present] if complete else []
    if missing:
      raise ValueError(f"{file.name} lacks {len(missing)} parameters, e.g. {['/'.join(k) for k in missing[:3]]}")
  except (OSError, ValueError) as e:
    raise CheckpointFolderError(f"{str(checked)!r}: weights could not be loaded: {e}") from e
  return _to_numpy(params)


def _base_model_prefix(model_config) -> str:
  """The name transformers nests a bare encoder under in a model with a head (`bert`, `albert`, ...)."""
  from transformers.models.auto.modeling_flax_auto import FLAX_MODEL_MAPPING
  return FLAX_MODEL_MAPPING[type(model_config)].base_model_prefix


class _ShapeOnlyModel:
  """What transformers' PyTorch->Flax renamer reads from a model: its prefix and param shapes."""

  def __init__(self, base_model_prefix: str, params: Any):
    self.base_model_prefix = base_model_prefix
    self.params = params


def _from_pytorch_names(file: pathlib.Path, like: Mapping[str, Any], base_model_prefix: str) -> dict[str, Any]:
  """PyTorch-named safetensors -> Flax params with transformers' own key renaming (no torch).

  `from_pretrained(from_pt=True)` would first initialise the whole model randomly (and cannot build
  wav2vec2-base at all); the renamer only needs parameter shapes, which the caller's tree gives.
  """
  from safetensors.numpy import load_file
  from transformers.modeling_flax_pytorch_utils import convert_pytorch_state_dict_to_flax
  converted = convert_pytorch_state_dict_to_flax(load_file(str(file)), _ShapeOnlyModel(base_model_prefix, like))
  wanted = set(_flatten(like))
  return _unflatten({k: v for k, v in _flatten(converted).items() if k in wanted})


def _flatten(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, Mapping):
      flat.update(_flatten(value, prefix + (key,)))
    else:
      flat[prefix + (key,)] = value
  return flat


def _unflatten(flat: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
  tree: dict[str, Any] = {}
  for path, value in flat.items():
    node = tree
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = value
  return tree


def _to_numpy(tree: Mapping[str, Any]) -> dict[str, Any]:
  return _unflatten({k: np.asarray(v) for k, v in _flatten(tree).items()})
