"""PyTorch's `nn.TransformerEncoderLayer` in Flax, and MME2E's CLS-token encoder.

`TransformerEncoderLayer` reproduces the PyTorch defaults the seed models rely on:
post-LN (`norm_first=False`), feed-forward width 2048, ReLU, dropout 0.1 on the attention
weights, on both residual branches and after the activation, LayerNorm eps 1e-5. Parameters and
their initialisation follow PyTorch as well, so parameter counts match exactly (4d^2+4d for the
attention, no extra biases) and training starts from the same distribution:

- q/k/v projections: xavier-uniform over PyTorch's fused (3d, d) `in_proj_weight`, zero biases;
- attention output projection: kaiming-uniform(a=sqrt(5)) weight, zero bias (MHA resets it);
- feed-forward `Linear`s: kaiming-uniform(a=sqrt(5)) weight and U(+-1/sqrt(fan_in)) bias.

Masks are bool with True = valid (the repo convention); PyTorch's `src_key_padding_mask` is the
negation. `ClsTransformerEncoder` is MME2E's `WrappedTransformerEncoder`: a learned CLS vector is
prepended, there is NO positional encoding, and the CLS output is returned.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax.models import precision
from mmer_jax.models.layers.dropout import Dropout, attention_with_fast_dropout

# kaiming_uniform_(a=sqrt(5)) draws from U(+-sqrt(6 / ((1 + a^2) fan_in))) = U(+-1/sqrt(fan_in)),
# which is variance scaling with scale 1/3 on fan_in. This is PyTorch's Linear/Conv default.
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int) -> nn.initializers.Initializer:
  """PyTorch's Linear/Conv bias default: U(+-1/sqrt(fan_in)), fan_in of the layer's weight."""
  bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


class TorchDense(nn.Module):
  """Linear layer with PyTorch `nn.Linear` initialisation; params `kernel` (in, out) and `bias`."""

  features: int
  use_bias: bool = True
  dtype: Any = None  # compute dtype (mmer_jax/models/precision.py); parameters stay float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    kernel = self.param("kernel", torch_kernel_init, (fan_in, self.features))
    x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
    # As one 2-D GEMM: the gradient of the N-D form made XLA:CPU transpose the (rows, features)
    # output gradient for the kernel's gradient (106 ms of LF_TRANSFORMER's 735 ms training step).
    y = (x.reshape(-1, fan_in) @ kernel).reshape(x.shape[:-1] + (self.features,))
    if self.use_bias:
      y = y + precision.cast(self.param("bias", torch_bias_init(fan_in), (self.features,)), self.dtype)
    return y


# xavier_uniform over the fused (3d, d) in_proj matrix gives U(+-sqrt(6 / 4d)); for one (d, d)
# projection that is fan_avg variance scaling with scale 1/2.
_in_proj_init = nn.initializers.variance_scaling(0.5, "fan_avg", "uniform")


class TransformerEncoderLayer(nn.Module):
  """Post-LN encoder layer equal to `torch.nn.TransformerEncoderLayer(d_model, nhead)` defaults."""

  d_model: int
  num_heads: int
  dim_feedforward: int = 2048
  dropout: float = 0.1
  layer_norm_eps: float = 1e-5
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array] = None, *, train: bool = False,
               first_only: bool = False) -> jax.Array:
    """x: (batch, length, d_model); mask: (batch, length) bool, True = valid key.

    first_only: compute the output at position 0 only, (batch, 1, d_model). Every position still
    serves as a key and value, so that row equals row 0 of the full layer; the other rows' queries,
    feed-forward and norms (almost all of the layer's work) are skipped.
    """
    deterministic = not train
    attn_mask = None if mask is None else mask[:, None, None, :]
    queries = x[:, :1] if first_only else x
    attended = nn.MultiHeadDotProductAttention(
        num_heads=self.num_heads, qkv_features=self.d_model, out_features=self.d_model,
        dropout_rate=self.dropout, broadcast_dropout=False,  # PyTorch drops each weight independently
        attention_fn=attention_with_fast_dropout,
        deterministic=deterministic, kernel_init=_in_proj_init, out_kernel_init=torch_kernel_init,
        bias_init=nn.initializers.zeros, dtype=self.dtype, force_fp32_for_softmax=precision.is_narrow(self.dtype),
        name="self_attn")(queries, x, mask=attn_mask)
    x = self._norm("norm1")(queries + Dropout(self.dropout)(attended, deterministic=deterministic))
    hidden = nn.relu(TorchDense(self.dim_feedforward, dtype=self.dtype, name="linear1")(x))
    hidden = Dropout(self.dropout)(hidden, deterministic=deterministic)
    hidden = TorchDense(self.d_model, dtype=self.dtype, name="linear2")(hidden)
    return self._norm("norm2")(x + Dropout(self.dropout)(hidden, deterministic=deterministic))

  def _norm(self, name: str) -> nn.LayerNorm:
    # Two-pass variance like torch.layer_norm (the fast E[x^2]-E[x]^2 form loses precision).
    return nn.LayerNorm(epsilon=self.layer_norm_eps, use_fast_variance=False, dtype=self.dtype, name=name)

  @staticmethod
  def torch_param_count(d_model: int, dim_feedforward: int = 2048) -> int:
    """Parameters of the PyTorch layer: attention 4d^2+4d, two LayerNorms 4d, FF 2*d*ff+ff+d."""
    return (4 * d_model * d_model + 4 * d_model) + 4 * d_model + (
        2 * d_model * dim_feedforward + dim_feedforward + d_model)


class TransformerEncoder(nn.Module):
  """`nn.TransformerEncoder(layer, num_layers)` without a final norm (PyTorch's default)."""

  num_layers: int
  d_model: int
  num_heads: int
  dim_feedforward: int = 2048
  dropout: float = 0.1
  layer_norm_eps: float = 1e-5
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array] = None, *, train: bool = False,
               first_only: bool = False) -> jax.Array:
    """first_only: return only position 0, (batch, 1, d_model), computed by the last layer alone."""
    for i in range(self.num_layers):
      last = i == self.num_layers - 1
      x = TransformerEncoderLayer(self.d_model, self.num_heads, self.dim_feedforward, self.dropout,
                                  self.layer_norm_eps, self.dtype, name=f"layers_{i}")(
                                      x, mask, train=train, first_only=first_only and last)
    return x


