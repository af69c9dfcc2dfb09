"""Seed 004 (Patamia et al.; Ruddy202/multimodal-SEmoR): BERT + wav2vec2 + MoCap fusion (Keras originals).

Branches (`Concatenation_2`):
- text `t`: BERT -> CLS (`text_pooling`: as the checkpoint was trained, CLS for BERT) -> Dropout(0.5) ->
  Dense(128, relu) -> Dropout(0.5);
- speech `s`: wav2vec2 (fine-tuned) -> Flatten -> Dense(128) (linear);
- MoCap `m`: (200, 189, 1) -> 4x [Conv2D(16/32/64/75, 3x3, stride 2, same) + ReLU] -> Flatten -> Dense(128) (linear).
Heads: any two or three branches -> concat -> Dense(128, relu) -> Dense(C); one modality uses the
seed's unimodal notebook head instead:
- text (`TextBERT`): CLS -> Dropout(0.5) -> Dense(256, relu) -> Dropout(0.5) -> Dense(C);
- speech (`Speech_Wav2vec`): Flatten -> Dense(64, relu) -> Dropout(0.5) -> Dense(C);
- MoCap (`Mocap_Rotate_*`): `mocap_head` = "cnn" (1A: Conv2D(256)-pool-Conv2D(128)-pool-3x Conv2D(128),
  Flatten, Dense(128, relu)), "cnn_lstm" (1B: same convs, Reshape(-1, 128), LSTM(128) x2),
  "gru" (GRU 1024 -> 512 -> 256 over the 200 chunks), each then Dense(C).
Outputs are logits; the seed's softmax-then-from_logits loss is the trainer's `loss.double_softmax`.

Keras conventions: glorot-uniform kernels, zero biases; Keras GRU's `reset_after=True` biases.
Speech: `speech_pool="flatten"` needs a fixed frame count (246,000 samples -> 768 frames ->
589,824 inputs to the Dense, as in the seed); frames past each utterance's end are zeroed first
when `audio_mask` is given. `speech_pool="masked_mean"` (mean over valid frames) works with the
cheaper short buckets and has 768x fewer Dense weights; it is our option, not the seed's.
`mask_padded_frames=False` keeps the seed's behaviour of feeding the padding's frames onward.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax import registry
from mmer_jax.features import pooling as pooling_lib
from mmer_jax.models import precision, pretrained
from mmer_jax.models.layers import conv_relu_pool, conv_weight_grad, pooling
from mmer_jax.models.layers.dropout import Dropout
from mmer_jax.models.layers.rnn import LSTM

BRANCHES = "tsm"  # text, speech, MoCap
MOCAP_HEADS = ("cnn", "cnn_lstm", "gru")


def keras_dense(features: int, dtype: Any, name: Optional[str] = None) -> nn.Dense:
  return nn.Dense(features, kernel_init=nn.initializers.glorot_uniform(), dtype=dtype, name=name)


def keras_conv(features: int, dtype: Any, strides: int = 1, gemm_kernel_gradient: bool = True,
               name: Optional[str] = None) -> nn.Conv:
  conv = conv_weight_grad.conv_general_dilated if gemm_kernel_gradient else None  # None: XLA's own
  return nn.Conv(features, (3, 3), strides=(strides, strides), padding="SAME",
                 kernel_init=nn.initializers.glorot_uniform(), conv_general_dilated=conv, dtype=dtype, name=name)


class KerasGRU(nn.Module):
  """Keras GRU (reset_after=True, gates z, r, h): returns the sequence (B, T, U) or the last state."""

  units: int
  return_sequences: bool = False
  dtype: Any = None  # the input GEMM's; the recurrence stays float32, as layers/rnn.py's LSTMs

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    u = self.units
    kernel = self.param("kernel", nn.initializers.glorot_uniform(), (x.shape[-1], 3 * u))
    recurrent = self.param("recurrent_kernel", nn.initializers.orthogonal(), (u, 3 * u))
    bias = self.param("bias", nn.initializers.zeros, (2, 3 * u))  # input and recurrent biases
    gates_x = jnp.einsum("btf,fg->tbg", precision.cast(x, self.dtype), precision.cast(kernel, self.dtype))  # one GEMM
    gates_x = precision.at_least_float32(gates_x) + bias[0]

    def step(h, gx):
      gh = h @ recurrent + bias[1]
      xz, xr, xh = jnp.split(gx, 3, -1)
      hz, hr, hh = jnp.split(gh, 3, -1)
      z, r = jax.nn.sigmoid(xz + hz), jax.nn.sigmoid(xr + hr)
      h = z * h + (1 - z) * jnp.tanh(xh + r * hh)
      return h, h

    h, seq = jax.lax.scan(step, jnp.zeros((x.shape[0], u), gates_x.dtype), gates_x)
    return precision.cast(seq.transpose(1, 0, 2) if self.return_sequences else h, self.dtype)

  @staticmethod
  def keras_param_count(in_dim: int, units: int) -> int:
    return 3 * (in_dim * units + units * units + 2 * units)


class MocapFusionCNN(nn.Module):
  """`Concatenation_2`'s MoCap branch: 4 stride-2 convs (16, 32, 64, 75) + ReLU, Flatten, Dense(128)."""

  channels: Sequence[int] = (16, 32, 64, 75)
  units: int = 128
  gemm_kernel_gradient: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i, c in enumerate(self.channels):
      x = nn.relu(keras_conv(c, self.dtype, strides=2, gemm_kernel_gradient=self.gemm_kernel_gradient,
                             name=f"conv{i}")(x))
    return keras_dense(self.units, self.dtype, name="dense")(x.reshape(x.shape[0], -1))


