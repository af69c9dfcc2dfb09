"""`conv_weight_grad.conv_general_dilated` inside `nn.Conv`: values and both gradients equal XLA's."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmer_jax.models.layers import conv_weight_grad


@pytest.mark.parametrize("x_shape,kernel,strides,padding,features", [
    ((2, 9, 7, 3), (5, 5), (1, 1), 2, 8),            # few values per position: one patch GEMM
    ((2, 8, 6, 40), (3, 3), (1, 1), "SAME", 6),      # fewer outputs than inputs: output patches
    ((2, 8, 6, 40), (3, 3), (1, 1), "SAME", 48),     # 360 per position: one GEMM per tap
    ((5, 7, 6, 12), (3, 3), (1, 1), ((0, 2), (2, 0)), 4),  # output patches, lopsided padding
    ((3, 40, 40, 8), (3, 3), (1, 1), "SAME", 4),     # output patches, one item per scan step
    ((2, 9, 8, 40), (3, 3), (2, 2), "SAME", 5),      # strided taps, odd size
    ((3, 7, 4, 2), (3, 3), (1, 2), "VALID", 4),
    ((2, 11, 33), (3,), (2,), 1, 7),                 # 1-D
    ((2, 3, 6, 5, 4), (3, 3), (1, 1), 1, 3),         # extra leading batch dimension
])
def test_matches_xla_convolution(x_shape, kernel, strides, padding, features):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=x_shape).astype(np.float32))
  ours = nn.Conv(features, kernel, strides, padding, conv_general_dilated=conv_weight_grad.conv_general_dilated)
  xla = nn.Conv(features, kernel, strides, padding)
  params = xla.init(jax.random.key(0), x)
  assert jax.tree_util.tree_structure(ours.init(jax.random.key(0), x)) == jax.tree_util.tree_structure(params)
  y = xla.apply(params, x)
  cotangent = jnp.asarray(rng.normal(size=y.shape).astype(np.float32))
  np.testing.assert_allclose(ours.apply(params, x), y, rtol=1e-6, atol=1e-6)

  def grads(module):
    return jax.grad(lambda p, x: (module.apply(p, x) * cotangent).sum(), argnums=(0, 1))(params, x)

  (ours_params, ours_x), (xla_params, xla_x) = grads(ours), grads(xla)
  np.testing.assert_allclose(ours_x, xla_x, rtol=1e-5, atol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(ours_params), jax.tree_util.tree_leaves(xla_params)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.abs(b).max()))


def test_grouped_convolution_falls_back_to_xla():
  x = jnp.ones((1, 6, 6, 4))
  conv = nn.Conv(4, (3, 3), feature_group_count=2, conv_general_dilated=conv_weight_grad.conv_general_dilated)
  params = conv.init(jax.random.key(0), x)
  np.testing.assert_allclose(conv.apply(params, x), nn.Conv(4, (3, 3), feature_group_count=2).apply(params, x))


def test_kernel_gradient_needs_no_transposed_activation_copy():
  # XLA's own kernel gradient transposes the activations into (spatial, N, C) first; ours reads
  # them in place, so the compiled gradient has no transpose the size of the input.
  x = jax.ShapeDtypeStruct((8, 32, 32, 64), jnp.float32)
  conv = nn.Conv(64, (3, 3), conv_general_dilated=conv_weight_grad.conv_general_dilated)
  params = jax.eval_shape(conv.init, jax.random.key(0), x)
  text = jax.jit(jax.grad(lambda p, x: conv.apply(p, x).sum())).lower(params, x).compile().as_text()
  assert "f32[32,32,8,64]" not in text and "f32[8,32,32,64]" in text


def test_output_patches_only_where_they_gained():
  pads = ((1, 1), (1, 1))
  assert conv_weight_grad._uses_output_patches((3, 3, 256, 128), (1, 1), pads)     # seed 004's 256 -> 128
  assert not conv_weight_grad._uses_output_patches((3, 3, 128, 128), (1, 1), pads)
  assert not conv_weight_grad._uses_output_patches((3, 3, 256, 128), (2, 2), pads)
  assert not conv_weight_grad._uses_output_patches((3, 3, 256, 128), (1, 1), ((0, 0), (0, 0)))  # VALID
  assert not conv_weight_grad._uses_output_patches((3, 256, 128), (1,), ((1, 1),))  # 1-D

