"""The LSTM recurrence for several directions at once, with a hand-written backward pass.

`recurrence(gates_x, U, bias, valid, reverse)` runs D independent LSTMs (e.g. a BiLSTM's forward
direction and its backward one, which reads time from the end) in one `lax.scan`: each step is a
single batched (D, B, H) @ (D, H, 4H) matmul, so a BiLSTM takes T sequential steps, not 2T. The
scans read a reversed direction through time-flipped copies; the CPU kernel reads it in place.
The custom VJP keeps the gate activations from the forward scan, runs one reverse scan for the
input-gate gradients and computes dU with one matmul per direction after the loop instead of
autodiff's per-step accumulation. Invalid (padded) steps leave the carried state unchanged.

Layout: every per-direction array (gate inputs, states, activations, their gradients) is its own
contiguous (T, B, X) buffer; directions are stacked only inside the step. A stacked (T, D, B, X)
layout made each direction's weight gradient read a strided slice, and XLA:CPU copied and
transposed those 65-131 MB slices before every dot (~450 ms of a 1.6 s gradient at T=1000, B=32).
tests/test_rnn.py checks outputs against plain scans exactly and gradients to ~1e-6;
benchmarks/lstm_recurrence.py times the layer (its docstring keeps the stacked layout's figures).

The recurrence runs in float32 under `config.compute_dtype=bfloat16` too: the layers (layers/rnn.py)
cast the bfloat16 input projections to float32 before calling it and its outputs back after, so the
carried state keeps float32 precision over long sequences and the CPU kernel below still applies.

On CPU, float32, both scans are replaced by an FFI kernel (mmer_jax/kernels/lstm_cpu.cc) that runs
each direction's time loop as one task on XLA's intra-op threads: XLA:CPU spends ~120 us per scan
step on ~20 small thunks, one core at a time. `jax.lax.platform_dependent` keeps the scans for GPU/TPU lowerings;
`MMER_JAX_CPU_KERNELS=0` (read when tracing) keeps them on CPU too, and they are used wherever the
kernel cannot be compiled. tests/test_lstm_kernel.py holds the two paths equal.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def use_cpu_kernel(dtype) -> bool:
  """Whether CPU lowerings take the FFI kernel (mmer_jax/kernels/lstm_cpu.cc) instead of the scan.

  Float32 only; `MMER_JAX_CPU_KERNELS=0` turns it off (e.g. to compare against the XLA path), and
  it is off when the kernel cannot be compiled here (kernels.build logs why)."""
  if jnp.dtype(dtype) != jnp.float32 or os.environ.get("MMER_JAX_CPU_KERNELS", "1") == "0":
    return False
  from mmer_jax.kernels import build
  return build.load()


_KERNEL_CALL = re.compile(r"custom_call @mmer_lstm_(?:forward|inference|backward)\(.*\} : \((.*?)\) ->")
_F32_TENSOR = re.compile(r"tensor<((?:\d+x)+)f32>")


def kernel_flops(stablehlo_text: str) -> float:
  """The step-matmul FLOPs of the LSTM kernel calls in a lowered program's StableHLO text.

  XLA's cost analysis counts a custom call as zero FLOPs, so a step's FLOPs are its compiled cost
  analysis plus this (benchmarks/originals/jax_side.py). Per call: U (D, H, 4H), then (T, B, .)
  buffers; (B, H) @ (H, 4H) per step and direction, forward or backward (dz @ U^T is as large).
  A call inside a function that runs several times (a loop body) is counted once."""
  total = 0.0
  for line in stablehlo_text.splitlines():
    match = _KERNEL_CALL.search(line)
    if not match:
      continue
    shapes = [[int(d) for d in t.rstrip("x").split("x")] for t in _F32_TENSOR.findall(match.group(1))]
    (directions, hidden, gates), sequence = shapes[0], next(x for x in shapes[1:] if len(x) == 3)
    total += 2.0 * sequence[0] * sequence[1] * hidden * gates * directions
  return total


def _lower(kernel_fn, xla_fn, *args):
  """kernel_fn(*args) in CPU lowerings when the kernel is on, else xla_fn(*args) (args[0]: U)."""
  if use_cpu_kernel(args[0].dtype):
    return jax.lax.platform_dependent(*args, cpu=kernel_fn, default=xla_fn)
  return xla_fn(*args)


def _directions_reversed(reverse, count: int) -> tuple[bool, ...]:
  """`reverse` as one bool per direction (None: none reversed)."""
  if reverse is None:
    return (False,) * count
  if len(reverse) != count:
    raise ValueError(f"reverse has {len(reverse)} entries for {count} directions")
  return tuple(bool(r) for r in reverse)


def _reversed_mask(reverse: tuple[bool, ...]) -> np.int64:
  """The kernels' `reversed` attribute: bit i set when direction i reads time backwards."""
  return np.int64(sum(1 << i for i, r in enumerate(reverse) if r))


