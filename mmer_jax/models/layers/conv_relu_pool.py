"""Conv (few input channels, 'SAME', stride 1) -> bias -> ReLU -> k x k max-pool, as one expression.

A stem convolution on one-channel input, such as seed 004's MoCap head (a 3x3 Conv2D(256) on a
(200, 189, 1) frame map, then a 2x2 max-pool), is a poor convolution for XLA:CPU: with 9 values per
output position it ran at 4 GFLOP/s, and its (100, 200, 189, 256) output, 3.9 GB at batch 100, is
written, pooled and, in training, scattered back and read again.

Here each pooled output is the maximum of its window's k*k conv outputs, and each conv output is a
sum of kernel-area x input-channel products of strided input slices: XLA fuses it into one
elementwise loop that never stores the full-resolution map. ReLU commutes with the maximum, so
relu(max) equals max(relu), the reference order. At batch 100 on a 2-core EPYC, with launch.py's
malloc tunables (benchmarks/conv_relu_pool.py): forward 1.10 -> 0.20 s, forward + gradients
3.03 -> 0.51 s; the whole MoCap head's peak memory in `vs_originals.py` 11.95 -> 5.03 GB.

The gradient is written by hand (`jax.custom_vjp`): the forward pass keeps, per pooled output, which
window offset won (int8; -1 where the ReLU cut it). Ties go to the first offset in row-major order,
as `layers/pooling.py` (PyTorch's and TensorFlow's rule). The kernel gradient is one GEMM per
offset, patches^T @ (the gradient where that offset won); the input gradient, needed only when the
block is not the first layer, scatters the same products back (XLA drops it when unused).

Only for what it is fast at: stride 1, odd kernel with 'SAME' padding, window == stride pooling with
'VALID' padding, and few input channels (`FEW_CHANNELS`); `nn.Conv` + `pooling.max_pool` otherwise.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax import batch as batch_lib
from mmer_jax.models import precision

# Past this many values per output position (kernel area x input channels) a convolution is a
# good GEMM and XLA's own is faster than an elementwise sum of that many products.
FEW_CHANNELS = 27
# Output positions per step of the kernel gradient's scan: one offset's masked gradient of that many
# positions x 256 features (~4 MB) stays in cache between its mask and its GEMM.
CHUNK_POSITIONS = 4096


def is_few_channel(kernel_size: Sequence[int], in_channels: int) -> bool:
  return kernel_size[0] * kernel_size[1] * in_channels <= FEW_CHANNELS


def conv_relu_pool(x: jax.Array, kernel: jax.Array, bias: jax.Array, window: int = 2) -> jax.Array:
  """(B, H, W, C) x (kh, kw, C, F) + (F,) -> (B, H // window, W // window, F)."""
  kh, kw = kernel.shape[:2]
  if kh % 2 == 0 or kw % 2 == 0:
    raise ValueError(f"conv_relu_pool takes odd kernels ('SAME' padding is then symmetric); got {kh}x{kw}.")
  return _block(window)(x, kernel, bias)


def _padded(x: jax.Array, kernel_shape) -> jax.Array:
  kh, kw = kernel_shape[:2]
  return jnp.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))


def _tap_slices(kernel_shape, window: int, out_hw, py: int, px: int):
  """For window offset (py, px): each (dy, dx, c) tap's (rows, cols, channel) index into the padded
  input, in the order of `kernel.reshape(-1, F)`'s rows."""
  kh, kw, channels = kernel_shape[:3]
  oh, ow = out_hw
  for dy in range(kh):
    for dx in range(kw):
      rows = slice(py + dy, py + dy + window * oh, window)
      cols = slice(px + dx, px + dx + window * ow, window)
      for c in range(channels):
        yield rows, cols, c


def _taps(xp: jax.Array, kernel_shape, window: int, out_hw, py: int, px: int):
  """Each tap's input values for window offset (py, px), (B, oh, ow) each."""
  for rows, cols, c in _tap_slices(kernel_shape, window, out_hw, py, px):
    yield xp[:, rows, cols, c]


