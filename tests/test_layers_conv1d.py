"""Conv1D (GEMM form) equals flax's nn.Conv with PyTorch padding, in value and gradient."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmer_jax.models.layers.conv1d import Conv1D


@pytest.mark.parametrize("size,stride,length", [(3, 1, 11), (3, 2, 11), (3, 2, 10), (7, 2, 13),
                                                (1, 2, 9), (1, 1, 6), (5, 1, 4)])
def test_matches_nn_conv_in_value_and_gradient(size, stride, length):
  x = jax.random.normal(jax.random.PRNGKey(0), (3, length, 5))
  ours = Conv1D(4, size, stride)
  reference = nn.Conv(4, (size,), strides=(stride,), padding=[(size // 2, size // 2)], use_bias=False)
  params = ours.init(jax.random.PRNGKey(1), x)
  reference_params = reference.init(jax.random.PRNGKey(1), x)
  # Same parameter tree and, for the same key, the same initial values.
  np.testing.assert_array_equal(params["params"]["kernel"], reference_params["params"]["kernel"])
  y, y_ref = ours.apply(params, x), reference.apply(params, x)
  assert y.shape == y_ref.shape == (3, (length + 2 * (size // 2) - size) // stride + 1, 4)
  np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
  weights = jax.random.normal(jax.random.PRNGKey(2), y.shape)
  loss = lambda module: lambda p, x: (module.apply(p, x) * weights).sum()
  grads = jax.grad(loss(ours), argnums=(0, 1))(params, x)
  grads_ref = jax.grad(loss(reference), argnums=(0, 1))(params, x)
  for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(grads_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
