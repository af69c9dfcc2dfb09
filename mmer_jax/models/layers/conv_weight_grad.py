"""A drop-in `lax.conv_general_dilated` for `nn.Conv` whose kernel gradient is matrix products.

XLA:CPU computes a convolution's kernel gradient as another convolution with batch and features
swapped, after transposing the activations into that layout. Alone, that gradient ran at 7-69
GFLOP/s on this project's layer shapes; it was 37% of seed 004's MoCap training step
(`benchmarks/profile_step.py`). Written as GEMMs that contract over every output position,
d kernel = sum_positions patch(x)^T @ dy, the kernel gradient alone ran 1.1-4.4x faster on those
shapes:

- few input values per output position (kernel area x input channels <= 128, e.g. a 3x3 or 5x5
  stem on one-channel or RGB input): one GEMM on the patch matrix, whose width is that product;
- otherwise one GEMM per kernel tap, on the strided slice of the padded input the tap reads.

Seed 004's MoCap convolutions use it (training step at batch 20: 6.2 -> 3.6 s). MME2E and MESM do
not: there XLA's convolution in 16-item calls (`mme2e.CONV_CHUNK`) was faster on 5 of 7 layers
(`benchmarks/conv_weight_grad.py` compares the three).

The forward pass and the input gradient stay XLA's own. Parameters, values and initialisation are
`nn.Conv`'s; use it as `nn.Conv(..., conv_general_dilated=conv_general_dilated)`. Grouped or
dilated convolutions and layouts other than Flax's (N, spatial..., C) x (spatial..., C_in, C_out)
fall back to `lax.conv_general_dilated` unchanged.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from mmer_jax import batch as batch_lib

# Above this many values per output position, the patch matrix would be large; take taps one by one.
PATCH_WIDTH_LIMIT = 128
# Output positions per scan step of the output-patch kernel gradient (one item at least).
OUTPUT_PATCH_POSITIONS = 4096


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int], padding: Any,
                         lhs_dilation: Optional[Sequence[int]] = None,
                         rhs_dilation: Optional[Sequence[int]] = None, dimension_numbers: Any = None,
                         feature_group_count: int = 1, batch_group_count: int = 1,
                         precision: Any = None, preferred_element_type: Any = None) -> jax.Array:
  spatial = lhs.ndim - 2
  plain = (feature_group_count == 1 and batch_group_count == 1 and preferred_element_type is None
           and all(d == 1 for d in (lhs_dilation or (1,) * spatial))
           and all(d == 1 for d in (rhs_dilation or (1,) * spatial))
           and _is_channels_last(lhs.shape, rhs.shape, dimension_numbers))
  if not plain:
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                    dimension_numbers, feature_group_count, batch_group_count,
                                    precision, preferred_element_type)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:-1], rhs.shape[:-2], window_strides, padding)
  return _conv(lhs, rhs, tuple(int(s) for s in window_strides),
               tuple((int(lo), int(hi)) for lo, hi in padding), precision)


def _is_channels_last(lhs_shape, rhs_shape, dimension_numbers) -> bool:
  spatial = len(lhs_shape) - 2
  dn = lax.conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
  channels_last = (0, spatial + 1) + tuple(range(1, spatial + 1))
  kernel_last = (spatial + 1, spatial) + tuple(range(spatial))
  return tuple(dn.lhs_spec) == channels_last == tuple(dn.out_spec) and tuple(dn.rhs_spec) == kernel_last


def _dimension_numbers(spatial: int):
  letters = "HWDXYZ"[:spatial]
  return ("N" + letters + "C", letters + "IO", "N" + letters + "C")


def _xla_conv(x, kernel, strides, padding, precision):
  return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=_dimension_numbers(x.ndim - 2),
                                  precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv(x, kernel, strides, padding, precision):
  return _xla_conv(x, kernel, strides, padding, precision)


def _conv_forward(x, kernel, strides, padding, precision):
  return _xla_conv(x, kernel, strides, padding, precision), (x, kernel)


def _conv_backward(strides, padding, precision, residuals, dy):
  x, kernel = residuals
  # Input gradient: XLA's transposed convolution (dead code, and removed, when x is data).
  _, input_vjp = jax.vjp(lambda x: _xla_conv(x, kernel, strides, padding, precision), x)
  (dx,) = input_vjp(dy)
  return dx, _kernel_gradient(x, dy, kernel.shape, strides, padding, precision)


_conv.defvjp(_conv_forward, _conv_backward)


def _kernel_gradient(x, dy, kernel_shape, strides, padding, precision) -> jax.Array:
  window, (c_in, c_out) = kernel_shape[:-2], kernel_shape[-2:]
  if _uses_output_patches(kernel_shape, strides, padding):
    return _kernel_gradient_from_output_patches(x, dy, kernel_shape, padding, precision)
  padded = jnp.pad(x, ((0, 0), *padding, (0, 0)))
  out_spatial = dy.shape[1:-1]
  extent = tuple(s * (n - 1) + 1 for s, n in zip(strides, out_spatial))  # input span one tap reads
  dy_rows = dy.reshape(-1, c_out)
  contract = (((0,), (0,)), ((), ()))

  def tap(offset):  # the input values kernel position `offset` meets, one row per output position
    span = lax.dynamic_slice(padded, (0, *offset, 0), (x.shape[0], *extent, c_in))
    return lax.slice(span, (0,) * x.ndim, span.shape, (1, *strides, 1)).reshape(-1, c_in)

  offsets = list(itertools.product(*(range(k) for k in window)))
  if len(offsets) * c_in <= PATCH_WIDTH_LIMIT:
    patches = jnp.concatenate([tap(o) for o in offsets], axis=-1)
    return lax.dot_general(patches, dy_rows, contract, precision=precision).reshape(kernel_shape)

  # One tap per loop iteration, so that only one input-sized slice exists at a time. Unrolled, XLA
  # scheduled all nine 3x3 slices together (+7 GB for seed 004's MoCap head at batch 100; an
  # optimisation barrier or a data dependence between taps kept 2.5-7 GB of that and ran slower).
  # XLA's cost analysis counts a loop body once: benchmarks that report FLOPs compile the model with
  # XLA's own kernel gradient for the count (`gemm_kernel_gradient=False`).
  table = jnp.asarray(offsets, jnp.int32)

  def one_tap(t, grads):
    grad = lax.dot_general(tap(tuple(table[t])), dy_rows, contract, precision=precision)
    return lax.dynamic_update_index_in_dim(grads, grad.astype(grads.dtype), t, 0)

  grads = lax.fori_loop(0, len(offsets), one_tap, jnp.zeros((len(offsets), c_in, c_out), x.dtype))
  return grads.reshape(kernel_shape)


def _uses_output_patches(kernel_shape, strides, padding) -> bool:
  """2-D, stride 1, output as large as the input, and fewer output than input channels."""
  window, (c_in, c_out) = kernel_shape[:-2], kernel_shape[-2:]
  return (len(window) == 2 and all(s == 1 for s in strides) and c_out < c_in
          and all(lo + hi == k - 1 for (lo, hi), k in zip(padding, window)))


def _kernel_gradient_from_output_patches(x, dy, kernel_shape, padding, precision) -> jax.Array:
  """d kernel[a, b] = sum_p x[p] dy[p - (a, b) + lo]: the patches are cut from the output gradient,
  the narrower side, and the input is read in place. Per tap, the loop above copies an input-sized
  slice and runs a GEMM of only c_in x c_out outputs over every position (seed 004's 256 -> 128
  layer at batch 100: 940,000 positions, 47% of the peak); here each scan step contracts one chunk
  of items' positions into all taps at once, (taps x c_out) x c_in outputs: 5.5 -> 4.3 s on that
  layer, the head's whole gradient 19.4 -> 18.6 s (2-core EPYC). With as many output as input
  channels it gained nothing (102 against 107-114 GFLOP/s), so those layers keep the loop."""
  (kh, kw), (c_in, c_out) = kernel_shape[:2], kernel_shape[2:]
  n, h, w = x.shape[:3]
  (lo_h, hi_h), (lo_w, hi_w) = padding
  padded = jnp.pad(dy, ((0, 0), (hi_h, lo_h), (hi_w, lo_w), (0, 0)))
  items = batch_lib.largest_part(n, h * w, OUTPUT_PATCH_POSITIONS)
  contract = (((0,), (0,)), ((), ()))

  def one_chunk(total, i):
    dy_block = lax.dynamic_slice_in_dim(padded, i * items, items, 0)
    x_rows = lax.dynamic_slice_in_dim(x, i * items, items, 0).reshape(-1, c_in)
    # Tap (a, b) meets dy at p - (a, b) + lo, i.e. at p + (k - 1 - a, k - 1 - b) of the padded dy.
    patches = jnp.concatenate([dy_block[:, kh - 1 - a:kh - 1 - a + h, kw - 1 - b:kw - 1 - b + w]
                               for a in range(kh) for b in range(kw)], axis=-1).reshape(-1, kh * kw * c_out)
    return total + lax.dot_general(patches, x_rows, contract, precision=precision,
                                   preferred_element_type=jnp.float32), None

  total, _ = lax.scan(one_chunk, jnp.zeros((kh * kw * c_out, c_in), jnp.float32), jnp.arange(n // items))
  return total.reshape(kh, kw, c_out, c_in).swapaxes(-1, -2).astype(x.dtype)

