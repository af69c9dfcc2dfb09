"""MME2E's late-fusion baselines LF_RNN and LF_TRANSFORMER (`seed_models.md` §000, upstream of seed 000).

Both encode each modality on its own, map it to class logits with Linear(d_h, d) . ReLU . Linear(d, C),
and fuse the per-modality logits with a learned weighted sum, PyTorch's `Linear(M, 1, bias=False)`
over the stacked (B, C, M) logits. Modalities are fused in the order of `modalities`
(upstream: text, audio, vision). With one modality its logits are returned directly.

LF_RNN: a 1-layer BiLSTM per modality with hidden size = input size d, so the head is
Linear(2d, d) . ReLU . Linear(d, C). Upstream feeds the padded batch to `nn.LSTM` without packing:
text takes the output at the last padded step, audio and vision take the final states `h_n` after
the padding. `masked=True` (default) stops each sequence at its last valid step instead: the
forward state at the last valid step and the backward state after reading back from there to
step 0 (what packed sequences would give). `masked=False` reproduces upstream over the static
padding the pipeline produces (upstream padded each batch to its longest sequence instead).

LF_TRANSFORMER: MME2E's CLS transformer encoder per modality (d_model = d, post-LN, FF 2048,
dropout 0.1, no positional encoding, `num_layers` = the CLI default 2), heads 4 / 2 / 5 for
text / audio / vision; head Linear(d, d//2) . ReLU . Linear(d//2, C). Upstream passes no lengths for
text (padding is attended to); `masked=True` (default) masks text padding too, `masked=False` does
not. Where d is not a multiple of the heads (65 ComParE LLDs with 2 heads), features are zero-padded
up to one; upstream's own audio features were padded from 142 to 144 in its data files.

Parameter counts: LF_TRANSFORMER matches PyTorch exactly. LF_RNN has 8d fewer parameters per
modality than PyTorch, whose LSTM keeps two bias vectors per direction (`torch_param_count`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax import registry
from mmer_jax.models import precision
from mmer_jax.models.layers.rnn import BiLSTM, LSTM
from mmer_jax.models.layers.transformer import (ClsTransformerEncoder, TorchDense,
                                                TransformerEncoderLayer, torch_kernel_init)

DEFAULT_HEADS = {"text": 4, "audio": 2, "vision": 5}


class LogitHead(nn.Module):
  """Linear(d_in, hidden) . ReLU . Linear(hidden, C), PyTorch-initialised."""

  hidden: int
  num_classes: int
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    hidden = nn.relu(TorchDense(self.hidden, dtype=self.dtype, name="hidden")(x))
    return TorchDense(self.num_classes, dtype=self.dtype, name="out")(hidden)


class WeightedFusion(nn.Module):
  """sum_m w_m * logits_m, `nn.Linear(M, 1, bias=False)` applied to (B, C, M)."""

  dtype: Any = None

  @nn.compact
  def __call__(self, logits: Sequence[jax.Array]) -> jax.Array:
    stacked = precision.cast(jnp.stack(logits, axis=-1), self.dtype)
    weight = self.param("kernel", torch_kernel_init, (len(logits), 1))
    return (stacked @ precision.cast(weight, self.dtype))[..., 0]


def _sequence(inputs: Mapping[str, jax.Array], name: str) -> tuple[jax.Array, jax.Array]:
  x = inputs[name]
  mask = inputs.get(f"{name}_mask")
  return x, (jnp.ones(x.shape[:2], bool) if mask is None else mask.astype(bool))


@registry.MODELS.register("lf_rnn")
class LFRNN(nn.Module):
  num_classes: int = 6
  modalities: Sequence[str] = ("text", "audio", "vision")
  masked: bool = True
  dtype: Any = None  # compute dtype (config.compute_dtype); parameters stay float32

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    del train  # upstream dropout only applies between stacked LSTM layers; there is one layer.
    inputs = precision.cast_floating(inputs, self.dtype)
    logits = []
    for name in self.modalities:
      x, mask = _sequence(inputs, name)
      dim = x.shape[-1]
      outputs, final = BiLSTM(dim, dtype=self.dtype, name=f"{name}_rnn")(x, mask if self.masked else None)
      if not self.masked and name == "text":
        final = outputs[:, -1]  # upstream text: output at the last (padded) step
      logits.append(LogitHead(dim, self.num_classes, self.dtype, name=f"{name}_head")(final))
    if len(logits) == 1:
      return logits[0]
    return WeightedFusion(self.dtype, name="weighted_fusion")(logits)


@registry.MODELS.register("lf_transformer")
class LFTransformer(nn.Module):
  num_classes: int = 6
  modalities: Sequence[str] = ("text", "audio", "vision")
  num_heads: Mapping[str, int] = None  # None -> DEFAULT_HEADS
  num_layers: int = 2
  dim_feedforward: int = 2048
  dropout: float = 0.1
  masked: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    heads = dict(DEFAULT_HEADS, **(self.num_heads or {}))
    inputs = precision.cast_floating(inputs, self.dtype)
    logits = []
    for name in self.modalities:
      x, mask = _sequence(inputs, name)
      x = pad_features(x, heads[name])
      dim = x.shape[-1]
      encoded = ClsTransformerEncoder(
          dim, self.num_layers, heads[name], self.dim_feedforward, self.dropout, self.dtype,
          name=f"{name}_transformer")(x, mask if (self.masked or name != "text") else None, train=train)
      logits.append(LogitHead(dim // 2, self.num_classes, self.dtype, name=f"{name}_head")(encoded))
    if len(logits) == 1:
      return logits[0]
    return WeightedFusion(self.dtype, name="weighted_fusion")(logits)


def pad_features(x: jax.Array, multiple: int) -> jax.Array:
  """Zero-pads the feature axis up to a multiple of `multiple` (attention heads)."""
  extra = -x.shape[-1] % multiple
  return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, extra)]) if extra else x


def torch_param_count(model: str, feature_sizes: Sequence[int], num_classes: int,
                      heads: Sequence[int] = (4, 2, 5), num_layers: int = 2,
                      dim_feedforward: int = 2048) -> int:
  """`sum(p.numel() for p in model.parameters())` of upstream LF_RNN / LF_Transformer."""
  total = len(feature_sizes)  # weighted_fusion Linear(M, 1, bias=False)
  for i, d in enumerate(feature_sizes):
    if model == "lf_rnn":
      lstm = 2 * (4 * d * (d + d) + LSTM.torch_bias_count(d) * 2)  # 2 directions, W_ih W_hh b_ih b_hh
      total += lstm + (2 * d * d + d) + (d * num_classes + num_classes)
    else:
      d += -d % heads[i]
      layer = TransformerEncoderLayer.torch_param_count(d, dim_feedforward)
      total += num_layers * layer + d + (d * (d // 2) + d // 2) + ((d // 2) * num_classes + num_classes)
  return total
