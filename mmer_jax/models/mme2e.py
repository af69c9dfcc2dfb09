"""MME2E (Dai et al., NAACL 2021) and its SAMSEMO variant (Bujnowski et al., Interspeech 2024).

Per modality:
- visual: each face (48x48x3) through a VGG-style CNN -> Linear(4608,1024)-ReLU-Linear(1024,64);
- audio: each 128x32 mel piece through the same CNN (1 input channel) -> Linear(8192,1024)-ReLU-Linear(1024,64);
- the per-item vectors of an utterance go through a 4-layer post-LN transformer with a learned CLS
  token and no positional encoding; CLS -> Linear(64, C);
- text: a sentence vector -> Linear(768, C); precomputed (SAMSEMO: frozen BERT features from the
  builder) or from an ALBERT/BERT fine-tuned on token ids (upstream), pooled as that checkpoint was
  trained (`text_pooling`: CLS for ALBERT/BERT, as upstream; mean for sentence-transformers folders).
Logits are stacked in the order [t, v, a] (whatever order the modality string has) and fused by
a bias-free Linear(M, 1); one modality returns its logits directly.

`variant="samsemo"` inserts dropout after every VGG block and after the audio stem conv (as
SAMSEMO's model_E2E.py does); `variant="upstream"` has none.

Padded faces/pieces never influence the result, as in the originals (which encode only the real
ones): BatchNorm statistics use valid items only (masked BN), padded outputs are masked out of the
transformer. By default every slot still goes through the CNN (fixed shapes). `compute_buckets`
(fractions of batch*items, e.g. (0.625, 1.0)) instead packs the valid items into the smallest
fitting buffer chosen at run time with `lax.switch`; results are identical (tested), and forward /
evaluation gets cheaper, but on XLA:CPU the differentiated conditional runs pathologically slowly
(a batch-4 audio train step: >4 min instead of 9.7 s unpacked), so training keeps it off.
Packing on the host instead (`input.pack_items`, mmer_jax/data/item_packing.py) gives the model
`<key>` (P, H, W, C) real items plus `<key>_index` (B, S) and `<key>_item_valid` (P,): no switch,
same results, and the CNN work shrinks with the share of real items in training too.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax import registry
from mmer_jax import batch as batch_keys
from mmer_jax.features import pooling as pooling_lib
from mmer_jax.models import precision, pretrained
from mmer_jax.models.layers import pooling
from mmer_jax.models.layers.dropout import Dropout
from mmer_jax.models.layers.transformer import ClsTransformerEncoder, TorchDense, torch_bias_init, torch_kernel_init

# Output channels of: stem conv5x5, VGG blocks 1..5 (pools after the stem, block 3, 4 and 5).
MME2E_CHANNELS = (64, 64, 64, 128, 256, 512)


def torch_conv(features: int, kernel: int, in_features: int, *, use_bias: bool = True, dtype: Any = None,
               name=None) -> nn.Conv:
  """nn.Conv2d(padding=k//2) with PyTorch's default initialisation."""
  return nn.Conv(features, (kernel, kernel), padding=kernel // 2, use_bias=use_bias, kernel_init=torch_kernel_init,
                 bias_init=torch_bias_init(in_features * kernel * kernel), dtype=dtype, name=name)


# Items per convolution call. XLA:CPU's convolutions slow down once a call's activations leave the
# cache: a 3x3 64->64 conv on 256 faces runs at 73 GFLOP/s in one call and at 163 GFLOP/s as 16 calls
# of 16 (benchmarks/mme2e_conv_chunks.py). Items are independent, so the result is the same.
CONV_CHUNK = 16


def chunked(fn, x: jax.Array, chunk: int) -> jax.Array:
  """fn over static slices of `chunk` items along axis 0, concatenated. An unrolled Python loop on
  purpose: the same convolution inside `lax.map` runs ~30x slower on XLA:CPU."""
  if not chunk or x.shape[0] <= chunk:
    return fn(x)
  return jnp.concatenate([fn(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)])


def torch_batch_norm(train: bool, axis_name: Optional[str], *, epsilon: float = 1e-5, dtype: Any = None,
                     name=None) -> nn.BatchNorm:
  # PyTorch momentum 0.1 == Flax momentum 0.9 (weight of the old running value). Statistics and
  # running averages are float32 whatever `dtype` (Flax reduces in float32).
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=epsilon, axis_name=axis_name,
                      dtype=dtype, name=name)


