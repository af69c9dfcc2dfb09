"""Max pooling over non-overlapping k x k windows with a gradient XLA:CPU runs fast and small.

`flax.linen.max_pool` differentiates through JAX's generic `reduce_window` rule. On XLA:CPU that
becomes a variadic reduce-window carrying one int32 iota per input dimension, then a scatter: for
SAMSEMO's (256, 48, 48, 64) face maps the gradient took 680 ms and 980 MB of temporaries, and for
seed 004's MoCap head at batch 100 the four (100, 200, 189, 256) iotas alone were 15.5 GB of the
step's 35 GB (benchmarks/originals: out of memory on a 24 GB host).

Every model here pools with window == stride and no padding, so each input element lies in at most
one window. The backward pass then needs only the saved input and output: for each of the k*k
offsets in row-major order, a strided slice of the input is compared with the output, and the
gradient goes to the first element that equals the window's maximum (PyTorch's and TensorFlow's
choice for ties, and JAX's reduce-window rule's; a `jnp.max` over each window would split it).
Elements past the last full window get zero. Same shapes: 105 ms and 38 MB. The forward pass is
Flax's.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp


def max_pool(x: jax.Array, window: int = 2) -> jax.Array:
  """(..., H, W, C) -> (..., H // window, W // window, C); stride == window, 'VALID' padding."""
  return _pool_with_first_max_gradient(window)(x)


def _forward(x: jax.Array, window: int) -> jax.Array:
  return nn.max_pool(x, (window, window), (window, window))


@functools.cache
def _pool_with_first_max_gradient(window: int):
  @jax.custom_vjp
  def pool(x):
    return _forward(x, window)

  def fwd(x):
    y = _forward(x, window)
    return y, (x, y)

  def bwd(res, g):
    x, y = res
    return (_first_max_gradient(x, y, g, window),)

  pool.defvjp(fwd, bwd)
  return pool


def _first_max_gradient(x: jax.Array, y: jax.Array, g: jax.Array, k: int) -> jax.Array:
  *_, h, w, _ = x.shape
  oh, ow = y.shape[-3], y.shape[-2]
  taken = jnp.zeros(y.shape, bool)
  rows = []
  for di in range(k):
    cols = []
    for dj in range(k):
      at_offset = x[..., di:di + k * oh:k, dj:dj + k * ow:k, :]
      first = (at_offset == y) & ~taken
      taken = taken | first
      cols.append(jnp.where(first, g, 0).astype(x.dtype))
    rows.append(jnp.stack(cols, axis=-2))              # (..., oh, ow, k, C)
  windows = jnp.stack(rows, axis=-4)                   # (..., oh, k, ow, k, C)
  gx = windows.reshape(*y.shape[:-3], oh * k, ow * k, y.shape[-1])
  pad = [(0, 0)] * (x.ndim - 3) + [(0, h - oh * k), (0, w - ow * k), (0, 0)]
  return jnp.pad(gx, pad)
