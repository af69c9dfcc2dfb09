"""1-D convolution over (batch, length, channels) written as matrix products.

Same parameters as `flax.linen.Conv` with `use_bias=False` (one `kernel` of shape (K, C_in, F),
same initialiser call, so checkpoints and initial values are interchangeable) and PyTorch's
symmetric padding of K // 2 on both sides, so Conv1d(k, stride s, padding k // 2) maps onto it.

Why not `nn.Conv`: XLA:CPU computes a convolution's weight gradient as another convolution with
batch and features swapped, and transposes every activation into that layout first. In seed 003's
ResNet1D those transposes (with the BatchNorm recompute fused in) took ~45% of a training step.
Written as GEMMs, both gradients are plain (transposed-operand) matrix products:

- stride 1: one GEMM x @ [W_0 | ... | W_{K-1}] (N = K * F), then y[l] = sum_k z_k[l + k - K//2]
  as shifted adds in one elementwise pass;
- other strides: one GEMM per tap on the strided slice of the padded input.

tests/test_layers_conv1d.py holds outputs and gradients equal to `nn.Conv`;
benchmarks/zoo1_throughput.py times the ResNet1D (31.5-34 -> 39.4-42.7 samples/s on this host).
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


def _shift(z: jax.Array, offset: int) -> jax.Array:
  """out[:, l] = z[:, l + offset], zero where l + offset falls outside [0, L)."""
  if offset == 0:
    return z
  length = z.shape[1]
  if offset > 0:
    return jnp.pad(z[:, offset:], ((0, 0), (0, offset), (0, 0)))
  return jnp.pad(z[:, :length + offset], ((0, 0), (-offset, 0), (0, 0)))


class Conv1D(nn.Module):
  """Conv1d without bias: (B, L, C_in) -> (B, L_out, F), L_out = (L + 2 (K//2) - K) // stride + 1."""

  features: int
  kernel_size: int
  stride: int = 1
  kernel_init: Callable = nn.initializers.lecun_normal()
  dtype: Any = None  # compute dtype; the kernel parameter stays float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    batch, length, channels = x.shape
    size, pad = self.kernel_size, self.kernel_size // 2
    kernel = self.param("kernel", self.kernel_init, (size, channels, self.features))
    x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
    if self.stride == 1 and size > 1 and size % 2 == 1:
      taps = x.reshape(-1, channels) @ jnp.concatenate(list(kernel), axis=-1)   # (B*L, K*F)
      taps = taps.reshape(batch, length, size, self.features)
      return sum(_shift(taps[:, :, k], k - pad) for k in range(size))
    padded = jnp.pad(x, ((0, 0), (pad, pad), (0, 0))) if pad else x
    out_length = (length + 2 * pad - size) // self.stride + 1
    y = 0.0
    for k in range(size):
      tap = jax.lax.slice(padded, (0, k, 0), (batch, k + (out_length - 1) * self.stride + 1, channels),
                          (1, self.stride, 1))
      y = y + tap.reshape(-1, channels) @ kernel[k]
    return y.reshape(batch, out_length, self.features)
