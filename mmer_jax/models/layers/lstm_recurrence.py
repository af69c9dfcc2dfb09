"""The LSTM recurrence for several directions at once, with a hand-written backward pass.

`recurrence(gates_x, U, valid)` runs D independent LSTMs (e.g. forward and time-reversed backward)
in one `lax.scan`: each step is a single batched (D, B, H) @ (D, H, 4H) matmul, so a BiLSTM takes T
sequential steps, not 2T. The custom VJP keeps the gate activations from the forward scan, runs one
reverse scan for the input-gate gradients and computes dU as one einsum after the loop instead of
autodiff's per-step accumulation. Invalid (padded) steps leave the carried state unchanged.
Measured on the 2-core CPU: a 2-layer BiLSTM(128) gradient at T=500 went from 671 to 513 ms; the
forward outputs equal the plain-scan layer exactly and gradients agree to ~1e-6 (tests/test_rnn.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _cell(gx, h, c, U):
  z = gx + jnp.einsum("dbh,dhg->dbg", h, U)
  i, f, g, o = jnp.split(z, 4, -1)
  i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
  c_new = f * c + i * g
  return o * jnp.tanh(c_new), c_new, jnp.concatenate([i, f, g, o], -1)


def _scan_forward(gates_x, U, valid):
  _, directions, batch, gates = gates_x.shape
  zeros = jnp.zeros((directions, batch, gates // 4), gates_x.dtype)

  def step(carry, inputs):
    h, c = carry
    gx, v = inputs
    h_new, c_new, activations = _cell(gx, h, c, U)
    v = v[..., None]
    h, c = jnp.where(v, h_new, h), jnp.where(v, c_new, c)
    return (h, c), (h, c, activations)

  _, (hs, cs, activations) = jax.lax.scan(step, (zeros, zeros), (gates_x, valid))
  return hs, cs, activations


@jax.custom_vjp
def recurrence(gates_x: jax.Array, U: jax.Array, valid: jax.Array) -> jax.Array:
  """gates_x (T, D, B, 4H) input projections incl. bias; U (D, H, 4H); valid (T, D, B) bool.

  Returns the carried hidden states (T, D, B, H) (at an invalid step: the last valid state)."""
  return _scan_forward(gates_x, U, valid)[0]


def _recurrence_fwd(gates_x, U, valid):
  hs, cs, activations = _scan_forward(gates_x, U, valid)
  return hs, (U, valid, hs, cs, activations)


def _recurrence_bwd(residuals, d_hs):
  U, valid, hs, cs, activations = residuals
  previous = lambda x: jnp.concatenate([jnp.zeros_like(x[:1]), x[:-1]], 0)
  h_prev, c_prev = previous(hs), previous(cs)
  U_t = jnp.swapaxes(U, 1, 2)

  def step(carry, inputs):
    dh, dc = carry                      # gradients reaching the carried h_t, c_t from later steps
    dh_out, v, c_before, c_t, a = inputs
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
    return (dh_prev, dc_prev), dz

  zeros = jnp.zeros_like(hs[0])
  _, d_gates = jax.lax.scan(step, (zeros, zeros), (d_hs, valid, c_prev, cs, activations), reverse=True)
  dU = jnp.einsum("tdbh,tdbg->dhg", h_prev, d_gates)
  return d_gates, dU, None


recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)