class MocapUnimodalHead(nn.Module):
  """The MoCap-only notebook heads before the output layer (see module docstring)."""

  kind: str = "cnn"
  conv_channels: Sequence[int] = (256, 128, 128, 128, 128)
  units: int = 128
  gru_units: Sequence[int] = (1024, 512, 256)
  gemm_kernel_gradient: bool = True
  fused_stem: bool = True  # the one-channel first conv, its ReLU and pool as one block (same values)
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.kind not in MOCAP_HEADS:
      raise ValueError(f"mocap_head={self.kind!r}; known: {', '.join(MOCAP_HEADS)}.")
    if self.kind == "gru":
      x = x[..., 0]  # (B, 200 chunks, features)
      for i, u in enumerate(self.gru_units):
        x = KerasGRU(u, return_sequences=i < len(self.gru_units) - 1, dtype=self.dtype, name=f"gru{i}")(x)
      return x
    for i, c in enumerate(self.conv_channels):
      if i < 2 and self.fused_stem and conv_relu_pool.is_few_channel((3, 3), x.shape[-1]):
        # Same parameters and values; see layers/conv_relu_pool.py for why.
        x = conv_relu_pool.ConvReluPool(c, dtype=self.dtype, name=f"conv{i}")(x)
        continue
      x = nn.relu(keras_conv(c, self.dtype, gemm_kernel_gradient=self.gemm_kernel_gradient, name=f"conv{i}")(x))
      if i < 2:
        x = pooling.max_pool(x, 2)
    if self.kind == "cnn":
      return nn.relu(keras_dense(self.units, self.dtype, name="dense")(x.reshape(x.shape[0], -1)))
    x = x.reshape(x.shape[0], -1, x.shape[-1])  # Reshape((-1, 128)): positions as time steps
    x, _ = LSTM(self.units, dtype=self.dtype, name="lstm0")(x)
    _, h = LSTM(self.units, dtype=self.dtype, name="lstm1")(x)
    return h


