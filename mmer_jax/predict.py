"""Prediction with a trained run on new data: a user's own media, or examples of a built dataset.

  python launch.py --mode=predict --workdir=workdirs/run --predict_manifest=my_clips.csv \
      [--predict_text_checkpoint=/path/to/bert] [--predict_output=predictions.csv]

The manifest has the training builder's format (tfds_builders/manifest: CSV, TSV or JSON Lines) with
columns `id` and any of `audio`, `video`, `text`, `start`, `end` (paths relative to the manifest's
folder are allowed); a run trained on a manifest build reads the columns its build mapped to those
roles (e.g. `Utterance` as text), so one file layout serves training and prediction; label columns
are ignored. Features are computed with the same extractors the TFDS builders
use, then the run's own preprocessor (with the statistics fitted during training) and its best
checkpoint, both restored through `Experiment.restore`. Multi-label runs apply the per-emotion
thresholds tuned on validation.

Each row uses the modalities it has: a row without video gets no faces (the model masks them, as it
does for a scene where no face was found), a row without audio no mel pieces, so a text-only row is
predicted by a text+audio MME2E with its audio masked. A row that lacks what the model cannot do
without (e.g. the waveform of a speech model, or the text encoder's features without
`--predict_text_checkpoint`) is skipped with that reason in the output; the other rows are still
predicted. The output says per row which modalities the model read (every input it was given,
text included) and in how many sampled frames a face was found.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import jax
import numpy as np
import pandas as pd

from mmer_jax import batch as batch_keys
from mmer_jax.data.pipeline import collate
from mmer_jax.errors import DataError, UserError
from mmer_jax.features.media import MediaExample, MediaItem, MediaOptions
from mmer_jax.metrics.evaluate import sigmoid
from mmer_jax.train.experiment import Experiment

# Configs whose inputs can be computed from raw media (the others read features released with a
# dataset, e.g. CMU-MOSEI's GloVe/FACET/COVAREP, or motion capture).
MEDIA_CONFIGS = ("mme2e_samsemo.py", "mme2e_upstream.py", "mesm_upstream.py", "multifocus_*.py",
                 "resnet1d_iemocap.py", "ssl_fusion_iemocap.py (mods without m)", "text_classifier.py")

# The modality each media feature is computed from (mmer_jax/features/media.py's feature names).
FEATURE_MODALITY = {
    "text": "text", "text_cls": "text", "text_pooled": "text", "text_tokens": "text", "text_tokens_mask": "text",
    "waveform": "audio", "mel_pieces": "audio", "num_mel_pieces": "audio", "compare_lld": "audio",
    "audio_stats": "audio",
    "faces": "video", "num_faces": "video", "face_found": "video",
}
MODALITY_ORDER = ("text", "audio", "video")

# Item features that stand for "this modality is absent" when their source file is missing.
_ABSENT = {
    "video": {"faces": np.zeros((0, 48, 48, 3), np.uint8), "num_faces": np.int32(0), "face_found": np.zeros(0, bool)},
    "audio": {"mel_pieces": np.zeros((0, 128, 32), np.float32), "num_mel_pieces": np.int32(0)},
}


PREDICT_ROLES = ("id", "text", "audio", "video", "start", "end")


def read_manifest(path: str | Path, roles: Optional[Mapping[str, str]] = None) -> list[MediaItem]:
  """The items of a manifest in the training builder's format (tfds_builders/manifest: CSV, TSV or
  JSON Lines, any encoding it reads). `roles` maps id / text / audio / video / start / end onto the
  file's columns (a run trained on a manifest build brings its build's mapping, `Predictor.manifest_roles`);
  an unmapped role takes a column of its own name. Label, split and other columns are ignored; a
  row without an id is named `<file stem>:<line>` as in the build."""
  from mmer_jax.data import manifest_roles as roles_lib  # noqa: PLC0415
  from mmer_jax.data import manifest_table as table_lib  # noqa: PLC0415
  path = Path(path)
  if not path.exists():
    raise DataError(f"Prediction manifest {path} does not exist.")
  table = table_lib.read_table(path)
  folded = {c.lower(): c for c in table.columns}
  mapped = {}
  for role in PREDICT_ROLES:
    column = (roles or {}).get(role) or folded.get(role)
    wanted = roles_lib.template_columns(column) if column and roles_lib.is_template(column) else [column]
    missing = [c for c in wanted if c and c not in table.columns]
    if missing:
      raise DataError(f"{path} has no column {missing[0]!r}, which the run's manifest maps to {role}; its "
                      f"columns: {', '.join(table.columns)}.")
    if column:
      mapped[role] = column
  if not {"text", "audio", "video"} & set(mapped):
    raise DataError(f"{path} must have any of the columns audio, video, text (and id), or the columns the run's "
                    f"manifest mapped to them; its columns: {', '.join(table.columns)}.")
  named = roles_lib.Roles(mapped, (), ())
  items = []
  for row in table.rows:
    where = f"{path}:{row.line}"
    value = lambda role: named.value(role, row.values, "")  # noqa: E731
    resolved = {}
    for column in ("audio", "video"):
      if value(column):
        file = Path(value(column)).expanduser()
        file = file if file.is_absolute() else path.parent / file
        if not file.exists():
          raise DataError(f"{where}: {column} file {file} does not exist.")
        resolved[column] = str(file)
    try:
      segment = {role: roles_lib.seconds(value(role)) for role in ("start", "end")}
    except ValueError as error:
      raise DataError(f"{where}: {error}; start and end are seconds or HH:MM:SS,mmm.") from None
    items.append(MediaItem(id=value("id") or f"{path.stem}:{row.line}", text=value("text") or None,
                           **resolved, **segment))
  return items


class _RowExample(Mapping):
  """A media example in which an absent video or audio reads as zero items (masked) instead of an error.

  Records what the preprocessor asked for: `read`, the features it got from this row's own media;
  `wanted`, the modalities of every media feature it asked for, given or masked. A key it only probes
  (`"gender" in example`, metadata a media row does not have) is neither."""

  def __init__(self, example: MediaExample):
    self.example = example
    self.read: set[str] = set()
    self.wanted: set[str] = set()

  def __getitem__(self, key: str) -> Any:
    if key in FEATURE_MODALITY:
      self.wanted.add(FEATURE_MODALITY[key])
    for modality, absent in _ABSENT.items():
      if key in absent and getattr(self.example.item, modality) is None:
        return absent[key]
    value = self.example[key]
    self.read.add(key)
    return value

  def __iter__(self):
    return iter(self.example)

  def __len__(self) -> int:
    return len(self.example)

  def used_modalities(self) -> list[str]:
    """The modalities the model read from this row's own media (an empty transcript is no text)."""
    item = self.example.item
    read = {FEATURE_MODALITY[k] for k in self.read if k in FEATURE_MODALITY}
    return [m for m in MODALITY_ORDER if m in read and getattr(item, m)]


