"""The PyTorch-equivalent transformer encoder layer and MME2E's CLS wrapper."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmer_jax.models import param_count
from mmer_jax.models.layers.transformer import (ClsTransformerEncoder, TransformerEncoderLayer,
                                                torch_bias_init, torch_kernel_init)

DATA = pathlib.Path(__file__).parent / "data"


def test_param_count_matches_pytorch_formula_at_mme2e_size():
  # nn.TransformerEncoderLayer(64, 4): 281,152 parameters (also printed by torch, see
  # tests/data/make_torch_references.py); 4 layers + the 64-d CLS embedding = 1,124,672.
  assert TransformerEncoderLayer.torch_param_count(64) == 281_152
  model = ClsTransformerEncoder(dim=64, num_layers=4, num_heads=4)
  x = jnp.zeros((2, 5, 64))
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  assert param_count(variables) == 4 * 281_152 + 64


def _tiny(dropout=0.1):
  return ClsTransformerEncoder(dim=8, num_layers=2, num_heads=2, dim_feedforward=16, dropout=dropout)


def test_padded_items_do_not_change_the_cls_output():
  model = _tiny()
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 6, 8))
  mask = jnp.arange(6)[None, :] < jnp.array([[3], [6]])
  variables = model.init(jax.random.PRNGKey(0), x, mask)
  out = model.apply(variables, x, mask)
  garbage = x.at[0, 3:].set(100.0)  # change only the padded items of row 0
  out2 = model.apply(variables, garbage, mask)
  np.testing.assert_allclose(out, out2, atol=1e-5)
  # ... and they would change it without the mask, so the mask is what protects the output.
  unmasked = model.apply(variables, garbage, jnp.ones_like(mask))
  assert not np.allclose(out[0], unmasked[0], atol=1e-3)


def test_no_positional_encoding_makes_cls_permutation_invariant():
  model = _tiny()
  x = jax.random.normal(jax.random.PRNGKey(2), (1, 5, 8))
  variables = model.init(jax.random.PRNGKey(0), x)
  out = model.apply(variables, x)
  out_perm = model.apply(variables, x[:, ::-1])
  np.testing.assert_allclose(out, out_perm, atol=1e-5)


def test_dropout_only_in_training():
  model = _tiny(dropout=0.5)
  x = jax.random.normal(jax.random.PRNGKey(3), (2, 4, 8))
  variables = model.init(jax.random.PRNGKey(0), x)
  a = model.apply(variables, x, train=True, rngs={"dropout": jax.random.PRNGKey(1)})
  b = model.apply(variables, x, train=True, rngs={"dropout": jax.random.PRNGKey(2)})
  assert not np.allclose(a, b)
  np.testing.assert_array_equal(model.apply(variables, x), model.apply(variables, x))


def test_initialisers_follow_pytorch_bounds():
  kernel = torch_kernel_init(jax.random.PRNGKey(0), (400, 300))
  bias = torch_bias_init(400)(jax.random.PRNGKey(1), (300,))
  bound = 1 / np.sqrt(400)
  for w in (kernel, bias):
    assert float(jnp.abs(w).max()) <= bound
    assert float(jnp.abs(w).max()) > 0.9 * bound  # uniform over the whole range


@pytest.mark.skipif(not (DATA / "torch_transformer_layer.npz").exists(), reason="reference not generated")
def test_matches_pytorch_encoder_layer_outputs():
  """Weights, inputs and eval-mode outputs of a torch TransformerEncoder saved by the script."""
  ref = np.load(DATA / "torch_transformer_layer.npz")
  d, heads, ff = int(ref["d_model"]), int(ref["nhead"]), int(ref["dim_feedforward"])
  layers = int(ref["num_layers"])
  model = ClsTransformerEncoder(dim=d, num_layers=layers, num_heads=heads, dim_feedforward=ff)
  x = jnp.asarray(ref["inputs"])
  valid = jnp.asarray(ref["valid"])
  variables = model.init(jax.random.PRNGKey(0), x, valid)
  params = jax.tree_util.tree_map(np.asarray, variables["params"])
  params["cls_emb"] = ref["cls_emb"]
  hd = d // heads
  for i in range(layers):
    p = params["encoder"][f"layers_{i}"]
    w_in, b_in = ref[f"l{i}.in_proj_weight"], ref[f"l{i}.in_proj_bias"]
    for j, name in enumerate(("query", "key", "value")):
      p["self_attn"][name]["kernel"] = w_in[j * d:(j + 1) * d].T.reshape(d, heads, hd)
      p["self_attn"][name]["bias"] = b_in[j * d:(j + 1) * d].reshape(heads, hd)
    p["self_attn"]["out"]["kernel"] = ref[f"l{i}.out_proj.weight"].T.reshape(heads, hd, d)
    p["self_attn"]["out"]["bias"] = ref[f"l{i}.out_proj.bias"]
    for name in ("linear1", "linear2"):
      p[name]["kernel"] = ref[f"l{i}.{name}.weight"].T
      p[name]["bias"] = ref[f"l{i}.{name}.bias"]
    for name in ("norm1", "norm2"):
      p[name]["scale"] = ref[f"l{i}.{name}.weight"]
      p[name]["bias"] = ref[f"l{i}.{name}.bias"]
  out = model.apply({"params": params}, x, valid)
  np.testing.assert_allclose(np.asarray(out), ref["cls_out"], atol=2e-5)


def test_first_only_layer_equals_row_zero_of_the_full_layer():
  # The CLS encoder's last layer computes position 0 alone; keys and values still come from every
  # (valid) position, so the row must equal the full layer's row 0 (and the parameters are shared).
  layer = TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
  x = jax.random.normal(jax.random.PRNGKey(4), (3, 7, 8))
  mask = jnp.arange(7)[None, :] < jnp.array([[2], [7], [5]])
  variables = layer.init(jax.random.PRNGKey(0), x, mask)
  full = layer.apply(variables, x, mask)
  first = layer.apply(variables, x, mask, first_only=True)
  assert first.shape == (3, 1, 8)
  np.testing.assert_allclose(first[:, 0], full[:, 0], rtol=1e-5, atol=1e-5)
  # Keys beyond position 0 matter: changing a valid later item changes the first row.
  changed = layer.apply(variables, x.at[1, 4].add(3.0), mask, first_only=True)
  assert not np.allclose(changed[1], first[1], atol=1e-3)