def _in_reading_order(arrays, reverse: tuple[bool, ...]) -> tuple[jax.Array, ...]:
  """The scans' view of per-direction (T, ...) arrays: a reversed direction's flipped in time (and
  its outputs flipped back with the same call). The CPU kernel reads them in place instead."""
  return tuple(jnp.flip(x, 0) if r else x for x, r in zip(arrays, reverse))


def _cell(gx, h, c, U):
  z = gx + jnp.einsum("dbh,dhg->dbg", h, U)
  i, f, g, o = jnp.split(z, 4, -1)
  i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
  c_new = f * c + i * g
  return o * jnp.tanh(c_new), c_new, jnp.concatenate([i, f, g, o], -1)


def _xla_forward(U, bias, gates_x, valid, reverse=None):
  reverse = _directions_reversed(reverse, len(gates_x))
  gates_x, valid = _in_reading_order(gates_x, reverse), _in_reading_order(valid, reverse)
  batch, gates = gates_x[0].shape[1:]
  zeros = jnp.zeros((len(gates_x), batch, gates // 4), gates_x[0].dtype)

  def step(carry, inputs):
    h, c = carry
    gx, v = inputs
    h_new, c_new, activations = _cell(jnp.stack(gx) + bias[:, None], h, c, U)
    v = jnp.stack(v)[..., None]
    h, c = jnp.where(v, h_new, h), jnp.where(v, c_new, c)
    return (h, c), (tuple(h), tuple(c), tuple(activations))

  _, outputs = jax.lax.scan(step, (zeros, zeros), (tuple(gates_x), tuple(valid)))
  hs, cs, activations = (_in_reading_order(x, reverse) for x in outputs)
  return hs, cs, activations


def _kernel_forward(U, bias, gates_x, valid, reverse=None, target_suffix=""):
  """target_suffix: a build registered under other names (build.register), e.g. for another ISA."""
  d = len(gates_x)
  steps, batch, gates = gates_x[0].shape
  state = jax.ShapeDtypeStruct((steps, batch, gates // 4), jnp.float32)
  activation = jax.ShapeDtypeStruct((steps, batch, gates), jnp.float32)
  call = jax.ffi.ffi_call("mmer_lstm_forward" + target_suffix, [state] * (2 * d) + [activation] * d,
                          vmap_method="sequential")
  out = call(U, bias, *gates_x, *valid, reversed=_reversed_mask(_directions_reversed(reverse, d)))
  return tuple(out[:d]), tuple(out[d:2 * d]), tuple(out[2 * d:])


def _kernel_inference(U, bias, gates_x, valid, reverse=None):
  d = len(gates_x)
  steps, batch, gates = gates_x[0].shape
  state = jax.ShapeDtypeStruct((steps, batch, gates // 4), jnp.float32)
  call = jax.ffi.ffi_call("mmer_lstm_inference", [state] * d, vmap_method="sequential")
  return tuple(call(U, bias, *gates_x, *valid, reversed=_reversed_mask(_directions_reversed(reverse, d))))


def _xla_inference(U, bias, gates_x, valid, reverse=None):
  return _xla_forward(U, bias, gates_x, valid, reverse)[0]


def recurrence(gates_x: Sequence[jax.Array], U: jax.Array, bias: jax.Array, valid: Sequence[jax.Array],
               reverse: Sequence[bool] | None = None) -> tuple[jax.Array, ...]:
  """gates_x: D arrays (T, B, 4H), input projections without bias; U (D, H, 4H); bias (D, 4H);
  valid: D bools (T, B); reverse: per direction, whether it reads time from T - 1 down to 0 (a
  BiLSTM's backward direction; default: none). Outputs stay at their own step either way.

  The bias is added inside the loop: as a separate pass over the (T, B, 4H) projections it cost
  ~10 ms per direction and layer at T=500, B=32 (a memory-bound XLA:CPU fusion).
  Returns D arrays (T, B, H) of carried hidden states (at an invalid step: the state after the last
  valid step read so far)."""
  reverse = _directions_reversed(reverse, len(gates_x))
  return _recurrence(tuple(gates_x), U, bias, tuple(valid), reverse)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _recurrence(gates_x, U, bias, valid, reverse):
  # Called undifferentiated (evaluation), so the residuals the backward pass reads are not stored.
  return _lower(functools.partial(_kernel_inference, reverse=reverse),
                functools.partial(_xla_inference, reverse=reverse), U, bias, gates_x, valid)


def _recurrence_fwd(gates_x, U, bias, valid, reverse):
  hs, cs, activations = _lower(functools.partial(_kernel_forward, reverse=reverse),
                               functools.partial(_xla_forward, reverse=reverse), U, bias, gates_x, valid)
  return hs, (U, valid, hs, cs, activations)


def _previous(x):
  return jnp.concatenate([jnp.zeros_like(x[:1]), x[:-1]], 0)


def _following(x):
  return jnp.concatenate([x[1:], jnp.zeros_like(x[:1])], 0)


def _xla_backward(U, d_hs, valid, cs, activations, reverse=None):
  reverse = _directions_reversed(reverse, len(cs))
  d_hs, valid, cs, activations = (_in_reading_order(x, reverse) for x in (d_hs, valid, cs, activations))
  c_prev = tuple(_previous(c) for c in cs)
  U_t = jnp.swapaxes(U, 1, 2)

  def step(carry, inputs):
    dh, dc = carry                      # gradients reaching the carried h_t, c_t from later steps
    dh_out, v, c_before, c_t, a = (jnp.stack(x) for x in inputs)
    v = v[..., None]
    dh = dh + dh_out                    # the output at t is the carried h_t
    i, f, g, o = jnp.split(a, 4, -1)
    tanh_c = jnp.tanh(c_t)
    dc_total = dc + dh * o * (1 - tanh_c * tanh_c)
    dz = jnp.concatenate([dc_total * g * i * (1 - i), dc_total * c_before * f * (1 - f),
                          dc_total * i * (1 - g * g), dh * tanh_c * o * (1 - o)], -1)
    dz = jnp.where(v, dz, 0.0)          # a padded step changed nothing, so passes gradients through
    dh_prev = jnp.where(v, jnp.einsum("dbg,dgh->dbh", dz, U_t), dh)
    dc_prev = jnp.where(v, dc_total * f, dc)
    return (dh_prev, dc_prev), tuple(dz)

  zeros = jnp.zeros((len(cs),) + cs[0].shape[1:], cs[0].dtype)  # (D, B, H)
  _, d_gates = jax.lax.scan(step, (zeros, zeros), (tuple(d_hs), tuple(valid), c_prev, tuple(cs),
                                                   tuple(activations)), reverse=True)
  return _in_reading_order(d_gates, reverse)


def _kernel_backward(U, d_hs, valid, cs, activations, reverse=None, target_suffix=""):
  gates = jax.ShapeDtypeStruct(activations[0].shape, jnp.float32)
  call = jax.ffi.ffi_call("mmer_lstm_backward" + target_suffix, [gates] * len(cs), vmap_method="sequential")
  return tuple(call(U, *d_hs, *valid, *cs, *activations,
                    reversed=_reversed_mask(_directions_reversed(reverse, len(cs)))))


def _recurrence_bwd(reverse, residuals, d_hs):
  U, valid, hs, cs, activations = residuals
  d_gates = _lower(functools.partial(_kernel_backward, reverse=reverse),
                   functools.partial(_xla_backward, reverse=reverse), U, tuple(d_hs), valid, cs, activations)
  # dU_d = sum_t h_before(t)^T dz_t, one 2-D (T*B, H)^T (T*B, 4H) matmul per direction (the 3-D
  # einsum over t and b ran at half the speed on XLA:CPU), where h_before(t) is the state the
  # direction carried into step t: h_{t-1}, or h_{t+1} when it reads time backwards. Shifting h
  # (H wide) instead of slicing dz (4H wide) keeps XLA from copying the larger array.
  flat = lambda x: x.reshape(-1, x.shape[-1])
  before = lambda h, r: _following(h) if r else _previous(h)
  dU = jnp.stack([flat(before(h, r)).T @ flat(dz) for h, dz, r in zip(hs, d_gates, reverse)])
  d_bias = jnp.stack([dz.sum((0, 1)) for dz in d_gates])
  return tuple(d_gates), dU, d_bias, tuple(None for _ in valid)


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)