def item_mask(valid: jax.Array, x: jax.Array) -> jax.Array:
  """Per-item validity broadcast to a feature map, for BatchNorm statistics over valid items only.
  A batch without any valid item (e.g. rows of a manifest that all lack video) takes its statistics
  over the padding instead of 0/0; its outputs are masked out either way."""
  valid = valid | ~jnp.any(valid)
  return jnp.broadcast_to(valid[:, None, None, None], x.shape)


def max_pool(x: jax.Array) -> jax.Array:
  return pooling.max_pool(x, 2)


class VggBlock(nn.Module):
  """Conv3x3-BN-ReLU twice, no residual (`VggBasicBlock`)."""

  features: int
  axis_name: Optional[str] = None
  conv_chunk: int = CONV_CHUNK
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, valid: jax.Array, *, train: bool) -> jax.Array:
    for i in (1, 2):
      x = chunked(torch_conv(self.features, 3, x.shape[-1], dtype=self.dtype, name=f"conv{i}"), x, self.conv_chunk)
      x = torch_batch_norm(train, self.axis_name, dtype=self.dtype, name=f"bn{i}")(x, mask=item_mask(valid, x))
      x = nn.relu(x)
    return x


class Mme2eCnn(nn.Module):
  """The per-item CNN (`V`/`A`): stem conv5x5-BN-ReLU-pool, VGG x3, pool, VGG, pool, VGG, pool."""

  channels: Sequence[int] = MME2E_CHANNELS
  dropout: float = 0.0
  stem_dropout: bool = False  # SAMSEMO's audio CNN drops out between the stem conv and its BN
  axis_name: Optional[str] = None
  conv_chunk: int = CONV_CHUNK
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, valid: jax.Array, *, train: bool) -> jax.Array:
    drop = lambda y: Dropout(self.dropout)(y, deterministic=not train) if self.dropout else y
    c = self.channels
    x = chunked(torch_conv(c[0], 5, x.shape[-1], dtype=self.dtype, name="stem"), precision.cast(x, self.dtype), self.conv_chunk)
    if self.stem_dropout:
      x = drop(x)
    stem_bn = torch_batch_norm(train, self.axis_name, dtype=self.dtype, name="stem_bn")
    x = max_pool(nn.relu(stem_bn(x, mask=item_mask(valid, x))))
    for i, features in enumerate(c[1:], start=1):
      x = drop(VggBlock(features, self.axis_name, self.conv_chunk, self.dtype, name=f"vgg{i}")(x, valid, train=train))
      if i >= 3:
        x = max_pool(x)
    # Flatten channel-major like torch's (N, C, H, W).flatten(1), so PyTorch weights would port as is.
    return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)


class ItemEncoder(nn.Module):
  """CNN + flatten MLP for one kind of item (face or mel piece): (N, H, W, C) -> (N, dim)."""

  channels: Sequence[int]
  dim: int
  hidden: int = 1024
  dropout: float = 0.0
  stem_dropout: bool = False
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, valid: jax.Array, train: bool) -> jax.Array:
    x = Mme2eCnn(self.channels, self.dropout, self.stem_dropout, self.axis_name, dtype=self.dtype,
                 name="cnn")(x, valid, train=train)
    x = nn.relu(TorchDense(self.hidden, dtype=self.dtype, name="flatten1")(x))
    return TorchDense(self.dim, dtype=self.dtype, name="flatten2")(x)


