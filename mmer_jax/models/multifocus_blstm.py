"""Multi-Focus BLSTM models of seed 002 (IEMOCAP 4-class; `seed_models.md` §002).

Every model encodes a modality with a 2-layer BiLSTM(128) that honours sequence lengths the way
packed sequences do (padded outputs are 0, the backward pass starts at each sequence's last valid
step), then pools the (B, T, 256) outputs into one vector:

  last       output at the last valid step (forward state ++ backward output there)   "Model I"
  cls        output at step 0 (lexical: the BERT [CLS] position)                     "CLS Block"
  mean       average over time                                                       "Model II"
  attention  context attention, dim 64: a = softmax_t(tanh(W x_t + b) . v), z = sum_t a_t x_t,
             v initialised U[0, 1) like the seed's `torch.rand`                       "Model III"

Models (registered names):
  multifocus_unimodal  one modality (`audio` = ComParE LLDs or `text` = BERT token states) -> Linear(256, C)
  multifocus_mmb       MM-B: mean-pooled acoustic ++ lexical (512) -> Linear(512, C)
  multifocus_mmmla     MMMLA: attention-pooled acoustic and lexical -> GMU(128) -> Linear(128, C)

`masked_pooling=True` (default) averages / attends over valid steps only. `masked_pooling=False`
is the seed's behaviour: `pad_sequence` padded each batch to its longest sequence and the mean and
the attention softmax ran over all those steps, padded zeros included. That is reproduced exactly
by pooling over the steps before the batch's longest length (the per-device batch under data
parallelism), whatever static length the pipeline pads to.

Parameter layout (for `init_from`, "pretrain unimodal, then initialise fusion"):
  unimodal: params/encoder/{blstm, attention?}, params/head/{kernel (256, C), bias}
  fusion:   params/acoustic/{blstm, attention?}, params/lexical/{blstm, attention?},
            MM-B params/head/{kernel (512, C), bias}; MMMLA params/gmu/..., params/head (128, C)
MM-B's head starts as [W_a | W_l], b_a + b_l, the sum of the unimodal logits; see
`mmb_head_from_unimodal`. The seed's MMMLA draws a fresh GMU and head.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax import registry
from mmer_jax.models import precision
from mmer_jax.models.layers.rnn import LSTM, StackedBiLSTM
from mmer_jax.models.layers.transformer import TorchDense

POOLINGS = ("last", "cls", "mean", "attention")
MODALITIES = ("audio", "text")


def pooling_mask(mask: jax.Array, masked: bool) -> jax.Array:
  """Steps that pooling may use: valid steps, or (seed) every step before the batch's longest."""
  if masked:
    return mask
  longest = jnp.max(jnp.sum(mask, axis=1))
  return jnp.broadcast_to(jnp.arange(mask.shape[1])[None, :] < longest, mask.shape)


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean of x (B, T, D) over the steps where mask (B, T) is True; 0 for an empty row."""
  weights = mask.astype(x.dtype)[..., None]
  return jnp.sum(x * weights, axis=1) / jnp.maximum(jnp.sum(weights, axis=1), 1.0)


def last_valid(x: jax.Array, mask: jax.Array) -> jax.Array:
  """x[b, lengths[b] - 1] (the seed's `x[arange(B), lengths - 1]`); masks are prefixes."""
  last = jnp.maximum(jnp.sum(mask, axis=1) - 1, 0)
  return jnp.take_along_axis(x, last[:, None, None], axis=1)[:, 0]


class ContextAttention(nn.Module):
  """Context-based attention pooling; returns (pooled (B, D), weights (B, T))."""

  attention_dim: int = 64
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    hidden = jnp.tanh(TorchDense(self.attention_dim, dtype=self.dtype, name="proj")(x))
    v = self.param("v", nn.initializers.uniform(1.0), (self.attention_dim,))  # torch.rand: U[0, 1)
    # The softmax in float32 whatever the compute dtype (precision.py), the weighted sum in it.
    scores = jnp.where(mask, precision.at_least_float32(hidden @ precision.cast(v, self.dtype)), -jnp.inf)
    weights = jax.nn.softmax(scores, axis=1)
    weights = jnp.where(mask, weights, 0.0)  # rows with no usable step pool to 0, not NaN
    return jnp.einsum("bt,btd->bd", weights.astype(x.dtype), x), weights


class PooledBLSTM(nn.Module):
  """2-layer BiLSTM over one modality, then one of `POOLINGS`. Returns (B, 2*units)."""

  pooling: str = "attention"
  units: int = 128
  num_layers: int = 2
  attention_dim: int = 64
  masked_pooling: bool = True
  sow_name: Optional[str] = None   # where the attention weights go in `intermediates`
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    if self.pooling not in POOLINGS:
      raise ValueError(f"pooling={self.pooling!r}; use one of {POOLINGS}.")
    mask = mask.astype(bool)
    # PyTorch's nn.LSTM(num_layers=2) has dropout=0 by default: no dropout between layers.
    if self.pooling in ("last", "cls"):  # one output per sequence: the top layer computes only it
      read = "last" if self.pooling == "last" else "first"
      return StackedBiLSTM(self.units, self.num_layers, read=read, dtype=self.dtype, name="blstm")(x, mask)[0]
    outputs, _ = StackedBiLSTM(self.units, self.num_layers, dtype=self.dtype, name="blstm")(x, mask)
    steps = pooling_mask(mask, self.masked_pooling)
    if self.pooling == "mean":
      return masked_mean(outputs, steps)
    pooled, weights = ContextAttention(self.attention_dim, self.dtype, name="attention")(outputs, steps)
    if self.sow_name:
      self.sow("intermediates", self.sow_name, weights)
    return pooled


class GMU(nn.Module):
  """Bimodal gated multimodal unit (Arevalo et al. 2017) as in the seed; returns (h, gate)."""

  features: int = 128
  dtype: Any = None

  @nn.compact
  def __call__(self, acoustic: jax.Array, lexical: jax.Array) -> tuple[jax.Array, jax.Array]:
    h_a = jnp.tanh(TorchDense(self.features, dtype=self.dtype, name="fc_acoustic")(acoustic))
    h_l = jnp.tanh(TorchDense(self.features, dtype=self.dtype, name="fc_lexical")(lexical))
    gate = jax.nn.sigmoid(TorchDense(self.features, dtype=self.dtype, name="fc_gate")(
        jnp.concatenate([acoustic, lexical], axis=-1)))
    return gate * h_a + (1.0 - gate) * h_l, gate


def _modality(inputs: Mapping[str, jax.Array], name: str) -> tuple[jax.Array, jax.Array]:
  x = inputs[name]
  mask = inputs.get(f"{name}_mask")
  if mask is None:
    mask = jnp.ones(x.shape[:2], bool)
  return x, mask


@registry.MODELS.register("multifocus_unimodal")
class MultiFocusUnimodal(nn.Module):
  """BLSTM + pooling over `audio` or `text`, then Linear(256, C)."""

  modality: str = "audio"
  pooling: str = "attention"
  num_classes: int = 4
  units: int = 128
  num_layers: int = 2
  attention_dim: int = 64
  masked_pooling: bool = True
  dtype: Any = None  # compute dtype (config.compute_dtype); parameters stay float32

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    del train  # no dropout or BatchNorm in the seed's models
    if self.modality not in MODALITIES:
      raise ValueError(f"modality={self.modality!r}; use one of {MODALITIES}.")
    x, mask = _modality(precision.cast_floating(inputs, self.dtype), self.modality)
    pooled = PooledBLSTM(self.pooling, self.units, self.num_layers, self.attention_dim,
                         self.masked_pooling, sow_name="attention", dtype=self.dtype, name="encoder")(x, mask)
    return TorchDense(self.num_classes, dtype=self.dtype, name="head")(pooled)


@registry.MODELS.register("multifocus_mmb")
class MultiFocusMMB(nn.Module):
  """MM-B baseline: mean-pooled acoustic and lexical BLSTM states, concatenated -> Linear(512, C)."""

  num_classes: int = 4
  units: int = 128
  num_layers: int = 2
  masked_pooling: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    del train
    inputs = precision.cast_floating(inputs, self.dtype)
    encoder = lambda name: PooledBLSTM("mean", self.units, self.num_layers,
                                       masked_pooling=self.masked_pooling, dtype=self.dtype, name=name)
    acoustic = encoder("acoustic")(*_modality(inputs, "audio"))
    lexical = encoder("lexical")(*_modality(inputs, "text"))
    return TorchDense(self.num_classes, dtype=self.dtype, name="head")(jnp.concatenate([acoustic, lexical], -1))


@registry.MODELS.register("multifocus_mmmla")
class MultiFocusMMMLA(nn.Module):
  """MMMLA: attention-pooled acoustic and lexical states -> GMU -> Linear(gmu_features, C).

  Sows `intermediates/acoustic_attention` (B, T_audio), `lexical_attention` (B, T_text) and
  `gate` (B, gmu_features), the three tensors the seed's forward returns next to the logits.
  """

  num_classes: int = 4
  units: int = 128
  num_layers: int = 2
  attention_dim: int = 64
  gmu_features: int = 128
  masked_pooling: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    del train
    inputs = precision.cast_floating(inputs, self.dtype)
    encoder = lambda name: PooledBLSTM("attention", self.units, self.num_layers, self.attention_dim,
                                       self.masked_pooling, sow_name=f"{name}_attention", dtype=self.dtype,
                                       name=name)
    acoustic = encoder("acoustic")(*_modality(inputs, "audio"))
    lexical = encoder("lexical")(*_modality(inputs, "text"))
    fused, gate = GMU(self.gmu_features, self.dtype, name="gmu")(acoustic, lexical)
    self.sow("intermediates", "gate", gate)
    return TorchDense(self.num_classes, dtype=self.dtype, name="head")(fused)


def mmb_head_from_unimodal(acoustic_head: Mapping[str, jax.Array],
                           lexical_head: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
  """MM-B's fusion layer from the unimodal mean-pool heads: kernel [W_a; W_l], bias b_a + b_l.

  Flax kernels are (in, out), so PyTorch's column concatenation [W_a | W_l] of (out, in) weights is
  a row concatenation here, acoustic rows first (the seed concatenates acoustic, then lexical).
  """
  return {"kernel": jnp.concatenate([acoustic_head["kernel"], lexical_head["kernel"]], axis=0),
          "bias": acoustic_head["bias"] + lexical_head["bias"]}


def torch_lstm_extra_biases(units: int, num_layers: int) -> int:
  """PyTorch keeps b_ih and b_hh per direction and layer; the Keras-style LSTM here keeps one."""
  return 2 * num_layers * LSTM.torch_bias_count(units)
