r"""Your own data: any labelled manifest of text, audio and video, as a dataset every config trains on.

  python -m tfds_builders.build manifest --manual_dir=<folder> --name=<name> \
      --option text=Utterance --option label=Emotion --option dialog=Dialogue_ID ...

`manual_dir` holds a manifest (CSV, TSV or JSON Lines; one file with a split column, one file per
split, or one file split here by seeded groups) and the media it names. Options map the user's own
column names onto roles (id, text, audio, video, start, end, split, speaker, dialog, order, labels);
nothing is renamed. One example per usable row: `id`, `text`, `speaker`, `dialog`, `order`, the
segment `start`/`end`, `<modality>_present` flags, one `label_<column>` per label column (ClassLabel,
multi-hot float32 (C,), or float32 value), the other columns as text metadata, and the features the
options ask for, computed with the release builders' extractors. The label scheme (column, kind,
class order) is stored in the dataset's metadata, where configs read it. See README.md here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds

from mmer_jax.errors import ConfigError
from mmer_jax.features import video as video_lib
from tfds_builders.build_report import BuildReport
from tfds_builders.common import beam_units
from tfds_builders.common import media as common_media
from tfds_builders.common import options as options_lib
from tfds_builders.common import text_features
from tfds_builders.manifest import media as media_lib
from tfds_builders.manifest import plan as plan_lib

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Point --manual_dir at the folder holding your manifest and its media:
  <manual_dir>/manifest.csv (or .tsv / .jsonl), one row per example, or one file per split whose
  name starts with the split (train_*.csv, dev_*.csv / valid_*.csv, test_*.csv);
  media paths in the manifest are relative to the manifest's folder (or absolute).
Map your columns with --option text=<column> --option label=<column> ... (see
tfds_builders/manifest/README.md).
"""


@dataclasses.dataclass
class ManifestConfig(tfds.core.BuilderConfig):
  """Options (`--option key=value`). Roles name the user's columns; unset roles take a column of the
  role's own name if there is one; `none` ignores such a column."""
  manifest: str = ""             # "" = find it; "file.csv"; or "train=a.csv,validation=b.csv,test=c.csv"
  encoding: str = "auto"         # auto: BOM / UTF-8 / Windows-1252 / Latin-1, per file (reported)
  # Column roles (id, audio and video may be templates such as "dia{Dialogue_ID}_utt{Utterance_ID}").
  id: str = ""                   # "" = <file stem>:<line>
  text: str = ""
  audio: str = ""                # a sound file (wav, flac, ogg, ...)
  video: str = ""                # a video file or a folder of frame images
  start: str = ""                # segment start / end in seconds or HH:MM:SS,mmm (audio and video)
  end: str = ""
  split: str = ""                # values train / dev|val|valid|validation / test (others kept as named)
  speaker: str = ""
  dialog: str = ""
  group: str = ""                # another name for `dialog`
  order: str = ""                # integer position in the dialog; "" = the row's position in its file
  # Labels.
  label: str = ""                # label column(s), comma-separated; "" = a column named `label`
  label_kind: str = "single"     # single | multi | regression, for every label column ...
  label_kinds: str = ""          # ... unless named here: "Arousal=regression,Tags=multi"
  classes: str = ""              # class order: "a,b,c", or "Emotion:a,b,c;Sentiment:x,y"; "" = sorted, from train
  multi_separator: str = ";"     # between a multi-label cell's names (JSON lists need none)
  meta: str = "*"                # other columns kept as text metadata: * = all, "" = none, or a list
  # Splits without a split column or per-split files.
  split_ratios: tuple = (0.8, 0.1, 0.1)
  split_seed: int = 0
  split_by: str = "dialog"       # dialog | speaker | row (no group crosses splits)
  scope: str = "auto"            # ids and groups unique per split (auto with split files) or global
  group_leak: str = "skip"       # a dialog in two splits: skip its rows outside its main split, or keep
  # Features (computed only for the modalities the manifest maps).
  mel: bool = True               # MME2E power mel pieces
  waveform: bool = False         # 16 kHz mono samples
  audio_stats: bool = False      # seed 003's 276 statistics
  compare_lld: bool = False      # openSMILE ComParE_2016 LLDs
  faces: bool = True             # 48x48 face crops (Haar, centre-crop fallback)
  text_checkpoint: str | None = None   # local HF folder -> frozen text_cls / text_pooled / text_tokens
  text_max_length: int = 128
  text_pooling: str = "auto"
  sample_rate: int = 16000
  max_mel_pieces: int = 32
  max_faces: int = 16
  frame_interval_ms: float = 500.0
  face_fallback: str = video_lib.FALLBACK_CENTRE
  haar_min_neighbors: int = 5
  drop_partial: bool = False     # True: skip a row whose audio or video is unusable (else stored empty)

  def media_options(self) -> media_lib.MediaOptions:
    return options_lib.options_for(self, media_lib.MediaOptions)


