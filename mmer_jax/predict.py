"""Prediction with a trained run on new data: a user's own media, or examples of a built dataset.

  python launch.py --mode=predict --workdir=workdirs/run --predict_manifest=my_clips.csv \
      [--predict_text_checkpoint=/path/to/bert] [--predict_output=predictions.csv]

The manifest is a CSV with columns `id` and any of `audio`, `video`, `text` (paths relative to the
manifest's folder are allowed). Features are computed with the same extractors the TFDS builders
use, then the run's own preprocessor (with the statistics fitted during training) and its best
checkpoint. Multi-label runs apply the per-emotion thresholds tuned on validation.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import jax
import numpy as np
import pandas as pd
from ml_collections import ConfigDict

from mmer_jax import checkpoint, registry
from mmer_jax.data.pipeline import collate, split_model_inputs
from mmer_jax.features.media import MediaExample, MediaItem, MediaOptions
from mmer_jax.metrics.evaluate import sigmoid


def read_manifest(path: str | Path) -> list[MediaItem]:
  path = Path(path)
  if not path.exists():
    raise FileNotFoundError(f"Prediction manifest {path} does not exist.")
  with path.open(newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  if not rows or "id" not in rows[0]:
    raise ValueError(f"{path} must be a CSV with a header naming 'id' and any of audio, video, text.")
  items = []
  for line, row in enumerate(rows, start=2):
    resolved = {}
    for column in ("audio", "video"):
      value = (row.get(column) or "").strip()
      if value:
        file = Path(value) if Path(value).is_absolute() else path.parent / value
        if not file.exists():
          raise FileNotFoundError(f"{path}:{line}: {column} file {file} does not exist.")
        resolved[column] = str(file)
    items.append(MediaItem(id=row["id"], text=(row.get("text") or None), **resolved))
  return items


class Predictor:
  """A trained run, loaded once: preprocessor + best checkpoint + decision rule."""

  def __init__(self, workdir: str | Path):
    self.workdir = Path(workdir)
    config_path = self.workdir / "config.json"
    if not config_path.exists():
      raise FileNotFoundError(f"{config_path} is missing: predict needs a run trained with launch.py.")
    self.config = ConfigDict(json.loads(config_path.read_text()))
    self.preprocessor = registry.get_preprocessor(self.config.input.preprocessor)(self.config.input.preprocess)
    state_path = self.workdir / "preprocessor_state.json"
    if state_path.exists():
      self.preprocessor.load_state_dict(json.loads(state_path.read_text()))
    elif self.preprocessor.needs_fit():
      raise FileNotFoundError(f"{state_path} is missing: the preprocessor's training statistics are needed.")
    self.model = registry.get_model(self.config.model_name)(**self.config.model.to_dict())
    self.variables = checkpoint.restore_best_variables(self.workdir)
    self.thresholds = self._thresholds()
    self._apply = jax.jit(lambda v, x: self.model.apply(v, x, train=False))

  def _thresholds(self) -> Optional[np.ndarray]:
    if self.config.task.type != "multi_label":
      return None
    metrics = self.workdir / "report" / "valid_metrics.json"
    if metrics.exists():
      tuned = json.loads(metrics.read_text()).get("thresholds", {})
      return np.asarray([tuned.get(name, 0.5) for name in self.config.task.class_names])
    return np.full(len(self.config.task.class_names), 0.5)

  def predict_examples(self, examples: Iterable[Any], ids: Sequence[str], batch_size: int = 16) -> pd.DataFrame:
    processed = [self.preprocessor(ex) for ex in examples]
    if not processed:
      raise ValueError("Nothing to predict.")
    outputs = []
    for begin in range(0, len(processed), batch_size):
      chunk = processed[begin:begin + batch_size]
      real = len(chunk)
      chunk = chunk + [chunk[-1]] * (batch_size - real)  # constant shape: one compilation
      batch, _ = split_model_inputs(collate(chunk, dict(self.config.input.get("buckets", None) or {})))
      inputs = {k: v for k, v in batch.items() if k not in ("label", "_valid")}
      outputs.append(np.asarray(self._apply(self.variables, inputs))[:real])
    return self._table(np.concatenate(outputs), ids)

  def _table(self, outputs: np.ndarray, ids: Sequence[str]) -> pd.DataFrame:
    names = list(self.config.task.class_names)
    table = pd.DataFrame({"id": list(ids)})
    kind = self.config.task.type
    if kind == "single_label":
      probs = jax.nn.softmax(outputs, axis=-1)
      for k, name in enumerate(names):
        table[f"prob_{name}"] = np.asarray(probs[:, k])
      table["prediction"] = [names[i] for i in outputs.argmax(axis=-1)]
    elif kind == "multi_label":
      probs = sigmoid(outputs)
      for k, name in enumerate(names):
        table[f"prob_{name}"] = probs[:, k]
      table["prediction"] = ["+".join(n for n, on in zip(names, row) if on) or "none"
                             for row in probs >= self.thresholds]
    else:
      for k, name in enumerate(names):
        table[f"pred_{name}"] = outputs[:, k]
    return table

  def predict_media(self, items: Sequence[MediaItem], text_checkpoint: Optional[str] = None) -> pd.DataFrame:
    options = MediaOptions(text_checkpoint=text_checkpoint, num_labels=len(self.config.task.class_names))
    encoder = None
    if text_checkpoint:
      from mmer_jax.features.text_encoder import FrozenTextEncoder, TextEncoderConfig  # noqa: PLC0415
      encoder = FrozenTextEncoder(TextEncoderConfig(checkpoint=text_checkpoint, max_length=options.text_max_length))
    examples = [MediaExample(item, options, encoder) for item in items]
    return self.predict_examples(examples, [item.id for item in items])