class PackedItemEncoder(nn.Module):
  """Runs an `ItemEncoder` on the valid items only, packed into the smallest fitting bucket.

  items (B, S, H, W, C), mask (B, S) -> (B, S, dim) with zeros at padded items. Every bucket is
  compiled; `lax.switch` executes one per step. The full-size bucket is always present, so no
  item is ever dropped.
  """

  channels: Sequence[int]
  dim: int
  hidden: int = 1024
  dropout: float = 0.0
  stem_dropout: bool = False
  axis_name: Optional[str] = None
  buckets: Sequence[float] = (0.375, 0.5, 0.625, 0.75, 1.0)
  # Differentiating `lax.switch` keeps the residuals of EVERY branch (zeros for those not taken),
  # i.e. sum(buckets) x the activations: 30 GB at SAMSEMO's batch 16. Rematerialising the item
  # encoder keeps only its inputs and recomputes the taken branch's forward in the backward pass.
  remat: bool = True
  dtype: Any = None

  def setup(self):
    packing = any(b < 1.0 for b in self.buckets)
    encoder_class = nn.remat(ItemEncoder, static_argnums=(3,)) if self.remat and packing else ItemEncoder
    self.encoder = encoder_class(self.channels, self.dim, self.hidden, self.dropout, self.stem_dropout,
                                 self.axis_name, self.dtype)

  def __call__(self, items: jax.Array, mask: jax.Array, *, train: bool,
               index: Optional[jax.Array] = None, item_valid: Optional[jax.Array] = None) -> jax.Array:
    if index is not None:  # packed on the host (input.pack_items): items (P, H, W, C), index (B, S)
      out = jnp.where(item_valid[:, None], self.encoder(items, item_valid, train), 0.0)
      return jnp.where(mask[..., None], out[index], 0.0)
    batch, slots = mask.shape
    total = batch * slots
    flat = items.reshape((total,) + items.shape[2:])
    valid = mask.reshape(total).astype(bool)
    sizes = batch_keys.bucket_sizes(total, self.buckets)

    def run(size: int):
      def branch(module: "PackedItemEncoder", flat, valid):
        if size == total:
          return jnp.where(valid[:, None], module.encoder(flat, valid, train), 0.0)
        (index,) = jnp.nonzero(valid, size=size, fill_value=total)  # valid items first, in order
        out = module.encoder(flat[jnp.minimum(index, total - 1)], index < total, train)
        return jnp.zeros((total, out.shape[-1]), out.dtype).at[index].set(out, mode="drop")
      return branch

    if len(sizes) == 1 or self.is_initializing():
      out = run(total)(self, flat, valid)
    else:
      which = jnp.searchsorted(jnp.asarray(sizes), valid.sum(), side="left")
      out = nn.switch(which, [run(s) for s in sizes], self, flat, valid)
    return out.reshape(batch, slots, -1)


def _modality_order(modalities: str) -> list[str]:
  unknown = set(modalities) - set("tva")
  if unknown or not modalities:
    raise ValueError(f"modalities={modalities!r}: use a non-empty subset of 't', 'v', 'a'.")
  return [m for m in "tva" if m in modalities]  # the originals stack [t, v, a] in code order


def text_cls(module: nn.Module, inputs: Mapping[str, jax.Array], train: bool) -> jax.Array:
  """The utterance's text vector for MME2E and MESM (`module` has their text fields): the in-model
  encoder's output pooled as its checkpoint was trained, or the stored features' CLS / pooled row.
  Called from the module's own method, so the encoder is its `text_encoder` submodule."""
  text = inputs["text"]
  if module.text_encoder:
    mask = inputs.get("text_mask", jnp.ones(text.shape, bool))
    hidden = pretrained.TextEncoder(module.text_encoder, stop_gradient=module.freeze_text_encoder,
                                    add_pooling_layer=True, dtype=module.dtype, name="text_encoder")(
                                        text, mask, train=train)
    pooled = pooling_lib.pool(hidden, mask, module.resolved_text_pooling())
    module.sow("intermediates", "text_pooled", pooled)
    return pooled
  return text[:, 0] if text.ndim == 3 else text


