"""Williams et al. (2018) early-fusion BiLSTM for CMU-MOSEI (seed 001, `seed_models.md` §001).

Keras original: BatchNormalization -> [BiLSTM(64, return_sequences) -> Dropout] x (L-1) -> BiLSTM(64)
-> Dropout -> Dense(num_nodes, relu) -> Dropout -> Dense(7, final_activ). The LSTMs see the whole
fixed-length window: Keras ran them without a Masking layer, so the zero padding at the end is
processed too (after BatchNorm it is no longer zero). `use_mask=True` stops at each sequence's last
real step instead.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax import registry
from mmer_jax.models import precision
from mmer_jax.models.layers.dropout import Dropout
from mmer_jax.models.layers.rnn import BiLSTM


@registry.MODELS.register("williams_ef_blstm")
class WilliamsEFBLSTM(nn.Module):
  num_outputs: int = 7          # seed 001 regresses [sentiment, 6 emotions]; the 2018 paper used 6.
  lstm_units: int = 64
  num_layers: int = 1
  num_nodes: int = 100
  dropout: float = 0.2
  final_activation: str = "linear"   # Keras activation of the last Dense: linear | sigmoid | relu
  use_mask: bool = False
  axis_name: Optional[str] = None
  dtype: Any = None      # compute dtype (config.compute_dtype); parameters stay float32

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    inputs = precision.cast_floating(inputs, self.dtype)
    x = inputs["features"]
    mask = inputs["features_mask"] if self.use_mask else None
    # Keras BatchNormalization defaults: momentum 0.99, epsilon 1e-3, statistics over batch and time.
    x = nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3,
                     axis_name=self.axis_name, dtype=self.dtype, name="batch_norm")(x)
    for layer in range(self.num_layers - 1):
      x, _ = BiLSTM(self.lstm_units, dtype=self.dtype, name=f"bilstm{layer}")(x, mask)
      x = Dropout(self.dropout, deterministic=not train)(x)
    _, x = BiLSTM(self.lstm_units, dtype=self.dtype, name=f"bilstm{self.num_layers - 1}")(x, mask)
    x = Dropout(self.dropout, deterministic=not train)(x)
    x = nn.relu(nn.Dense(self.num_nodes, dtype=self.dtype, name="hidden")(x))
    x = Dropout(self.dropout, deterministic=not train)(x)
    x = nn.Dense(self.num_outputs, dtype=self.dtype, name="output")(x)
    activations = {"linear": lambda v: v, "sigmoid": nn.sigmoid, "relu": nn.relu}
    if self.final_activation not in activations:
      raise ValueError(f"model.final_activation={self.final_activation!r}; use one of {sorted(activations)}.")
    return activations[self.final_activation](x)


def keras_param_count(steps_features: int, num_layers: int, num_nodes: int, num_outputs: int = 7,
                      units: int = 64) -> int:
  """Keras `model.count_params()` for the same settings (BN's 4 vectors all count in Keras)."""
  bn = 4 * steps_features
  lstm = lambda d: 2 * 4 * (d * units + units * units + units)
  total = bn + lstm(steps_features) + (num_layers - 1) * lstm(2 * units)
  return total + (2 * units * num_nodes + num_nodes) + (num_nodes * num_outputs + num_outputs)
