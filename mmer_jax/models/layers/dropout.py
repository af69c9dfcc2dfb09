"""Dropout whose mask costs one fused elementwise pass instead of a threefry stream per element.

`flax.linen.Dropout` draws every mask element with `jax.random.bernoulli`, i.e. threefry2x32 (20
rounds of 32-bit arithmetic per pair of elements). XLA:CPU runs that at ~15 ns per element: a
(14432, 2048) feed-forward activation (LF-Transformer's audio branch at batch 32) took 440 ms to mask
against 50 ms for a plain elementwise op, a third of the training step (benchmarks/profile_step.py).

Here threefry draws only two 32-bit words per call; each element's bits are a counter-based hash of
its flat index and those words (two rounds of the murmur3 finaliser, which XLA fuses with the
multiply by the mask). An element is kept when its 32 hash bits fall below keep * 2^32, so the keep
probability is exact to 2^-32. The mask is a deterministic function of the dropout key, like
Flax's, so runs stay reproducible and restartable; the stream differs from Flax's.
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _fmix32(h: jax.Array) -> jax.Array:
  h = h ^ (h >> 16)
  h = h * jnp.uint32(0x85EBCA6B)
  h = h ^ (h >> 13)
  h = h * jnp.uint32(0xC2B2AE35)
  return h ^ (h >> 16)


def keep_mask(key: jax.Array, keep_prob: float, shape: tuple[int, ...]) -> jax.Array:
  """A bool mask of `shape`, each element True with probability `keep_prob`, from `key`."""
  threshold = np.uint64(round(keep_prob * 2**32))
  if threshold >= 2**32:
    return jnp.ones(shape, bool)
  seed = jax.random.bits(key, (2,), jnp.uint32)
  index = jnp.zeros(shape, jnp.uint32)
  stride = 1
  for axis in reversed(range(len(shape))):  # the row-major flat index (mod 2^32)
    index = index + jax.lax.broadcasted_iota(jnp.uint32, shape, axis) * jnp.uint32(stride % 2**32)
    stride *= shape[axis]
  bits = _fmix32(_fmix32(index * jnp.uint32(0x9E3779B9) + seed[0]) ^ seed[1])
  return bits < jnp.uint32(threshold)


def dropout(x: jax.Array, rate: float, key: Optional[jax.Array], deterministic: bool) -> jax.Array:
  """Inverted dropout: zero with probability `rate`, scale the rest by 1 / (1 - rate)."""
  if deterministic or rate == 0.0:
    return x
  if rate >= 1.0:
    return jnp.zeros_like(x)
  keep = 1.0 - rate
  return jnp.where(keep_mask(key, keep, x.shape), x / jnp.asarray(keep, x.dtype), jnp.zeros((), x.dtype))


class Dropout(nn.Module):
  """`flax.linen.Dropout`'s interface (rate, deterministic, the 'dropout' rng collection)."""

  rate: float
  deterministic: Optional[bool] = None
  rng_collection: str = "dropout"

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: Optional[bool] = None) -> jax.Array:
    deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
    if deterministic or self.rate == 0.0:
      return x
    return dropout(x, self.rate, self.make_rng(self.rng_collection), False)


def attention_with_fast_dropout(query, key, value, bias=None, mask=None, broadcast_dropout=True, dropout_rng=None,
                                dropout_rate=0.0, deterministic=False, dtype=None, precision=None,
                                force_fp32_for_softmax=False, **kwargs):
  """`nn.dot_product_attention` with the attention weights dropped out by `dropout` (per weight;
  `broadcast_dropout` is not supported), for `MultiHeadDotProductAttention(attention_fn=...)`.
  `force_fp32_for_softmax`: the softmax in float32 under a narrower `dtype`, the weights then back
  in the values' dtype (so weights @ values stays a `dtype` matmul)."""
  del kwargs  # module etc.: not used by the layers that pass this
  if broadcast_dropout and dropout_rate > 0.0 and not deterministic:
    raise ValueError("attention_with_fast_dropout drops each weight independently; pass broadcast_dropout=False")
  weights = nn.dot_product_attention_weights(query, key, bias, mask, dtype=dtype, precision=precision,
                                             deterministic=True, force_fp32_for_softmax=force_fp32_for_softmax)
  weights = weights.astype(value.dtype)
  weights = dropout(weights, dropout_rate, dropout_rng, deterministic)
  return jnp.einsum("...hqk,...khd->...qhd", weights, value, precision=precision)
