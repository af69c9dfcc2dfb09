"""MESM, the sparse MME2E (Dai et al., NAACL 2021; upstream `MME2E_Sparse`), emulated densely.

Per visual/audio item: a dense low-level block (conv5x5-BN-ReLU-pool, two VGG(64) blocks), then
three sparse stages with 128, 256, 512 channels. Before each stage a text-conditioned attention
scores every still-active location of each item,
    score = Linear(k->1)(tanh(Linear(C->k)(x) + Linear(768->k, no bias)(text_CLS))),  k = 64/128/256,
softmax over the item's active locations, and keeps the smallest set of highest-probability
locations whose cumulative probability reaches `sparse_threshold` plus one more (the original's
`cumsum < threshold` then `mask[sum(mask)] = True`). Each stage is SparseConvNet's
`SparseVggNet(['C', c], ['C', c], ['MP', 2, 2])`: two submanifold 3x3 convs without bias, each
followed by BatchNormReLU (eps 1e-4), then 2x2 max pooling; the last stage is densified (zeros at
inactive sites), flattened and handled like MME2E (flatten MLP, CLS transformer, Linear, weighted
fusion with the text logits). The text modality is mandatory, as upstream.

Dense emulation (this file): features at inactive sites are zero; each submanifold conv is a dense
conv whose input is zero off the active set and whose output is masked back to it; BatchNorm
statistics use active sites only; the max pool of non-negative (post-ReLU) features equals SCN's
pool over active sites, and a pooled site is active if any of its inputs was. This follows SCN's
semantics but is NOT bit-exact with the library (different summation order, float32 cuDNN/CPU
kernels, and SCN's own BatchNorm running-variance convention), and it does not save any compute:
`sparse_compute_fraction` measures what a sparse kernel would skip.

As in the original, the attention only *selects* locations (its output is detached before
selection and never multiplies the features), so its parameters receive no gradient.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mmer_jax import registry
from mmer_jax import batch as batch_keys
from mmer_jax.features import pooling as pooling_lib
from mmer_jax.models import precision
from mmer_jax.models.layers.transformer import ClsTransformerEncoder, TorchDense, torch_bias_init
from mmer_jax.models.mme2e import (CONV_CHUNK, VggBlock, chunked, item_mask, max_pool, text_cls, torch_batch_norm,
                                   torch_conv)

STAGE_CHANNELS = (128, 256, 512)
ATTENTION_DIMS = (64, 128, 256)


def nucleus_mask(probs: jax.Array, threshold: float) -> jax.Array:
  """Keeps, per row, the top locations until the cumulative probability reaches `threshold`, plus
  one: rank r is kept iff the mass of the ranks before it is < threshold. probs (N, L) -> bool (N, L)."""
  order = jnp.argsort(-probs, axis=-1)
  ranked = jnp.take_along_axis(probs, order, axis=-1)
  keep_ranked = (jnp.cumsum(ranked, axis=-1) - ranked) < threshold
  rows = jnp.arange(probs.shape[0])[:, None]
  return jnp.zeros(probs.shape, bool).at[rows, order].set(keep_ranked)


class CrossModalSelection(nn.Module):
  """Text-conditioned attention over the active locations of each item -> new active mask."""

  k: int
  threshold: float
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, text: jax.Array, active: jax.Array) -> jax.Array:
    n, h, w, _ = x.shape
    x_k = TorchDense(self.k, dtype=self.dtype, name="channel_affine")(x)
    y_k = TorchDense(self.k, use_bias=False, dtype=self.dtype, name="y_affine")(text)[:, None, None, :]
    scores = TorchDense(1, dtype=self.dtype, name="attn_weight_affine")(jnp.tanh(x_k + y_k))[..., 0]
    # Softmax and the cumulative-probability cut in float32 whatever the compute dtype: in bfloat16
    # the cumulative sum would move the cut (precision.py).
    scores = jnp.where(active, precision.at_least_float32(scores), -jnp.inf).reshape(n, h * w)
    any_active = active.reshape(n, -1).any(-1, keepdims=True)
    probs = jax.nn.softmax(jnp.where(any_active, scores, 0.0), axis=-1)
    probs = jax.lax.stop_gradient(probs)  # the original detaches the weights before selecting
    self.sow("intermediates", "attention", probs.reshape(n, h, w))
    return nucleus_mask(probs, self.threshold).reshape(n, h, w) & active


class SparseVggStage(nn.Module):
  """SparseVggNet(['C', c], ['C', c], ['MP', 2, 2]) on a dense tensor + active-site mask."""

  features: int
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, active: jax.Array, *, train: bool):
    m = active[..., None].astype(x.dtype)
    for i in (1, 2):
      conv = torch_conv(self.features, 3, x.shape[-1], use_bias=False, dtype=self.dtype, name=f"conv{i}")
      x = chunked(conv, x * m, CONV_CHUNK)
      x = torch_batch_norm(train, self.axis_name, epsilon=1e-4, dtype=self.dtype, name=f"bn{i}")(
          x, mask=jnp.broadcast_to(active[..., None], x.shape))
      x = nn.relu(x) * m
    pooled_active = max_pool(active[..., None].astype(x.dtype))[..., 0] > 0
    return max_pool(x), pooled_active


class MesmItemEncoder(nn.Module):
  """Low-level dense block + 3 selected-sparse stages + flatten MLP, for faces or mel pieces."""

  dim: int = 64
  hidden: int = 1024
  low_channels: int = 64
  stage_channels: Sequence[int] = STAGE_CHANNELS
  attention_dims: Sequence[int] = ATTENTION_DIMS
  threshold: float = 0.9
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, text: jax.Array, valid: jax.Array, *, train: bool) -> jax.Array:
    c = self.low_channels
    x = chunked(torch_conv(c, 5, x.shape[-1], dtype=self.dtype, name="stem"), precision.cast(x, self.dtype), CONV_CHUNK)
    stem_bn = torch_batch_norm(train, self.axis_name, dtype=self.dtype, name="stem_bn")
    x = max_pool(nn.relu(stem_bn(x, mask=item_mask(valid, x))))
    for i in (1, 2):
      x = VggBlock(c, self.axis_name, dtype=self.dtype, name=f"vgg{i}")(x, valid, train=train)
    active = jnp.broadcast_to(valid[:, None, None], x.shape[:3])
    shares = []
    for i, (features, k) in enumerate(zip(self.stage_channels, self.attention_dims)):
      active = CrossModalSelection(k, self.threshold, self.dtype, name=f"attn{i}")(x, text, active)
      grid = active.shape[1] * active.shape[2]
      shares.append(active.sum() / jnp.maximum(valid.sum() * grid, 1))
      x, active = SparseVggStage(features, self.axis_name, self.dtype, name=f"stage{i}")(x, active, train=train)
    # Share of each stage's locations (over valid items) that a sparse kernel would compute.
    self.sow("intermediates", "active_share", jnp.stack(shares))
    x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)  # torch's channel-major flatten
    x = nn.relu(TorchDense(self.hidden, dtype=self.dtype, name="flatten1")(x))
    return TorchDense(self.dim, dtype=self.dtype, name="flatten2")(x)


@registry.MODELS.register("mesm")
class MESM(nn.Module):
  """Same inputs as `mme2e`; 't' must be among the modalities (its CLS conditions the selection)."""

  num_classes: int = 6
  modalities: str = "tav"
  sparse_threshold: float = 0.9
  trans_dim: int = 64
  trans_layers: int = 4
  trans_heads: int = 4
  trans_ff: int = 2048
  dropout: float = 0.1
  low_channels: int = 64
  stage_channels: Sequence[int] = STAGE_CHANNELS
  attention_dims: Sequence[int] = ATTENTION_DIMS
  flatten_hidden: int = 1024
  text_encoder: Optional[str] = None
  freeze_text_encoder: bool = False
  text_pooling: Optional[str] = None  # None: the checkpoint's own (see mme2e.MME2E.text_pooling)
  axis_name: Optional[str] = None
  dtype: Any = None  # compute dtype (config.compute_dtype); parameters stay float32

  def resolved_text_pooling(self) -> str:
    """`text_pooling`, or the text checkpoint's own pooling (features.pooling.resolve)."""
    return pooling_lib.resolve(self.text_encoder, self.text_pooling, "model.text_pooling")

  def pretrained_folders(self) -> dict[str, str]:
    return {"text_encoder/encoder": self.text_encoder} if self.text_encoder else {}

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    if "t" not in self.modalities or set(self.modalities) - set("tva"):
      raise ValueError(f"modalities={self.modalities!r}: MESM needs 't' plus any of 'v', 'a'.")
    order = [m for m in "tva" if m in self.modalities]
    inputs = precision.cast_floating(inputs, self.dtype)
    text_cls = self._text_cls(inputs, train)
    logits = [TorchDense(self.num_classes, dtype=self.dtype, name="t_out")(text_cls)]
    for m in order[1:]:
      key = {"v": "vision", "a": "audio"}[m]
      if key + batch_keys.INDEX_SUFFIX in inputs:  # packed items: the stages need the (B, S) layout
        raise ValueError(f"MESM reads {key!r} per utterance slot and cannot take packed items; "
                         f"remove {key!r} from config.input.pack_items.")
      items = inputs[key][..., None] if m == "a" and inputs[key].ndim == 4 else inputs[key]
      batch, slots = items.shape[:2]
      mask = inputs.get(f"{key}_mask", jnp.ones((batch, slots), bool)).astype(bool)
      flat = items.reshape((batch * slots,) + items.shape[2:])
      per_item_text = jnp.repeat(text_cls, slots, axis=0)
      feats = MesmItemEncoder(self.trans_dim, self.flatten_hidden, self.low_channels, self.stage_channels,
                              self.attention_dims, self.sparse_threshold, self.axis_name, self.dtype,
                              name=f"{m}_items")(
                                  flat, per_item_text, mask.reshape(-1), train=train)
      feats = jnp.where(mask.reshape(-1, 1), feats, 0.0).reshape(batch, slots, -1)
      cls = ClsTransformerEncoder(self.trans_dim, self.trans_layers, self.trans_heads, self.trans_ff,
                                  self.dropout, self.dtype, name=f"{m}_transformer")(feats, mask, train=train)
      logits.append(TorchDense(self.num_classes, dtype=self.dtype, name=f"{m}_out")(cls))
    weights = self.param("weighted_fusion", torch_bias_init(len(order)), (len(order),))
    if len(order) == 1:
      return logits[0]
    return jnp.stack(logits, axis=-1) @ precision.cast(weights, self.dtype)

  def _text_cls(self, inputs, train):
    return text_cls(self, inputs, train)