@registry.MODELS.register("mme2e")
class MME2E(nn.Module):
  """Inputs: `text` (B, 768) CLS features, or (B, L, 768) token features (CLS at 0), or (B, L) token
  ids with `text_mask` when `text_encoder` is a checkpoint folder; `vision` (B, F, 48, 48, 3)
  normalised faces with `vision_mask` (B, F); `audio` (B, P, 128, 32) mel pieces with `audio_mask`."""

  num_classes: int = 5
  modalities: str = "tav"
  variant: str = "samsemo"          # "samsemo": dropout in the CNNs; "upstream": none
  dropout: float = 0.1              # CNN dropout (samsemo only) and transformer dropout
  trans_dim: int = 64
  trans_layers: int = 4
  trans_heads: int = 4
  trans_ff: int = 2048
  cnn_channels: Sequence[int] = MME2E_CHANNELS
  flatten_hidden: int = 1024
  text_encoder: Optional[str] = None  # ALBERT/BERT folder: fine-tuned on token ids (upstream)
  freeze_text_encoder: bool = False   # stop_gradient through the encoder (frozen, on the fly)
  # How the encoder's token states become the text vector: None = as the checkpoint was trained
  # (features.pooling: mean for sentence-transformers folders, CLS for BERT/ALBERT), or cls / mean.
  text_pooling: Optional[str] = None
  compute_buckets: Sequence[float] = (1.0,)  # no packing; see the module docstring
  remat_items: bool = True  # see PackedItemEncoder.remat; only used when packing
  axis_name: Optional[str] = None
  dtype: Any = None  # compute dtype (config.compute_dtype); parameters stay float32

  def resolved_text_pooling(self) -> str:
    """`text_pooling`, or the text checkpoint's own pooling (features.pooling.resolve)."""
    return pooling_lib.resolve(self.text_encoder, self.text_pooling, "model.text_pooling")

  def pretrained_folders(self) -> dict[str, str]:
    """Param subtrees to overwrite with checkpoint weights after init (mmer_jax/train/pretrained_weights.py)."""
    return {"text_encoder/encoder": self.text_encoder} if self.text_encoder and "t" in self.modalities else {}

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    if self.variant not in ("samsemo", "upstream"):
      raise ValueError(f"variant={self.variant!r}; use 'samsemo' or 'upstream'.")
    order = _modality_order(self.modalities)
    cnn_dropout = self.dropout if self.variant == "samsemo" else 0.0
    inputs = precision.cast_floating(inputs, self.dtype)
    logits = []
    for m in order:
      if m == "t":
        out = TorchDense(self.num_classes, dtype=self.dtype, name="t_out")(self._text_cls(inputs, train))
      else:
        key = {"v": "vision", "a": "audio"}[m]
        items, index = inputs[key], inputs.get(key + batch_keys.INDEX_SUFFIX)
        if m == "a" and items.ndim == (3 if index is not None else 4):
          items = items[..., None]  # mel pieces get their single channel
        mask = inputs.get(f"{key}_mask", jnp.ones(items.shape[:2], bool))
        feats = PackedItemEncoder(self.cnn_channels, self.trans_dim, self.flatten_hidden, cnn_dropout,
                                  stem_dropout=(m == "a" and cnn_dropout > 0), axis_name=self.axis_name,
                                  buckets=self.compute_buckets, remat=self.remat_items, dtype=self.dtype,
                                  name=f"{m}_items")(items, mask, train=train, index=index,
                                                     item_valid=inputs.get(key + batch_keys.ITEM_VALID_SUFFIX))
        cls = ClsTransformerEncoder(self.trans_dim, self.trans_layers, self.trans_heads, self.trans_ff,
                                    self.dropout, self.dtype, name=f"{m}_transformer")(feats, mask, train=train)
        out = TorchDense(self.num_classes, dtype=self.dtype, name=f"{m}_out")(cls)
      self.sow("intermediates", f"{m}_logits", out)
      logits.append(out)
    # Linear(M, 1, bias=False); created even for one modality, as the original counts it.
    weights = self.param("weighted_fusion", torch_bias_init(len(order)), (len(order),))
    if len(order) == 1:
      return logits[0]
    return jnp.stack(logits, axis=-1) @ precision.cast(weights, self.dtype)

  def _text_cls(self, inputs: Mapping[str, jax.Array], train: bool) -> jax.Array:
    return text_cls(self, inputs, train)
