"""Max pooling with the first-maximum gradient (mmer_jax/models/layers/pooling.py)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmer_jax.models.layers import pooling


def _flax_pool(x, k):
  return nn.max_pool(x, (k, k), (k, k))


@pytest.mark.parametrize("shape,k", [((3, 8, 6, 4), 2), ((2, 9, 7, 5), 2), ((2, 3, 11, 10, 2), 2), ((2, 10, 8, 3), 3)])
def test_forward_and_gradient_match_flax_without_ties(shape, k):
  x = jnp.asarray(np.random.default_rng(0).normal(size=shape).astype(np.float32))
  w = jnp.asarray(np.random.default_rng(1).normal(size=_flax_pool(x, k).shape).astype(np.float32))
  np.testing.assert_array_equal(pooling.max_pool(x, k), _flax_pool(x, k))
  ours = jax.grad(lambda x: (pooling.max_pool(x, k) * w).sum())(x)
  flax = jax.grad(lambda x: (_flax_pool(x, k) * w).sum())(x)
  np.testing.assert_allclose(ours, flax, rtol=0, atol=0)
  # Rows and columns past the last full window get nothing.
  assert not np.asarray(ours)[..., (shape[-3] // k) * k:, :, :].any()
  assert not np.asarray(ours)[..., (shape[-2] // k) * k:, :].any()


def test_tied_maximum_gets_the_whole_gradient_at_its_first_position():
  x = jnp.array([[1.0, 3.0, 3.0, 0.0], [3.0, 3.0, 2.0, 2.0]]).reshape(1, 2, 4, 1)
  g = jax.grad(lambda x: (pooling.max_pool(x, 2) * jnp.array([10.0, 20.0]).reshape(1, 1, 2, 1)).sum())(x)
  # Window 1: maxima at (0,1), (1,0), (1,1): row-major first is (0,1). Window 2: (0,2) is first.
  np.testing.assert_array_equal(np.asarray(g)[0, ..., 0], [[0, 10, 20, 0], [0, 0, 0, 0]])


def test_gradient_temporaries_are_a_fraction_of_flax():
  x = jax.ShapeDtypeStruct((8, 48, 48, 32), jnp.float32)

  def temp_bytes(pool):
    return jax.jit(jax.grad(lambda x: pool(x).sum())).lower(x).compile().memory_analysis().temp_size_in_bytes

  assert temp_bytes(lambda x: pooling.max_pool(x, 2)) < temp_bytes(lambda x: _flax_pool(x, 2)) / 3
