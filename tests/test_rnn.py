"""The fused BiLSTM equals two plain-scan LSTMs (outputs and gradients) and honours lengths."""

import jax
import jax.numpy as jnp
import numpy as np

from mmer_jax.models.layers.rnn import LSTM, BiLSTM


def _reference(params, x, mask):
  fwd, h_f = LSTM(5).apply({"params": params["forward"]}, x, mask)
  bwd, h_b = LSTM(5, reverse=True).apply({"params": params["backward"]}, x, mask)
  return jnp.concatenate([fwd, bwd], -1), jnp.concatenate([h_f, h_b], -1)


def test_fused_bilstm_matches_two_plain_lstms_in_value_and_gradient():
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 7, 4))
  mask = jnp.asarray(np.arange(7)[None] < np.array([[7], [4], [1]]))
  params = BiLSTM(5).init(jax.random.PRNGKey(1), x, mask)["params"]
  fused = BiLSTM(5).apply({"params": params}, x, mask)
  reference = _reference(params, x, mask)
  for a, b in zip(fused, reference):
    np.testing.assert_allclose(a, b, atol=1e-6)
  weights = jax.random.normal(jax.random.PRNGKey(2), fused[0].shape)

  def loss(p, fn):
    out, final = fn(p)
    return (out * weights).sum() + (final ** 2).sum()

  g_fused = jax.grad(loss)(params, lambda p: BiLSTM(5).apply({"params": p}, x, mask))
  g_ref = jax.grad(loss)(params, lambda p: _reference(p, x, mask))
  for a, b in zip(jax.tree_util.tree_leaves(g_fused), jax.tree_util.tree_leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  assert float(jnp.abs(fused[0][1, 4:]).max()) == 0.0  # padded outputs are zero


def test_a_padded_sequence_gives_the_same_result_as_the_unpadded_one():
  x = jax.random.normal(jax.random.PRNGKey(3), (1, 9, 4))
  mask = jnp.asarray(np.arange(9)[None] < 6)
  model = BiLSTM(3)
  variables = model.init(jax.random.PRNGKey(4), x, mask)
  padded, final = model.apply(variables, x, mask)
  short, short_final = model.apply(variables, x[:, :6], None)
  np.testing.assert_allclose(padded[:, :6], short, atol=1e-6)
  np.testing.assert_allclose(final, short_final, atol=1e-6)


def test_stacked_layers_run_time_major_inside_but_equal_chained_batch_major_layers():
  from mmer_jax.models.layers.rnn import StackedBiLSTM
  x = jax.random.normal(jax.random.PRNGKey(5), (3, 8, 4))
  mask = jnp.asarray(np.arange(8)[None] < np.array([[8], [5], [2]]))
  stacked = StackedBiLSTM(5, num_layers=2)
  params = stacked.init(jax.random.PRNGKey(6), x, mask)["params"]
  out, final = stacked.apply({"params": params}, x, mask)
  hidden, _ = BiLSTM(5).apply({"params": params["layer0"]}, x, mask)
  expected, expected_final = BiLSTM(5).apply({"params": params["layer1"]}, hidden, mask)
  assert out.shape == (3, 8, 10)
  np.testing.assert_allclose(out, expected, atol=1e-6)
  np.testing.assert_allclose(final, expected_final, atol=1e-6)


def test_reading_one_step_equals_indexing_the_full_outputs_in_value_and_gradient():
  # Pooling "last" / "cls" reads one output per sequence; the top layer then runs one direction in
  # full and the other for a single step. Lengths include a full row, short rows and an empty one.
  import pytest
  from mmer_jax.models.layers.rnn import StackedBiLSTM
  x = jax.random.normal(jax.random.PRNGKey(7), (5, 9, 4))
  lengths = np.array([9, 5, 1, 0, 3])
  mask = jnp.asarray(np.arange(9)[None] < lengths[:, None])
  full = StackedBiLSTM(6, num_layers=2)
  params = full.init(jax.random.PRNGKey(8), x, mask)["params"]
  last = jnp.maximum(mask.sum(1) - 1, 0)

  def reference(p, read):
    out, _ = full.apply({"params": p}, x, mask)
    picked = out[jnp.arange(5), last] if read == "last" else out[:, 0]
    return picked * (lengths > 0)[:, None]  # an empty row's outputs are all zero

  for read in ("last", "first"):
    model = StackedBiLSTM(6, num_layers=2, read=read)
    assert jax.tree_util.tree_structure(model.init(jax.random.PRNGKey(8), x, mask)["params"]) == \
        jax.tree_util.tree_structure(params)
    fast = lambda p: model.apply({"params": p}, x, mask)[0]  # noqa: E731
    np.testing.assert_allclose(fast(params), reference(params, read), atol=1e-6)
    assert float(jnp.abs(fast(params)[3]).max()) == 0.0
    weights = jax.random.normal(jax.random.PRNGKey(9), (5, 12))
    g_fast = jax.grad(lambda p: (fast(p) * weights).sum())(params)
    g_ref = jax.grad(lambda p: (reference(p, read) * weights).sum())(params)
    for a, b in zip(jax.tree_util.tree_leaves(g_fast), jax.tree_util.tree_leaves(g_ref)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  with pytest.raises(ValueError, match="read="):
    StackedBiLSTM(6, read="middle").init(jax.random.PRNGKey(0), x, mask)
