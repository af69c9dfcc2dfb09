"""MESM (sparse MME2E) emulated densely: parity, selection rule, detached attention, savings, learning."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmer_jax.models import param_count
from mmer_jax.models.mesm import MESM, nucleus_mask, sparse_compute_fraction, stage_conv_flops
from tests.test_model_mme2e import samsemo_examples

jax.config.update("jax_disable_most_optimizations", True)
COUNTS = json.loads((pathlib.Path(__file__).parent / "data" / "torch_param_counts.json").read_text())
TINY = dict(low_channels=4, stage_channels=(4, 8, 8), attention_dims=(4, 4, 4), flatten_hidden=8, trans_dim=8,
            trans_layers=1, trans_heads=2, trans_ff=16)


def _full_inputs(text):
  return {"text": text, "vision": jnp.zeros((2, 16, 48, 48, 3)), "vision_mask": jnp.ones((2, 16), bool),
          "audio": jnp.zeros((2, 32, 128, 32)), "audio_mask": jnp.ones((2, 32), bool)}


def test_param_count_equals_pytorch_original(tmp_path):
  count = lambda m, x: param_count(jax.eval_shape(lambda r: m.init(r, x, train=False), jax.random.PRNGKey(0)))
  assert count(MESM(), _full_inputs(jnp.zeros((2, 768)))) == COUNTS["mesm_tav_6_without_text_encoder"]
  from transformers import AlbertConfig
  AlbertConfig(hidden_size=768, num_attention_heads=12, intermediate_size=3072).save_pretrained(tmp_path)
  with_albert = MESM(text_encoder=str(tmp_path))
  assert count(with_albert, _full_inputs(jnp.zeros((2, 100), jnp.int32))) == COUNTS["mesm_tav_albert_base_6"]


def _original_rule(probs, cdf):
  """The upstream `to_sparse_by_cdf` loop, in numpy (sort, cumsum < cdf, then one more)."""
  out = np.zeros_like(probs, dtype=bool)
  for i, row in enumerate(probs):
    order = np.argsort(-row, kind="stable")
    mask = np.cumsum(row[order]) < cdf
    mask[mask.sum()] = True
    out[i, order[mask]] = True
  return out


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9])
def test_nucleus_selection_matches_the_original_rule(threshold):
  logits = np.random.default_rng(0).normal(0, 2, (16, 30))
  probs = np.asarray(jax.nn.softmax(jnp.asarray(logits), -1))
  np.testing.assert_array_equal(np.asarray(nucleus_mask(jnp.asarray(probs), threshold)), _original_rule(probs, threshold))


def _tiny_batch(rng, batch=2, faces=3):
  return {"text": jnp.asarray(rng.normal(size=(batch, 768)), jnp.float32),
          "vision": jnp.asarray(rng.normal(size=(batch, faces, 16, 16, 3)), jnp.float32),
          "vision_mask": jnp.arange(faces)[None] < jnp.array([[1], [3]])}


def test_attention_only_selects_so_it_gets_no_gradient_and_lower_threshold_keeps_less():
  batch = _tiny_batch(np.random.default_rng(0))
  model = MESM(modalities="tv", num_classes=3, **TINY)
  variables = jax.jit(lambda b: model.init(jax.random.PRNGKey(0), b, train=False))(batch)
  loss = lambda p: model.apply({**variables, "params": p}, batch, train=False).sum()
  grads = jax.jit(jax.grad(loss))(variables["params"])["v_items"]
  for i in range(3):
    assert all(float(jnp.abs(g).sum()) == 0 for g in jax.tree_util.tree_leaves(grads[f"attn{i}"]))
  assert float(jnp.abs(grads["stage0"]["conv1"]["kernel"]).sum()) > 0
  shares = {}
  for threshold in (0.5, 0.95):
    other = MESM(modalities="tv", num_classes=3, sparse_threshold=threshold, **TINY)
    _, inter = jax.jit(lambda v, b: other.apply(v, b, train=False, mutable=["intermediates"]))(variables, batch)
    shares[threshold] = np.asarray(inter["intermediates"]["v_items"]["active_share"][0])
  assert np.all(shares[0.5] < shares[0.95]) and np.all(shares[0.95] <= 1.0)
  saving = sparse_compute_fraction(shares[0.5], stage_conv_flops((24, 24), input_hw=(48, 48)))
  assert 0 < saving["saved_fraction"] < 1 and saving["sparse_madds"] < saving["dense_madds"]


def test_learns_through_the_trainer(tmp_path):
  from configs import mesm_upstream
  from mmer_jax.train import trainer
  config = mesm_upstream.get_config("smoke")
  config.num_epochs = 3
  config.input.tfds_name = ""
  config.input.batch_size = 8
  config.input.preprocess.label_source = "samsemo"
  config.input.preprocess.text_input = "cls"
  config.input.preprocess.tokenizer = None
  config.input.preprocess.max_faces = 4
  config.input.preprocess.max_pieces = 4
  config.task.class_names = ["a", "b", "c", "d", "e"]
  config.model.update(TINY)
  config.model.num_classes = 5
  config.model.text_encoder = None
  config.optimizer.learning_rate = 3e-3
  config.optimizer.param_group_lr = {}
  small = dict(face=16, mel_shape=(32, 16))
  sources = {"train": samsemo_examples(64, 0, **small), "valid": samsemo_examples(24, 1, **small),
             "test": samsemo_examples(24, 2, **small)}
  trainer.train_and_evaluate(config, tmp_path, sources=sources)
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert rows[-1]["train/loss"] < rows[0]["train/loss"]
  assert rows[-1]["valid/auc_macro"] > 0.7 if "valid/auc_macro" in rows[-1] else rows[-1]["valid/f1_macro"] > 0.5
