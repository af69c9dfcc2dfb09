"""LSTM layers that honour sequence lengths the way packed sequences do.

- Keras-compatible parameters and init (glorot-uniform input kernel, orthogonal recurrent kernel,
  forget-gate bias 1, gate order i, f, g, o), so parameter counts match Keras and PyTorch
  (PyTorch has two bias vectors per direction; see `LSTM.torch_bias_count`).
- The input projection for all time steps is one matmul outside the scan; only the h @ U recurrence
  runs step by step. On CPU this is the difference between a big GEMM and T small ones.
- With a mask, the state freezes after the last valid step, padded outputs are 0, and the backward
  direction starts at each sequence's own last valid step (masks must be prefixes: valid steps
  first, padding after).
- `dtype` (the compute dtype, mmer_jax/models/precision.py): the input projection, a GEMM over all
  steps, runs in it (`project`); the recurrence, its state and the gate activations stay float32
  (stability over hundreds of steps; the CPU kernel is float32 only), and outputs are cast to `dtype`.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax.models import precision
from mmer_jax.models.layers.dropout import Dropout
from mmer_jax.models.layers.lstm_recurrence import recurrence


def _keras_lstm_bias_init(key, shape, dtype=jnp.float32):
  del key
  units = shape[0] // 4
  return jnp.zeros(shape, dtype).at[units:2 * units].set(1.0)


def project(x: jax.Array, kernel: jax.Array, dtype: Any) -> jax.Array:
  """x (..., F) @ kernel (F, G) as one 2-D GEMM in `dtype`, returned in float32 for the recurrence.
  XLA:CPU ran the weight gradient of the 3-D form (a contraction over both T and B) at half the
  speed (73 vs 37 ms at T*B=32,000, F=256, 4H=512). The product is rounded to `dtype` before the
  cast on purpose: a float32 product (`preferred_element_type`) would make the backward GEMMs
  mixed float32 x `dtype`, which run as float32."""
  flat = precision.at_least_float32(precision.cast(x.reshape(-1, x.shape[-1]), dtype) @ precision.cast(kernel, dtype))
  return flat.reshape(x.shape[:-1] + flat.shape[-1:])


def reverse_valid(x: jax.Array, lengths: jax.Array) -> jax.Array:
  """Reverses each sequence in its first `lengths[b]` steps; padding stays in place."""
  t = jnp.arange(x.shape[1])[None, :]
  idx = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
  idx = idx.reshape(idx.shape + (1,) * (x.ndim - 2))
  return jnp.take_along_axis(x, idx, axis=1)


class LSTM(nn.Module):
  """One LSTM direction over (batch, time, features). Returns (outputs (B,T,U), final h (B,U))."""

  units: int
  reverse: bool = False
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array] = None):
    batch, steps, in_dim = x.shape
    kernel = self.param("kernel", nn.initializers.glorot_uniform(), (in_dim, 4 * self.units))
    recurrent = self.param("recurrent_kernel", nn.initializers.orthogonal(), (self.units, 4 * self.units))
    bias = self.param("bias", _keras_lstm_bias_init, (4 * self.units,))
    if mask is None:
      mask = jnp.ones((batch, steps), bool)
    lengths = mask.sum(axis=1)
    if self.reverse:
      x = reverse_valid(x, lengths)
    gates_x = jnp.einsum("btf,fg->tbg", precision.cast(x, self.dtype), precision.cast(kernel, self.dtype))
    gates_x = precision.at_least_float32(gates_x) + bias  # time-major for the scan

    def step(carry, inputs):
      h, c = carry
      gx, valid = inputs
      i, f, g, o = jnp.split(gx + h @ recurrent, 4, axis=-1)
      c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
      h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
      valid = valid[:, None]
      carry = (jnp.where(valid, h_new, h), jnp.where(valid, c_new, c))
      return carry, jnp.where(valid, h_new, 0.0)

    zeros = jnp.zeros((batch, self.units), gates_x.dtype)
    (h_final, _), outputs = jax.lax.scan(step, (zeros, zeros), (gates_x, mask.T))
    outputs = precision.cast(outputs.transpose(1, 0, 2), self.dtype)
    if self.reverse:
      outputs = reverse_valid(outputs, lengths)
    return outputs, precision.cast(h_final, self.dtype)

  @staticmethod
  def torch_bias_count(units: int) -> int:
    """PyTorch's nn.LSTM keeps b_ih and b_hh: 4*units more parameters per direction than Keras."""
    return 4 * units


class _LSTMParams(nn.Module):
  """The parameters of one direction, named and initialised as `LSTM`'s (same checkpoint tree)."""

  units: int

  @nn.compact
  def __call__(self, in_dim: int):
    return (self.param("kernel", nn.initializers.glorot_uniform(), (in_dim, 4 * self.units)),
            self.param("recurrent_kernel", nn.initializers.orthogonal(), (self.units, 4 * self.units)),
            self.param("bias", _keras_lstm_bias_init, (4 * self.units,)))


