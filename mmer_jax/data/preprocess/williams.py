"""Early-fusion input of Williams et al. on word-aligned CMU-MOSEI (seed 001).

Per segment: concat([text, visual, audio]) per word -> (steps, 300 + 35|713 + 74); visual and audio are
z-normalised over time per instance, exactly as the seed does ((x - mean_t) / std_t, then
nan_to_num, no epsilon: constant features become 0); then the seed's fixed-length rule keeps the last
`steps` words and zero-pads at the end.

The 2018 paper's code differs in three ways, each an option: it pre-padded at the front
(`pad="front"`), scaled FACET and COVAREP by their maximum |x| over the training set
(`normalize="train_max_abs"`, fitted on train only), and concatenated visual, audio, text
(`order="visual_audio_text"`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from ml_collections import ConfigDict

from mmer_jax import registry
from mmer_jax.data.preprocess.base import Example, Preprocessor, as_str
from mmer_jax.data.preprocess.options import model_field

VISUAL_FEATURES = ("facet", "openface")
NORMALIZATIONS = ("instance_z", "train_max_abs")
ORDERS = {"text_visual_audio": ("text", "visual", "audio"), "visual_audio_text": ("visual", "audio", "text")}


def znorm_over_time(x: np.ndarray) -> np.ndarray:
  with np.errstate(divide="ignore", invalid="ignore"):
    out = (x - x.mean(axis=0, keepdims=True)) / x.std(axis=0, keepdims=True)
  return np.nan_to_num(out).astype(np.float32)


def fixed_length(x: np.ndarray, steps: int, pad: str = "end") -> tuple[np.ndarray, np.ndarray]:
  """Keeps the last `steps` rows; zero-pads at the end (seed) or the front (2018 paper)."""
  x = x[-steps:]
  out = np.zeros((steps,) + x.shape[1:], np.float32)
  mask = np.zeros((steps,), bool)
  if pad == "end":
    out[:len(x)], mask[:len(x)] = x, True
  elif pad == "front":
    out[steps - len(x):], mask[steps - len(x):] = x, True
  else:
    raise ValueError(f"input.preprocess.pad={pad!r}; use 'end' (seed 001) or 'front' (Williams 2018).")
  return out, mask


class WilliamsEarlyFusion(Preprocessor):

  def __init__(self, steps: int, visual: str, pad: str, num_outputs: int, normalize: str = "instance_z",
               order: str = "text_visual_audio"):
    if visual not in VISUAL_FEATURES:
      raise ValueError(f"input.preprocess.visual={visual!r}; use one of {VISUAL_FEATURES}.")
    if num_outputs not in (6, 7):
      raise ValueError("model.num_outputs must be 7 (sentiment + 6 emotions, seed) or 6 (emotions, 2018 paper).")
    if normalize not in NORMALIZATIONS:
      raise ValueError(f"input.preprocess.normalize={normalize!r}; use one of {NORMALIZATIONS}.")
    if order not in ORDERS:
      raise ValueError(f"input.preprocess.order={order!r}; use one of {sorted(ORDERS)}.")
    self.steps, self.visual, self.pad, self.num_outputs = steps, visual, pad, num_outputs
    self.normalize, self.order = normalize, order
    self.max_abs: dict[str, np.ndarray] = {}

  def needs_fit(self) -> bool:
    return self.normalize == "train_max_abs"

  @staticmethod
  def _finite(values) -> np.ndarray:
    """Non-finite readings (COVAREP has some; the builder reports them) carry nothing: 0, as
    nan_to_num does for NaN. nan_to_num would turn inf into 3.4e38, which no scale tames."""
    values = np.asarray(values, np.float32)
    return np.where(np.isfinite(values), values, 0.0).astype(np.float32)

  def fit(self, examples) -> None:
    maxima = {"visual": 0.0, "audio": 0.0}
    for example in examples:
      for name, key in (("visual", self.visual), ("audio", "covarep")):
        values = self._finite(example[key])
        if len(values):
          maxima[name] = np.maximum(maxima[name], np.abs(values).max(axis=0))
    self.max_abs = {k: np.asarray(v, np.float32) for k, v in maxima.items()}

  def state_dict(self):
    return {k: v.tolist() for k, v in self.max_abs.items()}

  def load_state_dict(self, state) -> None:
    self.max_abs = {k: np.asarray(v, np.float32) for k, v in state.items()}

  def _scale(self, name: str, x: np.ndarray) -> np.ndarray:
    if self.normalize == "instance_z":
      return znorm_over_time(x)
    if not self.max_abs:
      raise RuntimeError("normalize='train_max_abs' needs fit() on the train split first.")
    scale, x = self.max_abs[name], self._finite(x)
    return np.divide(x, scale, out=np.zeros_like(x), where=scale > 0).astype(np.float32)

  def __call__(self, example: Example) -> dict[str, np.ndarray]:
    parts = {
        "text": np.asarray(example["glove"], np.float32),
        "visual": self._scale("visual", np.asarray(example[self.visual], np.float32)),
        "audio": self._scale("audio", np.asarray(example["covarep"], np.float32)),
    }
    fused = np.concatenate([parts[name] for name in ORDERS[self.order]], axis=1)
    features, mask = fixed_length(fused, self.steps, self.pad)
    labels = np.asarray(example["labels"], np.float32)
    return {
        "features": features,
        "features_mask": mask,
        "label": labels[-self.num_outputs:],
        "meta/id": np.asarray(as_str(example["id"])),
    }


@dataclasses.dataclass(frozen=True)
class WilliamsOptions:
  steps: int = 45
  visual: str = "facet"
  pad: str = "end"
  num_outputs: int = 7
  normalize: str = "instance_z"
  order: str = "text_visual_audio"

  @staticmethod
  def derive(config: ConfigDict) -> dict:
    # The label columns kept are the model's outputs.
    outputs = model_field(config, "num_outputs")
    return {"num_outputs": int(outputs)} if outputs else {}


@registry.PREPROCESSORS.register("williams_ef")
def make(options: WilliamsOptions) -> WilliamsEarlyFusion:
  return WilliamsEarlyFusion(**dataclasses.asdict(options))
