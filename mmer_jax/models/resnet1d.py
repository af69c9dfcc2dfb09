"""ResNet1D of seed 003 (ACIT4630 Emotion_Recognition, `seed_models.md` §003).

Input: one utterance vector (276 audio statistics ++ TF-IDF, 2740 values for the v1 setup) read as a
1-channel signal of that length. The PyTorch original, `ResNet1D(BasicBlock, [2, 2, 2, 2])`:

  conv1 Conv1d(1->64, k7, s2, p3, no bias) . BN . ReLU            (no max-pool after the stem)
  layer1..layer5 widths 64, 128, 256, 512, 1024, each 2 BasicBlocks, the first with stride 2
  global average pool over length -> Linear(1024 -> num_classes)

Length 2740 -> 1370 -> 685 -> 343 -> 172 -> 86 -> 43. `layer5` reuses `num_blocks[3]` in the
original, so `[2, 2, 2, 2]` and `[2, 2, 2, 2, 2]` build the same network; here the block count
per stage is one field.

Parameter count: 15,398,854 trainable parameters (PyTorch `parameters()`: conv weights, BN
scale/bias, linear weight/bias). BN running means and variances (19,968 scalars in `batch_stats`) are
buffers in PyTorch and are not part of that figure. The count does not depend on input length.

Layout is NWC (batch, length, channels); the convolutions run as GEMMs (`layers/conv1d.py`).
Initialisation follows PyTorch (kaiming-uniform(a=sqrt(5)) weights, U(+-1/sqrt(fan_in)) linear
bias), BN follows PyTorch's momentum 0.1 (= Flax momentum 0.9) and eps 1e-5.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmer_jax import registry
from mmer_jax.models import precision
from mmer_jax.models.layers.conv1d import Conv1D
from mmer_jax.models.layers.transformer import TorchDense, torch_kernel_init


def _conv(features: int, kernel: int, stride: int, name: str, dtype: Any) -> Conv1D:
  # PyTorch pads kernel//2 on both sides (p=3 for k7, p=1 for k3, p=0 for k1), as Conv1D does.
  # Conv1D has nn.Conv's parameters but runs as GEMMs (layers/conv1d.py says why).
  return Conv1D(features, kernel, stride, kernel_init=torch_kernel_init, dtype=dtype, name=name)


class BasicBlock1D(nn.Module):
  """conv3 . BN . ReLU . conv3 . BN, plus a (conv1 . BN) shortcut when the shape changes; ReLU."""

  features: int
  stride: int = 1
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    norm = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                     axis_name=self.axis_name, dtype=self.dtype, name=name)
    conv = lambda features, kernel, stride, name: _conv(features, kernel, stride, name, self.dtype)
    y = nn.relu(norm("bn1")(conv(self.features, 3, self.stride, "conv1")(x)))
    y = norm("bn2")(conv(self.features, 3, 1, "conv2")(y))
    shortcut = x
    if self.stride != 1 or x.shape[-1] != self.features:
      shortcut = norm("shortcut_bn")(conv(self.features, 1, self.stride, "shortcut_conv")(x))
    return nn.relu(y + shortcut)


@registry.MODELS.register("resnet1d")
class ResNet1D(nn.Module):
  """Seed 003's 1-D ResNet over the concatenated feature vector `inputs['features']` (B, L)."""

  num_classes: int = 6
  stem_features: int = 64
  stage_features: Sequence[int] = (64, 128, 256, 512, 1024)
  blocks_per_stage: int = 2
  axis_name: Optional[str] = None
  dtype: Any = None  # compute dtype (config.compute_dtype); parameters stay float32

  @nn.compact
  def __call__(self, inputs: Mapping[str, jax.Array], *, train: bool) -> jax.Array:
    x = precision.cast_floating(inputs, self.dtype)["features"]
    if x.ndim == 2:          # (B, L) -> one input channel, like the original's (N, 1, L).
      x = x[..., None]
    x = _conv(self.stem_features, 7, 2, "conv1", self.dtype)(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     axis_name=self.axis_name, dtype=self.dtype, name="bn1")(x)
    x = nn.relu(x)
    for stage, features in enumerate(self.stage_features):
      for block in range(self.blocks_per_stage):
        x = BasicBlock1D(features, stride=2 if block == 0 else 1, axis_name=self.axis_name,
                         dtype=self.dtype, name=f"layer{stage + 1}_{block}")(x, train=train)
    x = jnp.mean(x, axis=1)  # F.avg_pool1d over the whole remaining length.
    return TorchDense(self.num_classes, dtype=self.dtype, name="linear")(x)


def torch_param_count(num_classes: int = 6, stem: int = 64,
                      stages: Sequence[int] = (64, 128, 256, 512, 1024), blocks: int = 2) -> int:
  """`sum(p.numel() for p in model.parameters())` of the PyTorch original, from the layer formulas."""
  total = 7 * 1 * stem + 2 * stem           # stem conv (no bias) + BN affine
  in_ch = stem
  for out_ch in stages:
    for block in range(blocks):
      stride = 2 if block == 0 else 1
      total += 3 * in_ch * out_ch + 2 * out_ch + 3 * out_ch * out_ch + 2 * out_ch
      if stride != 1 or in_ch != out_ch:
        total += in_ch * out_ch + 2 * out_ch  # 1x1 shortcut conv + BN affine
      in_ch = out_ch
  return total + in_ch * num_classes + num_classes