class BiLSTM(nn.Module):
  """Bidirectional LSTM, outputs concatenated [forward, backward] like Keras' concat merge.

  Equal to running `LSTM(forward)` and `LSTM(reverse=True)` side by side (tests/test_rnn.py), but
  both directions share one scan (`lstm_recurrence.recurrence`). The backward direction reads time
  from the end: with prefix masks the padding then comes first, and an all-zero state stays zero
  through it, so it starts at each sequence's own last valid step without per-example gathers.
  """

  units: int
  # x and outputs as (T, B, F) instead of (B, T, F); stacked layers use it to skip transposes.
  time_major: bool = False
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array] = None):
    x_tm = x if self.time_major else x.transpose(1, 0, 2)
    steps, batch, in_dim = x_tm.shape
    if mask is None:
      mask = jnp.ones((batch, steps), bool)
    forward = _LSTMParams(self.units, name="forward")(in_dim)
    backward = _LSTMParams(self.units, name="backward")(in_dim)
    # Nothing is flipped in time: the recurrence reads the backward direction from the end. Flipping
    # its input (and its outputs back) cost ~5 ms of a 116 ms evaluation step of seed 002's
    # acoustic BLSTM (T=451, B=32).
    valid = mask.T
    hs_forward, hs_backward = recurrence(
        (project(x_tm, forward[0], self.dtype), project(x_tm, backward[0], self.dtype)),
        jnp.stack([forward[1], backward[1]]), jnp.stack([forward[2], backward[2]]),
        (valid, valid), reverse=(False, True))   # 2 x (T, B, H)
    outputs = jnp.where(valid[..., None], jnp.concatenate([hs_forward, hs_backward], -1), 0.0)
    outputs = precision.cast(outputs, self.dtype)
    outputs = outputs if self.time_major else outputs.transpose(1, 0, 2)
    # Final state: forward at its last valid step, backward after reading back to step 0.
    return outputs, precision.cast(jnp.concatenate([hs_forward[-1], hs_backward[0]], -1), self.dtype)


class StackedBiLSTM(nn.Module):
  """`num_layers` BiLSTMs with dropout between layers (PyTorch's `dropout=` placement).

  read="last" / "first": return only the top layer's output at each sequence's last valid step /
  at step 0, (B, 2 * units), instead of every output (pooling "last" and "cls" of seed 002). The
  top layer then runs one direction in full and the other for one step (`_BiLSTMRead`).
  """

  units: int
  num_layers: int = 1
  dropout: float = 0.0
  read: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array] = None, *, train: bool = False):
    if self.read not in (None, "last", "first"):
      raise ValueError(f"read={self.read!r}; use None, 'last' or 'first'.")
    if mask is None:
      mask = jnp.ones(x.shape[:2], bool)
    final = None
    x = x.transpose(1, 0, 2)  # time-major between layers: one transpose in, one out
    for layer in range(self.num_layers):
      if layer > 0 and self.dropout > 0:
        x = Dropout(self.dropout, deterministic=not train)(x)
      if self.read and layer == self.num_layers - 1:
        return _BiLSTMRead(self.units, self.read, self.dtype, name=f"layer{layer}")(x, mask), None
      x, final = BiLSTM(self.units, time_major=True, dtype=self.dtype, name=f"layer{layer}")(x, mask)
    return x.transpose(1, 0, 2), final


class _BiLSTMRead(nn.Module):
  """A time-major BiLSTM's output at one step of each sequence, (B, 2H), with `BiLSTM`'s parameters.

  At the last valid step the backward direction has read one input, from the zero state, so it is
  one LSTM cell on that input; at step 0 the same holds for the forward direction. Only the other
  direction runs over the whole sequence: half the recurrence and half the input projection of a
  full BiLSTM (PyTorch computes every output and indexes one). Values and gradients equal the full
  layer's (tests/test_rnn.py).
  """

  units: int
  position: str  # "last" (each sequence's last valid step) or "first" (step 0)
  dtype: Any = None

  @nn.compact
  def __call__(self, x_tm: jax.Array, mask: jax.Array) -> jax.Array:
    in_dim = x_tm.shape[-1]
    forward = _LSTMParams(self.units, name="forward")(in_dim)
    backward = _LSTMParams(self.units, name="backward")(in_dim)
    valid = mask.astype(bool).T  # (T, B)
    lengths = valid.sum(0)
    if self.position == "last":
      full, one, x_one, read_valid = forward, backward, _at(x_tm, jnp.maximum(lengths - 1, 0)), lengths > 0
    else:
      full, one, x_one, read_valid = backward, forward, x_tm[0], valid[0]
    backwards = self.position == "first"
    (hs,) = recurrence((project(x_tm, full[0], self.dtype),), full[1][None], full[2][None], (valid,),
                       reverse=(backwards,))
    # The full direction's carried state after its last read: the forward one at the last valid
    # step, the backward one after reading back to step 0 (zero for an empty sequence either way).
    final = hs[0] if backwards else hs[-1]
    single = jnp.where(read_valid[:, None], _first_cell(x_one, one, self.dtype), 0.0)
    pair = (single, final) if backwards else (final, single)
    return precision.cast(jnp.concatenate(pair, -1), self.dtype)


def _at(x_tm: jax.Array, steps: jax.Array) -> jax.Array:
  """x_tm[steps[b], b] for every b: (B, F)."""
  return jnp.take_along_axis(x_tm, steps[None, :, None], axis=0)[0]


def _first_cell(x: jax.Array, params, dtype: Any) -> jax.Array:
  """h after one LSTM step from the zero state on x (B, F): the recurrent kernel meets h = 0."""
  kernel, _, bias = params
  i, _, g, o = jnp.split(project(x, kernel, dtype) + bias, 4, axis=-1)
  return jax.nn.sigmoid(o) * jnp.tanh(jax.nn.sigmoid(i) * jnp.tanh(g))