def _pre_activations(x, kernel, bias, window):
  """The conv output + bias at each of the window's offsets, row-major: a list of (B, oh, ow, F).
  Sums in float32 whatever the compute dtype, as a convolution accumulates."""
  out_hw = (x.shape[1] // window, x.shape[2] // window)
  xp = precision.at_least_float32(_padded(x, kernel.shape))
  flat = precision.at_least_float32(kernel.reshape(-1, kernel.shape[-1]))
  outs = []
  for py in range(window):
    for px in range(window):
      acc = precision.at_least_float32(bias)
      for tap, values in enumerate(_taps(xp, kernel.shape, window, out_hw, py, px)):
        acc = acc + values[..., None] * flat[tap]
      outs.append(acc)
  return outs


def _forward(x, kernel, bias, window):
  outs = _pre_activations(x, kernel, bias, window)
  best, winner = outs[0], jnp.zeros(outs[0].shape, jnp.int8)
  for offset, candidate in enumerate(outs[1:], start=1):
    better = candidate > best  # strictly greater: the first maximum keeps its place
    best = jnp.where(better, candidate, best)
    winner = jnp.where(better, jnp.int8(offset), winner)
  winner = jnp.where(best > 0, winner, jnp.int8(-1))  # ReLU: no gradient where the maximum is <= 0
  return jax.nn.relu(best).astype(x.dtype), winner


@functools.cache
def _block(window: int):
  @jax.custom_vjp
  def block(x, kernel, bias):
    return _forward(x, kernel, bias, window)[0]

  def fwd(x, kernel, bias):
    y, winner = _forward(x, kernel, bias, window)
    return y, (x, kernel, winner)

  def bwd(res, g):
    x, kernel, winner = res
    return _backward(x, kernel, winner, g, window)

  block.defvjp(fwd, bwd)
  return block


def _backward(x, kernel, winner, g, window):
  batch, oh, ow, features = g.shape
  xp = _padded(x, kernel.shape)
  offsets = [(py, px) for py in range(window) for px in range(window)]
  patches = jnp.stack([jnp.stack(list(_taps(xp, kernel.shape, window, (oh, ow), py, px)), axis=-1)
                       for py, px in offsets])                        # (offsets, B, oh, ow, taps)
  d_flat, d_bias = _kernel_and_bias_gradient(patches, winner, g)
  flat = kernel.reshape(-1, features)
  d_xp = jnp.zeros(xp.shape, x.dtype)
  for offset, (py, px) in enumerate(offsets):
    d_patches = jnp.dot(jnp.where(winner == offset, g, 0), flat.T)   # (B, oh, ow, taps)
    d_xp = _scatter_taps(d_xp, d_patches, kernel.shape, window, (oh, ow), py, px)
  kh, kw = kernel.shape[:2]
  d_x = d_xp[:, kh // 2:kh // 2 + x.shape[1], kw // 2:kw // 2 + x.shape[2]]
  return d_x, d_flat.reshape(kernel.shape).astype(kernel.dtype), d_bias.astype(kernel.dtype)


def _kernel_and_bias_gradient(patches, winner, g):
  """sum over positions of patches^T @ (g where that offset won), and of g where any did, in a scan
  over cache-sized chunks of rows: done whole, each offset's masked copy of g (1 GB at batch 100) is
  written out and read back, 0.31 s each against 0.09 s for its GEMM (EPYC, 2 cores)."""
  offsets, taps, features = patches.shape[0], patches.shape[-1], g.shape[-1]
  rows, width = g.shape[0] * g.shape[1], g.shape[2]
  per_chunk = batch_lib.largest_part(rows, width, CHUNK_POSITIONS)
  chunks = rows // per_chunk
  patches = patches.reshape(offsets, chunks, per_chunk * width, taps).swapaxes(0, 1)
  g = g.reshape(chunks, per_chunk * width, features)
  winner = winner.reshape(chunks, per_chunk * width, features)

  def one_chunk(totals, chunk):
    p, g_here, won = chunk
    d_kernel = totals[0] + jnp.stack([
        jnp.dot(p[o].T, jnp.where(won == o, g_here, 0), preferred_element_type=jnp.float32)
        for o in range(offsets)])
    d_bias = totals[1] + jnp.where(won >= 0, g_here, 0).sum(axis=0, dtype=jnp.float32)
    return (d_kernel, d_bias), None

  init = (jnp.zeros((offsets, taps, features), jnp.float32), jnp.zeros((features,), jnp.float32))
  (d_kernel, d_bias), _ = jax.lax.scan(one_chunk, init, (patches, g, winner))
  return d_kernel.sum(axis=0), d_bias


def _scatter_taps(d_xp, d_patches, kernel_shape, window, out_hw, py, px):
  for tap, (rows, cols, c) in enumerate(_tap_slices(kernel_shape, window, out_hw, py, px)):
    d_xp = d_xp.at[:, rows, cols, c].add(d_patches[..., tap])
  return d_xp


class ConvReluPool(nn.Module):
  """`nn.Conv(features, kernel_size, padding='SAME')` -> ReLU -> `pooling.max_pool(window)`, with
  `nn.Conv`'s parameters (names, shapes, initialisers), so checkpoints and initial values are the
  same as the unfused layers'."""

  features: int
  kernel_size: Sequence[int] = (3, 3)
  window: int = 2
  kernel_init: Any = nn.initializers.glorot_uniform()
  bias_init: Any = nn.initializers.zeros
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", self.kernel_init, (*self.kernel_size, x.shape[-1], self.features))
    bias = self.param("bias", self.bias_init, (self.features,))
    dtype = self.dtype or jnp.result_type(x, kernel)
    return conv_relu_pool(precision.cast(x, dtype), kernel.astype(dtype), bias.astype(dtype), self.window)
