"""Compute dtypes: `config.compute_dtype` names one, and every model runs its work in it.

The pattern is flax `examples/imagenet`'s `half_precision`: the assembly (train/experiment.py)
passes the dtype to the model's `dtype` field; the model casts its floating inputs at its boundary
(`cast_floating`) and gives `dtype=` to every layer. Parameters are created and kept in float32
(each layer casts its kernel at use, Flax's `param_dtype` default), so the optimiser state and the
updates are float32 too. A module's `dtype` defaults to None, Flax's "inferred from the inputs and
parameters", so a module built outside a run computes as before (`cast` leaves None alone).
What stays float32 under bfloat16, and why:

- BatchNorm and LayerNorm statistics (Flax reduces in float32; the running averages are float32);
- the softmaxes of this package's layers (transformer attention, attention pooling, MESM's
  selection): exponent sums lose most of their bits in bfloat16, and MESM's cumulative-probability
  cut would move. transformers' BERT/ALBERT/wav2vec2 modules run theirs in `dtype`, as shipped;
- the LSTM/GRU recurrences (layers/rnn.py, ssl_fusion.KerasGRU): the input projection, one GEMM over
  all steps, runs in bfloat16 and is then cast to float32; the step-by-step state update runs in
  float32, so the state does not drift over hundreds of steps and the CPU kernel (float32 only) runs;
- the logits, from the train and eval step on (train/step.py): losses and metrics are float32.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from mmer_jax.errors import ConfigError

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def compute_dtype(name: str) -> Any:
  """`config.compute_dtype` -> the dtype models take as `dtype`."""
  if name not in COMPUTE_DTYPES:
    raise ConfigError(f"config.compute_dtype={name!r} is not a compute dtype; use one of "
                      f"{', '.join(COMPUTE_DTYPES)}.")
  return COMPUTE_DTYPES[name]


def cast(x: jax.Array, dtype: Any) -> jax.Array:
  """x in `dtype`. None, the modules' default (Flax's convention: inferred from the inputs and the
  parameters), leaves x as it is, so a module used on its own computes as it always did (float64
  under jax.enable_x64 included)."""
  return x if dtype is None else x.astype(dtype)


def cast_floating(inputs: Mapping[str, jax.Array], dtype: Any) -> dict[str, jax.Array]:
  """The model's inputs with floating arrays in `dtype`; token ids, lengths and masks unchanged."""
  return {k: cast(v, dtype) if jnp.issubdtype(v.dtype, jnp.floating) else v for k, v in inputs.items()}


def at_least_float32(x: jax.Array) -> jax.Array:
  """x in float32 if it is narrower (bfloat16), else unchanged: for softmaxes and recurrent states."""
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def is_narrow(dtype: Any) -> bool:
  """Whether `dtype` is narrower than float32 (bfloat16): softmaxes then run in float32."""
  return dtype is not None and jnp.dtype(dtype).itemsize < 4


def or_float32(dtype: Any) -> Any:
  """transformers' Flax modules need a concrete dtype; float32 is their default."""
  return jnp.float32 if dtype is None else dtype