def stage_conv_flops(grid: tuple[int, int], low_channels: int = 64, stage_channels: Sequence[int] = STAGE_CHANNELS,
                     in_channels: int = 3, input_hw: Optional[tuple[int, int]] = None) -> dict[str, float]:
  """Dense multiply-adds per item: the low-level block and each stage's two 3x3 convs."""
  h, w = grid  # resolution entering stage 1 (after the low-level pool)
  low = (input_hw[0] * input_hw[1] * 25 * in_channels * low_channels if input_hw else 0) + \
      2 * 2 * h * w * 9 * low_channels * low_channels
  stages, c_in = [], low_channels
  for c in stage_channels:
    stages.append(h * w * 9 * (c_in * c + c * c))
    c_in, h, w = c, h // 2, w // 2
  return {"low_level": float(low), "stages": [float(s) for s in stages]}


def sparse_compute_fraction(active_share: np.ndarray, flops: Mapping[str, object]) -> dict[str, float]:
  """Share of the item CNN's conv multiply-adds that submanifold-sparse kernels would skip.

  `active_share[i]`: share of stage i's locations that are active (the sown `active_share`).
  A sparse conv computes outputs at active sites only; we count each as a full 3x3 neighbourhood
  (conservative: inactive neighbours are skipped too). The dense low-level block is unchanged.
  """
  share = np.asarray(active_share, np.float64)
  stages = np.asarray(flops["stages"], np.float64)
  total = float(flops["low_level"]) + stages.sum()
  sparse = float(flops["low_level"]) + float((stages * share).sum())
  return {"active_share_per_stage": share.tolist(), "dense_madds": total, "sparse_madds": sparse,
          "saved_fraction": 1.0 - sparse / total}