BUILDER_CONFIGS = [ManifestConfig(name="default", description="A manifest named by --manual_dir and --option roles.")]


class Builder(tfds.core.GeneratorBasedBuilder):
  """A user's labelled manifest (array_record; no TensorFlow needed)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Column roles, single / multi-label / regression labels, grouped splits, media features."}
  BUILDER_CONFIGS = BUILDER_CONFIGS
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  # The features depend on the manifest's columns, which only the manual_dir tells. TFDS builds
  # `info` in the constructor, before it is known: there `_info` leaves the features unset (a built
  # dataset then restores them from its own files), and `download_and_prepare` reads the manifest
  # first and gives the build an `info` with the full features.
  @property
  def info(self) -> tfds.core.DatasetInfo:
    planned = self.__dict__.get("_planned_info")
    return planned if planned is not None else super().info

  def _info(self) -> tfds.core.DatasetInfo:
    plan = self.__dict__.get("_plan")
    if plan is None:
      return tfds.core.DatasetInfo(builder=self, description=__doc__)
    return tfds.core.DatasetInfo(builder=self, description=__doc__,
                                 features=tfds.features.FeaturesDict(_feature_spec(self.builder_config, plan)),
                                 metadata=tfds.core.MetadataDict(_metadata(self.builder_config, plan)))

  def download_and_prepare(self, *, download_config=None, **kwargs):
    download_config = download_config or tfds.download.DownloadConfig()
    if download_config.download_mode.overwrite_dataset or not self.is_prepared():
      cfg = self.builder_config
      _validate(cfg)
      self._report = BuildReport("manifest", cfg.name, options=options_lib.config_options(cfg))
      self._plan = plan_lib.plan(download_config.manual_dir, cfg, self._report)
      self._planned_info = self._info()
    return super().download_and_prepare(download_config=download_config, **kwargs)

  def _split_generators(self, dl_manager):
    del dl_manager
    self._parts = beam_units.parts_dir_of(self.data_dir)
    self._worker = _RowWorker(self.builder_config, self._plan)
    return {split: self._generate_examples(split) for split in self._plan.splits}

  def _generate_examples(self, split: str):
    """Chunks of rows (texts encoded as a batch): a Beam transform, or in-process without Beam."""
    return beam_units.generate(split, self._plan.units(split), self._worker, self._parts, self._use_beam)

  def _download_and_prepare(self, dl_manager, download_config=None, **kwargs):
    self._use_beam = beam_units.uses_beam(download_config)
    with beam_units.empty_split_explained(lambda empty: ValueError(
        f"manifest/{self.builder_config.name}: split {empty!r} has no example left (every row was "
        "skipped; see the reasons above). Use drop_partial=False or fix the rows.")):
      super()._download_and_prepare(dl_manager=dl_manager, download_config=download_config, **kwargs)
    beam_units.replay_parts(self._report, self._parts, list(self._plan.splits), self._plan.heads)
    self._report.write(self.data_dir)
    print(self._report.summary())


def _validate(cfg: ManifestConfig) -> None:
  if cfg.face_fallback not in (video_lib.FALLBACK_CENTRE, video_lib.FALLBACK_SAMSEMO):
    raise ConfigError(f"--option face_fallback={cfg.face_fallback!r}; use centre or samsemo.")
  if cfg.sample_rate < 1 or cfg.max_faces < 1 or cfg.max_mel_pieces < 1 or cfg.frame_interval_ms <= 0:
    raise ConfigError("--option sample_rate, max_faces, max_mel_pieces and frame_interval_ms must be positive.")
  problems = text_features.check_pooling(cfg.text_pooling)
  if problems:
    raise ConfigError(f"--option {problems[0]}.")


def stored_inputs(cfg: ManifestConfig, plan: plan_lib.Plan) -> list[str]:
  """The model-input features a build stores (text always; media and encoder states as configured)."""
  options = cfg.media_options()
  names = ["text"]
  if plan.has["text"] and cfg.text_checkpoint:
    names += list(text_features.FEATURE_NAMES)
  if plan.has["audio"]:
    names += [n for n, on in (("mel_pieces", options.mel), ("num_mel_pieces", options.mel), ("waveform", options.waveform),
                              ("audio_stats", options.audio_stats), ("compare_lld", options.compare_lld)) if on]
  if plan.has["video"] and options.faces:
    names += ["faces", "num_faces", "face_found"]
  return names


def _feature_spec(cfg: ManifestConfig, plan: plan_lib.Plan) -> dict[str, Any]:
  f = tfds.features
  spec: dict[str, Any] = {
      "id": f.Text(), "text": f.Text(), "speaker": f.Text(), "dialog": f.Text(),
      "order": f.Tensor(shape=(), dtype=np.int32),
      "start": f.Tensor(shape=(), dtype=np.float32), "end": f.Tensor(shape=(), dtype=np.float32),
      "text_present": f.Tensor(shape=(), dtype=np.bool_), "audio_present": f.Tensor(shape=(), dtype=np.bool_),
      "video_present": f.Tensor(shape=(), dtype=np.bool_),
  }
  for label in plan.labels:
    if label.kind == "single":
      spec[label.feature] = f.ClassLabel(names=list(label.classes))
    elif label.kind == "multi":
      spec[label.feature] = f.Tensor(shape=(len(label.classes),), dtype=np.float32)
    else:
      spec[label.feature] = f.Tensor(shape=(), dtype=np.float32)
  for key, _ in plan.roles.meta:
    spec[key] = f.Text()
  inputs = set(stored_inputs(cfg, plan))
  groups = {"mel_pieces": "mel", "waveform": "waveform", "audio_stats": "audio_stats", "compare_lld": "compare_lld",
            "faces": "faces"}
  spec.update(common_media.feature_spec(group for key, group in groups.items() if key in inputs))
  if "text_cls" in inputs:
    spec.update(text_features.feature_spec(cfg.text_checkpoint, cfg.text_max_length))
  return spec


def _metadata(cfg: ManifestConfig, plan: plan_lib.Plan) -> dict[str, Any]:
  """What configs read from a built manifest dataset (mmer_jax/data/manifest_task.py)."""
  return {
      "labels": {s.key: {"column": s.column, "kind": s.kind,
                         "classes": list(s.classes) if s.kind != "regression" else [s.column]} for s in plan.labels},
      "default_label": plan.labels[0].key,
      "roles": dict(plan.roles.columns),
      "meta_columns": dict(plan.roles.meta),
      "modalities": [m for m in ("text", "audio", "video") if plan.has[m]],
      "inputs": stored_inputs(cfg, plan),
      "splits_from": plan.splits_from,
      "scope": plan.scope,
      "options": options_lib.config_options(cfg),
      "sample_rate": cfg.sample_rate,
      "face_normalisation": {"mean": video_lib.FACE_MEAN.tolist(), "std": video_lib.FACE_STD.tolist()},
  }


class _RowWorker(beam_units.UnitWorker):
  """Media and text features of a chunk of rows, with the detector and encoder of its worker."""

  def __init__(self, cfg: ManifestConfig, plan: plan_lib.Plan):
    self.cfg = cfg
    self.options = cfg.media_options()
    inputs = set(stored_inputs(cfg, plan))
    self.audio = bool({"mel_pieces", "waveform", "audio_stats", "compare_lld"} & inputs)
    self.faces = "faces" in inputs
    self.encode = "text_cls" in inputs
    self.kinds = {s.feature: s.kind for s in plan.labels}
    self.classes = {s.feature: s.classes for s in plan.labels}
    if not self.audio:
      self.options = dataclasses.replace(self.options, mel=False, waveform=False, audio_stats=False, compare_lld=False)
    if not self.faces:
      self.options = dataclasses.replace(self.options, faces=False)

  def setup(self) -> None:
    cfg = self.cfg
    self.detector = video_lib.HaarFaceDetector(min_neighbors=cfg.haar_min_neighbors) if self.faces else None
    self.encoder = None
    if self.encode:
      self.encoder = text_features.EncoderSpec(checkpoint=cfg.text_checkpoint, max_length=cfg.text_max_length,
                                               pooling=cfg.text_pooling).load()

  def __call__(self, unit, report) -> Iterator:
    split, rows = unit
    text_feats = self.encoder.encode([r.text for r in rows]) if self.encoder is not None else None
    for i, row in enumerate(rows):
      found = media_lib.row_media(row.media, self.options, self.detector)
      blocking = [x for x in found.issues if not x.startswith(media_lib.NON_BLOCKING)]
      present = {"text": bool(row.text), "audio": found.audio_ok, "video": found.video_ok}
      if blocking and (self.cfg.drop_partial or not any(present.values())):
        # The row's fault is the reason: with drop_partial, or when nothing usable is left of it.
        report.skip(row.id, "; ".join(blocking), split)
        continue
      for issue in found.issues:
        report.degrade(row.id, issue, split)
      example = self._example(row, present, found.features)
      if text_feats is not None:
        example.update(text_feats[i])
      if self.faces:
        report.count("frames", "read", found.frames_read)
        report.count("frames", "face_found", found.faces_found)
      self._count(report, split, row, present)
      yield row.id, example

  def _example(self, row: plan_lib.PlannedRow, present: dict[str, bool], features: dict) -> dict[str, Any]:
    media = row.media
    example: dict[str, Any] = {
        "id": row.id, "text": row.text, "speaker": row.speaker, "dialog": row.dialog, "order": np.int32(row.order),
        "start": np.float32(np.nan if media.start is None else media.start),
        "end": np.float32(np.nan if media.end is None else media.end),
        **{f"{m}_present": np.bool_(on) for m, on in present.items()},
        **dict(row.meta), **features,
    }
    for feature, value in row.labels:
      kind = self.kinds[feature]
      example[feature] = (np.asarray(value, np.float32) if kind == "multi" else
                          np.float32(value) if kind == "regression" else int(value))
    return example

  def _count(self, report, split: str, row: plan_lib.PlannedRow, present: dict[str, bool]) -> None:
    report.count("examples", split)
    report.count(f"modalities/{split}", "+".join(m for m, on in present.items() if on))
    for feature, value in row.labels:
      kind = self.kinds[feature]
      if kind == "single":
        report.count(f"{feature}/{split}", self.classes[feature][int(value)])
      elif kind == "multi":
        names = [c for c, on in zip(self.classes[feature], value) if on]
        for name in names or ["none (all-zero)"]:
          report.count(f"{feature}/{split}", name)