class Predictor:
  """A trained run, loaded once: preprocessor + best checkpoint + decision rule."""

  def __init__(self, workdir: str | Path):
    self.workdir = Path(workdir)
    self.experiment = Experiment.restore(self.workdir)
    self.config = self.experiment.config
    self.preprocessor = self.experiment.preprocessor
    self.buckets = self.experiment.buckets or {}  # the run's own (input_spec.json), as in training
    self.variables = self.experiment.best_variables()
    self.experiment.close()
    self.thresholds = self._thresholds()
    # A run trained on a manifest build reads prediction manifests with the build's own column roles.
    manifest = self.config.input.manifest
    self.manifest_roles = dict(manifest.roles or {}) if manifest and "roles" in manifest else {}
    model = self.experiment.model
    self._apply = jax.jit(lambda v, x: model.apply(v, x, train=False))

  def _thresholds(self) -> Optional[np.ndarray]:
    if self.config.task.type != "multi_label":
      return None
    metrics = self.workdir / "report" / "valid_metrics.json"
    if metrics.exists():
      tuned = json.loads(metrics.read_text()).get("thresholds", {})
      return np.asarray([tuned.get(name, 0.5) for name in self.config.task.class_names])
    return np.full(len(self.config.task.class_names), 0.5)

  def _outputs(self, processed: Sequence[dict], batch_size: int) -> np.ndarray:
    outputs = []
    buckets = self.buckets
    # Rows sorted by length share buckets; the outputs go back to the rows' order at the end.
    key = next(iter(buckets), None)
    order = np.argsort([int(np.asarray(p[f"{key}_mask"]).sum()) if f"{key}_mask" in p else 0 for p in processed]
                       if key else np.zeros(len(processed)), kind="stable")
    processed = [processed[i] for i in order]
    for begin in range(0, len(processed), batch_size):
      chunk = processed[begin:begin + batch_size]
      real = len(chunk)
      chunk = chunk + [chunk[-1]] * (batch_size - real)  # constant shape: one compilation
      inputs = batch_keys.model_inputs(collate(chunk, buckets))
      # float32 whatever config.compute_dtype (a bfloat16 run's logits leave the model in bfloat16)
      outputs.append(np.asarray(self._apply(self.variables, inputs), np.float32)[:real])
    return np.concatenate(outputs)[np.argsort(order, kind="stable")]

  def predict_examples(self, examples: Iterable[Any], ids: Sequence[str], batch_size: int = 16) -> pd.DataFrame:
    processed = [self.preprocessor(ex) for ex in examples]
    if not processed:
      raise DataError("Nothing to predict.")
    return self._table(self._outputs(processed, batch_size), ids)

  def _table(self, outputs: np.ndarray, ids: Sequence[str]) -> pd.DataFrame:
    names = list(self.config.task.class_names)
    table = pd.DataFrame({"id": list(ids)})
    kind = self.config.task.type
    if kind == "single_label":
      probs = np.asarray(jax.nn.softmax(outputs, axis=-1))
      for k, name in enumerate(names):
        table[f"prob_{name}"] = probs[:, k]
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

  def predict_media(self, items: Sequence[MediaItem], text_checkpoint: Optional[str] = None,
                    batch_size: int = 16) -> pd.DataFrame:
    """One output row per item: predictions, `modalities`, `faces_found`, and `skipped` (the reason)."""
    options = MediaOptions(text_checkpoint=text_checkpoint, num_labels=len(self.config.task.class_names))
    encoder = None
    if text_checkpoint:
      from mmer_jax.features.text_encoder import FrozenTextEncoder, TextEncoderConfig  # noqa: PLC0415
      encoder = FrozenTextEncoder(TextEncoderConfig(checkpoint=text_checkpoint, max_length=options.text_max_length))
    processed, done, info = [], [], []
    for item in items:
      row = _RowExample(MediaExample(item, options, encoder))
      try:
        processed.append(self.preprocessor(row))
      except KeyError as error:  # a feature no extractor computes: no row of this run can be predicted
        raise UserError(f"The run in {self.workdir} ({self.config.model_name}) reads {error}; it cannot "
                        f"predict from raw media. Runs of these configs can: {', '.join(MEDIA_CONFIGS)}.") from None
      except (ValueError, OSError, RuntimeError) as error:  # the row lacks what the model needs, or a bad file
        info.append({"id": item.id, "modalities": "", "faces_found": "", "skipped": str(error)})
        continue
      used = row.used_modalities()
      if not used:
        wanted = ", ".join(m for m in MODALITY_ORDER if m in row.wanted)
        info.append({"id": item.id, "modalities": "", "faces_found": "",
                     "skipped": f"Item {item.id!r} has none of the inputs this model reads ({wanted})." if wanted
                                else f"Item {item.id!r}: the model reads no media of it."})
        processed.pop()
        continue
      done.append(item.id)
      faces = row.example["face_found"] if "video" in used else None
      info.append({"id": item.id, "modalities": "+".join(used),
                   "faces_found": "" if faces is None else f"{int(np.sum(faces))}/{len(faces)} frames",
                   "skipped": ""})
    table = pd.DataFrame(info)
    if processed:
      predictions = self._table(self._outputs(processed, batch_size), done)
      table = table.merge(predictions, on="id", how="left")
    return table
