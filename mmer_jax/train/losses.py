"""Per-example losses. Each returns shape (batch,) so evaluation can average over valid examples only.

They receive float32 outputs whatever `config.compute_dtype` is: the train and eval steps cast the
model's outputs first (`step.float32_outputs`), so a loss never reduces in bfloat16.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import optax
from ml_collections import ConfigDict

LossFn = Callable[[jax.Array, jax.Array], jax.Array]


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))


def double_softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Seed 004's bug: a softmax output layer fed to a from_logits=True loss (softmax applied twice)."""
  return softmax_cross_entropy(jax.nn.softmax(logits), labels)


def sigmoid_bce(pos_weight: Optional[Sequence[float]] = None) -> LossFn:
  """PyTorch BCEWithLogitsLoss(pos_weight=...): mean over classes of -[w*y*log s(x) + (1-y)*log(1-s(x))]."""
  weight = None if pos_weight is None else jnp.asarray(pos_weight, jnp.float32)

  def loss(logits: jax.Array, targets: jax.Array) -> jax.Array:
    targets = targets.astype(logits.dtype)
    log_p, log_not_p = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
    positive = targets * log_p if weight is None else weight * targets * log_p
    return -(positive + (1 - targets) * log_not_p).mean(axis=-1)

  return loss


def mean_absolute_error(predictions: jax.Array, targets: jax.Array) -> jax.Array:
  return jnp.abs(predictions - targets).mean(axis=-1)


def mean_squared_error(predictions: jax.Array, targets: jax.Array) -> jax.Array:
  return jnp.square(predictions - targets).mean(axis=-1)


LOSSES = ("softmax_ce", "sigmoid_bce", "mae", "mse")


def make_loss(cfg: ConfigDict, pos_weight: Optional[Sequence[float]] = None) -> LossFn:
  """`cfg` is `config.loss`. `pos_weight` is the resolved per-class weight for `sigmoid_bce`."""
  name = cfg.name
  if name == "softmax_ce":
    return double_softmax_cross_entropy if cfg.double_softmax else softmax_cross_entropy
  if name == "sigmoid_bce":
    return sigmoid_bce(pos_weight)
  if name == "mae":
    return mean_absolute_error
  if name == "mse":
    return mean_squared_error
  raise ValueError(f"config.loss.name={name!r} is not a loss. Known losses: {', '.join(LOSSES)}.")


def auto_pos_weight(labels: jax.Array) -> list[float]:
  """MME2E's pos_weight: negatives / positives per class, from the TRAIN labels."""
  labels = jnp.asarray(labels, jnp.float32)
  positives = labels.sum(axis=0)
  return [float(x) for x in (labels.shape[0] - positives) / jnp.maximum(positives, 1.0)]
