"""`conv_relu_pool`: the fused stem equals conv -> ReLU -> `pooling.max_pool` in value and gradients,
ties and ReLU-cut windows included, and seed 004's MoCap head keeps its parameters and outputs."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmer_jax.models import ssl_fusion
from mmer_jax.models.layers import conv_relu_pool, pooling


def reference(x, kernel, bias, window=2):
  conv = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return pooling.max_pool(jax.nn.relu(conv + bias), window)


def grads(fn, x, kernel, bias, cotangent):
  return jax.grad(lambda *a: (fn(*a) * cotangent).sum(), argnums=(0, 1, 2))(x, kernel, bias)


@pytest.mark.parametrize("x_shape,kernel_hw,features,window", [
    ((3, 9, 7, 1), (3, 3), 5, 2),     # odd sizes: the last row / column is outside every window
    ((2, 8, 10, 2), (3, 3), 4, 2),
    ((2, 9, 9, 1), (5, 5), 3, 3),
    ((1, 200, 189, 1), (3, 3), 8, 2),  # the MoCap frame map, few features
])
def test_values_and_gradients_match_the_unfused_layers(x_shape, kernel_hw, features, window):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=x_shape).astype(np.float32))
  kernel = jnp.asarray(rng.normal(size=(*kernel_hw, x_shape[-1], features)).astype(np.float32))
  # A bias that puts a fifth of each channel's window maxima below zero: the ReLU cuts them.
  conv = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  maxima = jnp.sort(nn.max_pool(conv, (window, window), (window, window)).reshape(-1, features), axis=0)
  fifth = maxima.shape[0] // 5
  bias = -(maxima[fifth] + maxima[fifth + 1]) / 2  # halfway between two maxima: no sum lands on 0
  expected = reference(x, kernel, bias, window)
  assert float((expected == 0).mean()) > 0.05  # the ReLU cut some windows: their gradient is zero
  np.testing.assert_allclose(conv_relu_pool.conv_relu_pool(x, kernel, bias, window), expected, atol=2e-5)
  cotangent = jnp.asarray(rng.normal(size=expected.shape).astype(np.float32))
  ours = grads(lambda *a: conv_relu_pool.conv_relu_pool(*a, window), x, kernel, bias, cotangent)
  theirs = grads(lambda *a: reference(*a, window), x, kernel, bias, cotangent)
  for name, a, b in zip(("x", "kernel", "bias"), ours, theirs):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.abs(b).max()), err_msg=name)


def test_ties_send_the_gradient_to_the_first_maximum():
  # Input constant over each 2x2 window and a kernel whose centre tap is 1 and the rest tiny: the four
  # candidates of a window are equal, so each window ties; the gradient must go to the first
  # (row-major), as pooling.max_pool sends it.
  blocks = np.random.default_rng(2).uniform(1, 2, size=(1, 4, 4, 1)).astype(np.float32)
  x = jnp.asarray(np.kron(blocks, np.ones((1, 2, 2, 1), np.float32)))
  kernel = jnp.zeros((3, 3, 1, 2)).at[1, 1].set(1.0)
  bias = jnp.zeros(2)
  assert bool((conv_relu_pool.conv_relu_pool(x, kernel, bias)[..., 0] == blocks[..., 0]).all())
  cotangent = jnp.asarray(np.random.default_rng(3).normal(size=(1, 4, 4, 2)).astype(np.float32))
  ours = grads(conv_relu_pool.conv_relu_pool, x, kernel, bias, cotangent)
  theirs = grads(reference, x, kernel, bias, cotangent)
  for a, b in zip(ours, theirs):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # Independently: the kernel gradient of a plain convolution whose output gradient sits at each
  # window's first position, and not at its last (which would give a different kernel gradient).
  def kernel_gradient_with_cotangent_at(row, col):
    full = jnp.zeros((1, 8, 8, 2)).at[:, row::2, col::2].set(cotangent)
    conv = lambda k: jax.lax.conv_general_dilated(  # noqa: E731
        x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jax.vjp(conv, kernel)[1](full)[0]

  np.testing.assert_allclose(ours[1], kernel_gradient_with_cotangent_at(0, 0), rtol=1e-5, atol=1e-6)
  assert not np.allclose(ours[1], kernel_gradient_with_cotangent_at(1, 1), atol=1e-3)


def test_even_kernels_are_refused():
  with pytest.raises(ValueError, match="odd kernels"):
    conv_relu_pool.conv_relu_pool(jnp.ones((1, 4, 4, 1)), jnp.ones((2, 2, 1, 1)), jnp.zeros(1))


@pytest.mark.parametrize("kind", ["cnn"])  # cnn_lstm shares the conv stack
def test_mocap_head_keeps_parameters_and_outputs(kind):
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 24, 21, 1)).astype(np.float32))  # small frames: fast
  fused, unfused = (ssl_fusion.MocapUnimodalHead(kind, fused_stem=f) for f in (True, False))
  params = unfused.init(jax.random.key(0), x)
  assert jax.tree_util.tree_all(jax.tree_util.tree_map(
      lambda a, b: a.shape == b.shape and bool((a == b).all()), fused.init(jax.random.key(0), x), params))
  np.testing.assert_allclose(fused.apply(params, x), unfused.apply(params, x), rtol=1e-5, atol=1e-5)
  g_fused, g_unfused = (jax.grad(lambda p, m=m: m.apply(p, x).sum())(params) for m in (fused, unfused))
  stem = lambda g: g["params"]["conv0"]["kernel"]  # noqa: E731
  np.testing.assert_allclose(stem(g_fused), stem(g_unfused), rtol=1e-3, atol=1e-3 * float(jnp.abs(stem(g_unfused)).max()))


def test_many_input_channels_stay_with_xla():
  assert conv_relu_pool.is_few_channel((3, 3), 1) and conv_relu_pool.is_few_channel((3, 3), 3)
  assert not conv_relu_pool.is_few_channel((3, 3), 256)


def test_bfloat16_inputs_give_bfloat16_outputs_summed_in_float32():
  rng = np.random.default_rng(4)
  x = jnp.asarray(rng.normal(size=(2, 8, 8, 1)).astype(np.float32))
  kernel = jnp.asarray(rng.normal(size=(3, 3, 1, 4)).astype(np.float32))
  bias = jnp.zeros(4)
  as_bf16 = lambda a: a.astype(jnp.bfloat16)  # noqa: E731
  out = conv_relu_pool.conv_relu_pool(as_bf16(x), as_bf16(kernel), as_bf16(bias))
  assert out.dtype == jnp.bfloat16
  # The float32 result of the same (bfloat16-rounded) values, rounded once at the end.
  exact = reference(as_bf16(x).astype(jnp.float32), as_bf16(kernel).astype(jnp.float32), bias)
  np.testing.assert_array_equal(out, exact.astype(jnp.bfloat16))
  g = jax.grad(lambda k: conv_relu_pool.conv_relu_pool(as_bf16(x), k, as_bf16(bias)).astype(jnp.float32).sum())(
      as_bf16(kernel))
  assert g.dtype == jnp.bfloat16 and bool(jnp.isfinite(g.astype(jnp.float32)).all())