class ClsTransformerEncoder(nn.Module):
  """MME2E's `WrappedTransformerEncoder`: learned CLS prepended, no positional encoding.

  Returns the CLS output (batch, dim). Padded items are excluded from attention by `mask`; a row
  with no valid item still attends to its CLS token, so it is well defined (the original would
  never see such a row because the CNN features of absent items are not computed).
  """

  dim: int = 64
  num_layers: int = 4
  num_heads: int = 4
  dim_feedforward: int = 2048
  dropout: float = 0.1
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array] = None, *, train: bool = False) -> jax.Array:
    x = precision.cast(x, self.dtype)
    batch, length, _ = x.shape
    # nn.Embedding(1, dim) initialises from N(0, 1).
    cls = self.param("cls_emb", nn.initializers.normal(1.0), (1, self.dim))
    x = jnp.concatenate([jnp.broadcast_to(cls[None], (batch, 1, self.dim)).astype(x.dtype), x], axis=1)
    if mask is None:
      mask = jnp.ones((batch, length), bool)
    mask = jnp.concatenate([jnp.ones((batch, 1), bool), mask.astype(bool)], axis=1)
    # Only the CLS output is read, so the last layer computes that row alone (PyTorch computes
    # every row and drops all but one): about half of LF_TRANSFORMER's 2-layer FLOPs.
    x = TransformerEncoder(self.num_layers, self.dim, self.num_heads, self.dim_feedforward,
                           self.dropout, dtype=self.dtype, name="encoder")(x, mask, train=train, first_only=True)
    return x[:, 0]