@registry.MODELS.register("ssl_fusion")
class SslFusion(nn.Module):
  """Inputs: `text` (B, L) BERT ids + `text_mask`; `audio` (B, N) 16 kHz waveform (+ `audio_mask`);
  `mocap` (B, 200, 189) = concat(head, hand, rotated) chunk means."""

  num_classes: int = 4
  modalities: str = "tsm"
  text_encoder: Optional[str] = None    # BERT checkpoint folder
  speech_encoder: Optional[str] = None  # wav2vec2 checkpoint folder
  freeze_text_encoder: bool = False
  # None: pooled as the checkpoint was trained (features.pooling; CLS for the seed's BERT), or cls / mean.
  text_pooling: Optional[str] = None
  freeze_speech_encoder: bool = False
  dropout: float = 0.5
  branch_units: int = 128
  speech_pool: str = "flatten"          # "flatten" (seed) | "masked_mean"
  mask_padded_frames: bool = True       # False = seed: frames of the zero padding are kept
  mocap_head: str = "cnn"               # unimodal MoCap head: cnn | cnn_lstm | gru
  mocap_fusion_channels: Sequence[int] = (16, 32, 64, 75)
  mocap_unimodal_channels: Sequence[int] = (256, 128, 128, 128, 128)
  mocap_gru_units: Sequence[int] = (1024, 512, 256)
  gemm_kernel_gradient: bool = True     # MoCap conv kernel gradients as GEMMs (layers/conv_weight_grad)
  dtype: Any = None              # compute dtype (config.compute_dtype); parameters stay float32

  def resolved_text_pooling(self) -> str:
    """`text_pooling`, or the text checkpoint's own pooling (features.pooling.resolve)."""
    return pooling_lib.resolve(self.text_encoder, self.text_pooling, "model.text_pooling")

  def pretrained_folders(self) -> dict[str, str]:
    folders = {}
    if "t" in self.modalities and self.text_encoder:
      folders["text_encoder/encoder"] = self.text_encoder
    if "s" in self.modalities and self.speech_encoder:
      folders["speech_encoder/encoder"] = self.speech_encoder
    return folders

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    order = [m for m in BRANCHES if m in self.modalities]
    if not order or set(self.modalities) - set(BRANCHES):
      raise ValueError(f"modalities={self.modalities!r}: use a non-empty subset of 't', 's', 'm'.")
    drop = lambda x: Dropout(self.dropout)(x, deterministic=not train)
    dense = lambda features, name: keras_dense(features, self.dtype, name=name)
    inputs = precision.cast_floating(inputs, self.dtype)
    unimodal = len(order) == 1
    feats = []
    for m in order:
      if m == "t":
        cls = self._text_cls(inputs, train)
        if unimodal:  # TextBERT head
          return dense(self.num_classes, "out")(drop(nn.relu(dense(256, "t_dense")(drop(cls)))))
        feats.append(drop(nn.relu(dense(self.branch_units, "t_dense")(drop(cls)))))
      elif m == "s":
        pooled = self._speech_pooled(inputs, train)
        if unimodal:  # Speech_Wav2vec head
          return dense(self.num_classes, "out")(drop(nn.relu(dense(64, "s_dense")(pooled))))
        feats.append(dense(self.branch_units, "s_dense")(pooled))
      else:
        mocap = inputs["mocap"][..., None] if inputs["mocap"].ndim == 3 else inputs["mocap"]
        if unimodal:
          head = MocapUnimodalHead(self.mocap_head, self.mocap_unimodal_channels, self.branch_units,
                                   self.mocap_gru_units, self.gemm_kernel_gradient, dtype=self.dtype, name="m_head")(mocap)
          return dense(self.num_classes, "out")(head)
        feats.append(MocapFusionCNN(self.mocap_fusion_channels, self.branch_units, self.gemm_kernel_gradient,
                                    self.dtype, name="m_branch")(mocap))
    fused = nn.relu(dense(self.branch_units, "fusion_dense")(jnp.concatenate(feats, -1)))
    return dense(self.num_classes, "out")(fused)

  def _text_cls(self, inputs, train):
    if not self.text_encoder:
      raise ValueError("modality 't' needs model.text_encoder (a BERT checkpoint folder).")
    ids = inputs["text"]
    mask = inputs.get("text_mask", jnp.ones(ids.shape, bool))
    hidden = pretrained.TextEncoder(self.text_encoder, stop_gradient=self.freeze_text_encoder, dtype=self.dtype,
                                    name="text_encoder")(ids, mask, train=train)
    pooled = pooling_lib.pool(hidden, mask, self.resolved_text_pooling())
    self.sow("intermediates", "text_pooled", pooled)
    return pooled

  def _speech_pooled(self, inputs, train):
    if not self.speech_encoder:
      raise ValueError("modality 's' needs model.speech_encoder (a wav2vec2 checkpoint folder).")
    audio = inputs["audio"]
    hidden = pretrained.SpeechEncoder(self.speech_encoder, stop_gradient=self.freeze_speech_encoder,
                                      dtype=self.dtype, name="speech_encoder")(audio, train=train)
    frames = hidden.shape[1]
    if "audio_mask" in inputs and self.mask_padded_frames:
      valid = pretrained.frame_lengths(self.speech_encoder, inputs["audio_mask"].sum(-1))
      frame_mask = jnp.arange(frames)[None, :] < valid[:, None]
    else:
      frame_mask = jnp.ones(hidden.shape[:2], bool)
    hidden = jnp.where(frame_mask[..., None], hidden, 0.0)
    if self.speech_pool == "flatten":
      return hidden.reshape(hidden.shape[0], -1)
    if self.speech_pool == "masked_mean":
      return hidden.sum(1) / jnp.maximum(frame_mask.sum(1, keepdims=True), 1)
    raise ValueError(f"speech_pool={self.speech_pool!r}; use 'flatten' or 'masked_mean'.")
