"""mmer_jax's hash-based dropout (mmer_jax/models/layers/dropout.py): Flax's semantics, a fair mask."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmer_jax.models.layers.dropout import Dropout, attention_with_fast_dropout, dropout, keep_mask


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.2])
def test_the_mask_keeps_the_right_share_without_structure(keep):
  mask = np.asarray(jax.jit(lambda k: keep_mask(k, keep, (256, 513)))(jax.random.key(3)))
  n = mask.size
  assert abs(mask.mean() - keep) < 4 * np.sqrt(keep * (1 - keep) / n)  # within 4 standard errors
  # No striping along either axis: row and column means stay near keep.
  assert np.abs(mask.mean(1) - keep).max() < 6 * np.sqrt(keep * (1 - keep) / mask.shape[1])
  assert np.abs(mask.mean(0) - keep).max() < 6 * np.sqrt(keep * (1 - keep) / mask.shape[0])
  # Neighbours are independent: P(both kept) ~ keep^2.
  both = (mask[:, 1:] & mask[:, :-1]).mean()
  assert abs(both - keep * keep) < 0.01


def test_masks_depend_on_the_key_and_are_reproducible():
  a = keep_mask(jax.random.key(0), 0.5, (64, 64))
  b = keep_mask(jax.random.key(0), 0.5, (64, 64))
  c = keep_mask(jax.random.key(1), 0.5, (64, 64))
  np.testing.assert_array_equal(a, b)
  assert 0.35 < float((a != c).mean()) < 0.65


def test_inverted_scaling_and_the_edge_rates():
  x = jnp.ones((1000, 100))
  y = dropout(x, 0.25, jax.random.key(0), False)
  kept = np.asarray(y) != 0
  np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.75, rtol=1e-6)
  assert abs(float(y.mean()) - 1.0) < 0.01  # expectation preserved
  np.testing.assert_array_equal(dropout(x, 0.25, None, True), x)
  np.testing.assert_array_equal(dropout(x, 0.0, jax.random.key(0), False), x)
  np.testing.assert_array_equal(dropout(x, 1.0, jax.random.key(0), False), 0.0)


def test_the_module_follows_flax_dropout_conventions():
  x = jnp.ones((8, 32))
  module = Dropout(0.5)
  np.testing.assert_array_equal(module.apply({}, x, deterministic=True), x)
  y = module.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(1)})
  assert 0 < float((y == 0).mean()) < 1
  with pytest.raises(Exception):  # no 'dropout' rng when not deterministic
    module.apply({}, x, deterministic=False)


def test_attention_equals_flax_without_dropout_and_drops_weights_with_it():
  rng = np.random.default_rng(0)
  q, k, v = (jnp.asarray(rng.normal(size=(2, 7, 3, 4)), jnp.float32) for _ in range(3))
  mask = jnp.asarray(rng.uniform(size=(2, 1, 7, 7)) > 0.2)
  ours = attention_with_fast_dropout(q, k, v, mask=mask, deterministic=True)
  np.testing.assert_allclose(ours, nn.dot_product_attention(q, k, v, mask=mask, deterministic=True), atol=1e-6)
  dropped = attention_with_fast_dropout(q, k, v, mask=mask, dropout_rng=jax.random.key(0), dropout_rate=0.5,
                                        broadcast_dropout=False, deterministic=False)
  assert not np.allclose(dropped, ours)
  with pytest.raises(ValueError, match="broadcast_dropout"):
    attention_with_fast_dropout(q, k, v, dropout_rng=jax.random.key(0), dropout_rate=0.5, deterministic=False)
