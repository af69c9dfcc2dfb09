"""Pretrained Hugging Face Flax encoders (BERT, ALBERT, wav2vec2) from a local folder.

The folder is read by `mmer_jax.checkpoint_folder` (config, weights in either format, the error
that says what is missing); this module holds what is model knowledge: which model types are built,
their linen modules, and the parameter tree a folder's weights are converted into.

How models use this:
- a model holds the encoder as a submodule built from the folder's config only
  (`encoder_module(folder)`), so shapes are known without loading weights;
- the trainer replaces the random initial parameters of that submodule with the checkpoint's
  (`mmer_jax/train/pretrained_weights.py`, for every folder in `model.pretrained_folders()`);
- frozen versus fine-tuned is an optimiser matter (`config.optimizer.param_group_lr`
  {"text_encoder": 0.0} freezes, 0.1 is MME2E's lr/10); models also offer a `stop_gradient` flag
  so a frozen encoder costs no backward pass.
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax import checkpoint_folder
from mmer_jax.models import precision
from mmer_jax.models.layers.dropout import Dropout

SUPPORTED = ("bert", "albert", "wav2vec2")


def _supported(config):
  if config.model_type not in SUPPORTED:
    raise checkpoint_folder.CheckpointFolderError(
        f"{config.name_or_path!r} holds a {config.model_type!r} model; supported model types: "
        f"{', '.join(SUPPORTED)}.")
  return config


def load_config(path: str | pathlib.Path):
  """The transformers config of a checkpoint folder (only config.json is needed), of a type built here."""
  return _supported(checkpoint_folder.config(path))


def _classes(model_type: str):
  from transformers import FlaxAlbertModel, FlaxBertModel, FlaxWav2Vec2Model
  return {"bert": FlaxBertModel, "albert": FlaxAlbertModel, "wav2vec2": FlaxWav2Vec2Model}[model_type]


def encoder_module(path: str | pathlib.Path, *, add_pooling_layer: bool = True, **module_kwargs) -> nn.Module:
  """The bare linen module (FlaxBertModule / FlaxAlbertModule / FlaxWav2Vec2Module).

  Called inside a compact method it becomes a submodule (pass `name=`).
  """
  config = load_config(path)
  if config.model_type == "wav2vec2" and not config.do_stable_layer_norm:
    return Wav2Vec2Module(config=config, **module_kwargs)
  if config.model_type == "wav2vec2":
    return _classes("wav2vec2").module_class(config=config, **module_kwargs)
  module_class = _classes(config.model_type).module_class
  return module_class(config=config, add_pooling_layer=add_pooling_layer, **module_kwargs)


def param_shapes(path: str | pathlib.Path) -> dict[str, Any]:
  """The parameter shapes of the encoder a folder defines (with its pooler), from jax.eval_shape."""
  config = load_config(path)
  module = encoder_module(path)
  ids = jnp.zeros((1, 4000 if config.model_type == "wav2vec2" else 8),
                  jnp.float32 if config.model_type == "wav2vec2" else jnp.int32)
  args = (ids,) if config.model_type == "wav2vec2" else (ids, jnp.ones_like(ids))
  return jax.eval_shape(lambda rng: module.init(rng, *args), jax.random.PRNGKey(0))["params"]


def load_params(path: str | pathlib.Path) -> dict[str, Any]:
  """The checkpoint's parameters in the tree of its encoder module (`encoder_module`, pooler
  included), as a nested dict of numpy arrays, without random initialisation."""
  return checkpoint_folder.weights(path, param_shapes(path), complete=True)


# ---- wav2vec2 -----------------------------------------------------------------------------------
# transformers' Flax wav2vec2 implements only the "stable layer norm" variant (large-lv60 style:
# layer-norm conv stack, pre-LN encoder). wav2vec2-base, which seed 004 fine-tunes (94,371,712
# params, the same as the TF-Hub layer), uses group norm in the first conv and a post-LN encoder.
# The module below builds both, reusing transformers' Flax blocks and PyTorch parameter names, so
# PyTorch checkpoints convert with transformers' renamer and counts match `Wav2Vec2Model`.


class _ConvLayer(nn.Module):
  config: Any
  layer_id: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = self.config
    x = nn.Conv(c.conv_dim[self.layer_id], (c.conv_kernel[self.layer_id],), (c.conv_stride[self.layer_id],),
                padding="VALID", use_bias=c.conv_bias, kernel_init=nn.initializers.he_normal(), dtype=self.dtype,
                name="conv")(x)
    if c.feat_extract_norm == "layer":
      x = nn.LayerNorm(epsilon=c.layer_norm_eps, dtype=self.dtype, name="layer_norm")(x)
    elif self.layer_id == 0:  # "group": GroupNorm(num_groups=channels) = per-channel norm over time
      x = nn.GroupNorm(num_groups=c.conv_dim[0], epsilon=1e-5, dtype=self.dtype, name="layer_norm")(x)
    return _act(c.feat_extract_activation)(x)


def _act(name: str):
  from transformers.modeling_flax_utils import ACT2FN
  return ACT2FN[name]


class _PostLNEncoderLayer(nn.Module):
  config: Any
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, deterministic: bool):
    from transformers.models.wav2vec2 import modeling_flax_wav2vec2 as hf
    c = self.config
    attended, _ = hf.FlaxWav2Vec2Attention(c, c.hidden_size, c.num_attention_heads, dropout=c.attention_dropout,
                                           dtype=self.dtype, name="attention")(x, deterministic=deterministic)
    x = x + Dropout(c.hidden_dropout)(attended, deterministic=deterministic)
    x = nn.LayerNorm(epsilon=c.layer_norm_eps, dtype=self.dtype, name="layer_norm")(x)
    x = x + hf.FlaxWav2Vec2FeedForward(c, dtype=self.dtype, name="feed_forward")(x, deterministic=deterministic)
    return nn.LayerNorm(epsilon=c.layer_norm_eps, dtype=self.dtype, name="final_layer_norm")(x)


class _LayerList(nn.Module):
  """`count` layers applied in turn and named 0, 1, ... as in a PyTorch ModuleList (the checkpoint's
  parameter names); `layer(i, name)` builds layer i."""
  layer: Callable[[int, str], nn.Module]
  count: int

  @nn.compact
  def __call__(self, x, *args):
    for i in range(self.count):
      x = self.layer(i, str(i))(x, *args)
    return x


class _PostLNEncoder(nn.Module):
  config: Any
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, deterministic: bool):
    from transformers.models.wav2vec2 import modeling_flax_wav2vec2 as hf
    c = self.config
    x = x + hf.FlaxWav2Vec2PositionalConvEmbedding(c, dtype=self.dtype, name="pos_conv_embed")(x)
    x = nn.LayerNorm(epsilon=c.layer_norm_eps, dtype=self.dtype, name="layer_norm")(x)
    x = Dropout(c.hidden_dropout)(x, deterministic=deterministic)
    # No layerdrop (HF's Flax models skip it too).
    return _LayerList(lambda i, name: _PostLNEncoderLayer(c, self.dtype, name=name), c.num_hidden_layers,
                      name="layers")(x, deterministic)


class _FeatureExtractor(nn.Module):
  config: Any
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, audio):
    c = self.config
    return _LayerList(lambda i, name: _ConvLayer(c, i, self.dtype, name=name), c.num_feat_extract_layers,
                      name="conv_layers")(audio[:, :, None].astype(self.dtype))


class Wav2Vec2Module(nn.Module):
  """wav2vec2-base-style encoder (no attention mask, no SpecAugment); returns (batch, frames, hidden).

  Parameter names follow PyTorch `Wav2Vec2Model`; `masked_spec_embed` is created (unused, as during
  fine-tuning without SpecAugment) so the parameter count equals the original's.
  """

  config: Any
  dtype: Any = jnp.float32  # compute dtype; parameters stay float32

  @nn.compact
  def __call__(self, input_values: jax.Array, deterministic: bool = True) -> jax.Array:
    from transformers.models.wav2vec2 import modeling_flax_wav2vec2 as hf
    c = self.config
    self.param("masked_spec_embed", nn.initializers.uniform(), (c.hidden_size,))
    features = _FeatureExtractor(c, self.dtype, name="feature_extractor")(input_values)
    hidden, _ = hf.FlaxWav2Vec2FeatureProjection(c, dtype=self.dtype, name="feature_projection")(
        features, deterministic=deterministic)
    return _PostLNEncoder(c, self.dtype, name="encoder")(hidden, deterministic)


class TextEncoder(nn.Module):
  """BERT/ALBERT from a checkpoint folder; returns the last hidden states (batch, length, hidden).

  `stop_gradient=True` treats the encoder as frozen feature extractor (no backward pass through it).
  """

  folder: str
  stop_gradient: bool = False
  # Models pool the token states themselves (features.pooling: as the checkpoint was trained), never
  # with the pooler; build it only where the original model holds one (HF AlbertModel in MME2E) so
  # parameter counts match. bert-for-tf2 (seed 004) has none.
  add_pooling_layer: bool = False
  # Compute dtype: transformers' Flax modules take `dtype=` for their computation and keep their
  # parameters float32 (mmer_jax/models/precision.py). None: their default, float32.
  dtype: Any = None

  @nn.compact
  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array, *, train: bool,
               token_type_ids: jax.Array | None = None) -> jax.Array:
    module = encoder_module(self.folder, add_pooling_layer=self.add_pooling_layer,
                            dtype=precision.or_float32(self.dtype), name="encoder")
    types = {} if token_type_ids is None else {"token_type_ids": token_type_ids.astype(jnp.int32)}
    hidden = module(
        input_ids.astype(jnp.int32), attention_mask.astype(jnp.int32),
        deterministic=not train or self.stop_gradient, **types).last_hidden_state
    return jax.lax.stop_gradient(hidden) if self.stop_gradient else hidden


class SpeechEncoder(nn.Module):
  """wav2vec2 from a checkpoint folder on raw 16 kHz audio; returns (batch, frames, hidden).

  Like the seed (a TF-Hub wav2vec2 layer fed zero-padded audio), no attention mask is passed:
  wav2vec2-base normalises with group norm over time, for which HF documents that padded input
  should be fed without a mask. Frames beyond each utterance are masked by the caller instead
  (`frame_lengths`).
  """

  folder: str
  stop_gradient: bool = False
  dtype: Any = None  # compute dtype, as TextEncoder's

  @nn.compact
  def __call__(self, audio: jax.Array, *, train: bool) -> jax.Array:
    module = encoder_module(self.folder, dtype=precision.or_float32(self.dtype), name="encoder")
    hidden = module(precision.cast(audio, self.dtype), deterministic=not train or self.stop_gradient)
    if not isinstance(module, Wav2Vec2Module):  # transformers' stable-LN module returns a tuple
      hidden = hidden[0]
    return jax.lax.stop_gradient(hidden) if self.stop_gradient else hidden


def frame_lengths(folder: str, num_samples: jax.Array | int) -> jax.Array:
  """wav2vec2 output frames for `num_samples` input samples (the conv stack's valid-conv formula)."""
  config = load_config(folder)
  length = jnp.asarray(num_samples)
  for kernel, stride in zip(config.conv_kernel, config.conv_stride):
    length = (length - kernel) // stride + 1
  return length


def save_tiny_config(folder: str | pathlib.Path, model_type: str, **overrides: Any) -> pathlib.Path:
  """Writes config.json of a small random-initialised encoder (for tests and smoke configs)."""
  from transformers import AlbertConfig, BertConfig, Wav2Vec2Config
  defaults = {
      "bert": (BertConfig, dict(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=64)),
      "albert": (AlbertConfig, dict(vocab_size=100, embedding_size=8, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)),
      "wav2vec2": (Wav2Vec2Config, dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                        intermediate_size=32, conv_dim=(8, 8), conv_stride=(5, 4),
                                        conv_kernel=(10, 8), num_conv_pos_embeddings=8,
                                        num_conv_pos_embedding_groups=2, do_stable_layer_norm=False)),
  }
  config_class, kwargs = defaults[model_type]
  folder = pathlib.Path(folder)
  config_class(**{**kwargs, **overrides}).save_pretrained(folder)
  return folder
