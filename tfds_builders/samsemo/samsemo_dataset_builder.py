"""SAMSEMO (Interspeech 2024): multilingual, multimodal emotion scenes, built from the user's copy.

One example per scene listed in `{train,valid,test}_split_<LANG>.txt`: id, language, the 5-label
multi-hot vector [anger, happiness, sadness, surprise, neutral] from meta.pkl, the transcript and
its English translation, MME2E mel pieces, 48x48 face crops, optional frozen text-encoder states
and the tsv's speaker/scene traits. See README.md in this folder for configs, options and the report.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds

from mmer_jax.features import video
from tfds_builders.build_report import BuildReport
from tfds_builders.common import beam_units
from tfds_builders.common import media as common_media
from tfds_builders.common import options as options_lib
from tfds_builders.common import text_features
from tfds_builders.samsemo import layout
from tfds_builders.samsemo import media

TEXT_SOURCES = ("transcript", "utterance_id")

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Download SAMSEMO from https://huggingface.co/datasets/SamsungNLP/SAMSEMO (CC BY-NC-SA 4.0) and
point --manual_dir at the unpacked copy:
  <manual_dir>/metadata/meta.pkl            (also found directly in manual_dir or meta_and_splits/)
  <manual_dir>/splits/{train,valid,test}_split_<LANG>.txt
  <manual_dir>/data/<LANG>/<utterance_id>/audio.wav, image_<k>.jpg   (unzip data/<LANG>.zip there)
  <manual_dir>/samsemo.tsv                  (optional: English translations and speaker traits)
Other locations can be given with --option meta_path=..., splits_dir=..., files_dir=... ({LANG}
is replaced by EN, DE, ...), tsv_path=... (or tsv_path=none).
"""


@dataclasses.dataclass
class SamsemoConfig(tfds.core.BuilderConfig):
  """Options (set with `--option key=value`). The defaults give the clean build."""
  languages: tuple[str, ...] = layout.LANGUAGES
  # Release layout overrides (relative to manual_dir or absolute); None = search the usual places.
  meta_path: str | None = None
  splits_dir: str | None = None
  files_dir: str | None = None
  tsv_path: str | None = None
  # Feature sets.
  audio: bool = True
  faces: bool = True
  # SAMSEMO stores BERT's last_hidden_state at max_length=50 and reads position 0 (CLS). Its released
  # preprocessing encodes the utterance id instead of the transcript, tokenised with the English
  # bert-base-uncased vocabulary for bert-base-multilingual-uncased: text_source="utterance_id" plus
  # text_tokenizer=<English tokenizer folder> reproduce both bugs.
  text_checkpoint: str | None = None   # local HF folder; None = no encoder features
  text_tokenizer: str | None = None    # None = the checkpoint's own tokenizer
  text_source: str = "transcript"      # "utterance_id" = SAMSEMO's bug (faithful)
  text_max_length: int = 50
  text_pooling: str = "auto"           # text_pooled: "cls", "mean" or "auto" (as the checkpoint was trained)
  # Audio and faces.
  sample_rate: int = 16000             # 0 = each file's own rate (SAMSEMO)
  max_mel_pieces: int = 32
  max_faces: int = 16
  face_fallback: str = video.FALLBACK_CENTRE  # "samsemo" = the height-offset column quirk
  haar_min_neighbors: int = 5
  # Robustness.
  drop_partial: bool = False           # True: skip scenes with a missing/unreadable modality


def _config(lang: str) -> SamsemoConfig:
  languages = layout.LANGUAGES if lang == "all" else (lang.upper(),)
  what = "all five languages" if lang == "all" else f"{lang.upper()} scenes"
  return SamsemoConfig(name=lang, languages=languages, description=f"SAMSEMO, {what}.")


class Builder(tfds.core.GeneratorBasedBuilder):
  """SAMSEMO scenes with precomputed MME2E features (array_record only; no TensorFlow needed)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Mel pieces, Haar face crops, optional frozen text states, tsv traits."}
  BUILDER_CONFIGS = [_config(lang) for lang in ("en", "de", "es", "pl", "ko", "all")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    _validate(cfg)
    f = tfds.features
    features: dict[str, Any] = {
        "id": f.Text(), "language": f.Text(),
        "labels": f.Tensor(shape=(len(layout.EMOTIONS),), dtype=np.float32),
        "text": f.Text(), "text_en": f.Text(),
        **{trait: f.Text() for trait in layout.TSV_TRAITS},
        "duration": f.Tensor(shape=(), dtype=np.float32),
    }
    features.update(common_media.feature_spec((["mel"] if cfg.audio else []) + (["faces"] if cfg.faces else [])))
    if cfg.text_checkpoint:
      features.update(text_features.feature_spec(cfg.text_checkpoint, cfg.text_max_length))
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__, features=f.FeaturesDict(features),
        homepage="https://huggingface.co/datasets/SamsungNLP/SAMSEMO",
        metadata=tfds.core.MetadataDict(
            emotions=list(layout.EMOTIONS), languages=list(cfg.languages), options=options_lib.config_options(cfg),
            face_normalisation={"mean": video.FACE_MEAN.tolist(), "std": video.FACE_STD.tolist()}))

  def _split_generators(self, dl_manager):
    cfg = self.builder_config
    manual = Path(dl_manager.manual_dir)
    if not manual.is_dir():
      raise layout.ReleaseLayoutError(f"manual_dir {manual} does not exist.\n{MANUAL_DOWNLOAD_INSTRUCTIONS}")
    self._report = BuildReport("samsemo", cfg.name, options=options_lib.config_options(cfg))
    release = _Release.open(manual, cfg, self._report)
    entries = {split: release.split_entries(split) for split in layout.SPLITS}
    # Each split's meta.pkl checks come first in its part of the report, as when it was generated.
    self._heads = {split: beam_units.ReportEvents() for split in entries}
    self._units = {split: release.scene_units(split, items, self._heads[split]) for split, items in entries.items()}
    self._parts = beam_units.parts_dir_of(self.data_dir)
    self._worker = _SceneWorker(cfg)
    return {split: self._generate_examples(split) for split in entries}

  def _generate_examples(self, split: str):
    """Chunks of scenes (texts encoded as a batch): a Beam transform, or in-process without Beam."""
    return beam_units.generate(split, self._units[split], self._worker, self._parts, self._use_beam)

  def _download_and_prepare(self, dl_manager, download_config=None, **kwargs):
    self._use_beam = beam_units.uses_beam(download_config)
    with beam_units.empty_split_explained(lambda empty: ValueError(
        f"samsemo/{self.builder_config.name}: split {empty!r} has no example left (every "
        "listed scene was skipped; see the skipped list). Use drop_partial=False.")):
      super()._download_and_prepare(dl_manager=dl_manager, download_config=download_config, **kwargs)
    beam_units.replay_parts(self._report, self._parts, list(self._units), self._heads)
    self._report.write(self.data_dir)
    print(self._report.summary())


CHUNK = 32  # scenes per unit of work: the text encoder's batches come from one chunk


@dataclasses.dataclass(frozen=True)
class _Scene:
  """One listed scene with everything its worker needs (the release itself stays in the driver)."""
  utt: str
  lang: str
  text: str
  labels: tuple
  folder: str | None
  tsv_loaded: bool
  tsv_row: dict | None
  meta_en_text: str


class _SceneWorker(beam_units.UnitWorker):
  """Media, text and tsv fields of a chunk of scenes, with the detector and encoder of its worker."""

  def __init__(self, cfg: SamsemoConfig):
    self.cfg = cfg
    self.options = media.MediaOptions(
        audio=cfg.audio, faces=cfg.faces, sample_rate=cfg.sample_rate, max_mel_pieces=cfg.max_mel_pieces,
        max_faces=cfg.max_faces, face_fallback=cfg.face_fallback, haar_min_neighbors=cfg.haar_min_neighbors)

  def setup(self) -> None:
    cfg = self.cfg
    self.detector = video.HaarFaceDetector(min_neighbors=cfg.haar_min_neighbors) if cfg.faces else None
    self.encoder = None
    if cfg.text_checkpoint:
      self.encoder = text_features.EncoderSpec(
          checkpoint=cfg.text_checkpoint, max_length=cfg.text_max_length, pooling=cfg.text_pooling,
          tokenizer=cfg.text_tokenizer).load()

  def __call__(self, unit, report) -> Iterator:
    cfg = self.cfg
    split, scenes = unit
    text_feats = None
    if self.encoder is not None:
      text_feats = self.encoder.encode([s.utt if cfg.text_source == "utterance_id" else s.text for s in scenes])
    for i, scene in enumerate(scenes):
      utt, lang = scene.utt, scene.lang
      example = {"id": utt, "language": lang, "labels": np.asarray(scene.labels, np.float32), "text": scene.text}
      if cfg.audio or cfg.faces:
        found = media.scene_media(Path(scene.folder) if scene.folder else None, self.options, self.detector)
        # A missing modality is stored empty (count 0); a face fallback or one bad frame is not.
        degraded = [issue for issue in found.issues if not issue.startswith(("face_fallback", "frame_unreadable"))]
        if degraded and cfg.drop_partial:
          report.skip(utt, f"partial_dropped: {'; '.join(degraded)}", split)
          continue
        example.update(found.features)
        report.count("frames", "read", found.frames_read)
        report.count("frames", "face_found", found.faces_found)
        report.count("frames", "centre_fallback", found.fallbacks)
        for issue in found.issues:
          report.degrade(utt, issue, split)
      if text_feats is not None:
        example.update(text_feats[i])
      example.update(_tsv_fields(scene, split, report))
      _count_example(report, split, lang, scene.labels)
      yield utt, example


def _tsv_fields(scene: _Scene, split: str, report) -> dict[str, Any]:
  """The tsv traits, English text and duration of a scene; a missing row is reported, not fatal."""
  row = scene.tsv_row
  if scene.tsv_loaded and row is None:
    report.degrade(scene.utt, "tsv_row_missing: no samsemo.tsv row; traits left empty", split)
  row = row or {}
  if row and row.get("language", "").strip().upper() not in ("", scene.lang):
    report.count("tsv", "language_differs_from_split_file")
  text_en, source = row.get("translation_en", "").strip(), "tsv"
  if not text_en and scene.meta_en_text:
    text_en, source = scene.meta_en_text, "meta_all_en"
  if not text_en and scene.lang == "EN":
    text_en, source = scene.text, "transcript"
  report.count("text_en_source", source if text_en else "none")
  fields = {trait: row.get(trait, "").strip() for trait in layout.TSV_TRAITS}
  duration = layout.parse_duration(row.get("duration", ""))
  if row and math.isnan(duration):
    report.count("tsv", "duration_unparsed")
  return {**fields, "text_en": text_en, "duration": np.float32(duration)}


def _validate(cfg: SamsemoConfig) -> None:
  bad = [lang for lang in cfg.languages if lang not in layout.LANGUAGES]
  if bad or not cfg.languages:
    raise ValueError(f"languages {cfg.languages!r}: choose from {layout.LANGUAGES}.")
  if cfg.text_source not in TEXT_SOURCES:
    raise ValueError(f"text_source must be one of {TEXT_SOURCES}, got {cfg.text_source!r}.")
  if cfg.face_fallback not in (video.FALLBACK_CENTRE, video.FALLBACK_SAMSEMO):
    raise ValueError(f"face_fallback must be 'centre' or 'samsemo', got {cfg.face_fallback!r}.")
  if cfg.sample_rate < 0 or cfg.max_faces < 1 or cfg.max_mel_pieces < 1:
    raise ValueError("sample_rate >= 0, max_faces >= 1, max_mel_pieces >= 1 required.")
  problems = text_features.check_pooling(cfg.text_pooling)
  if problems:
    raise ValueError(problems[0] + ".")


def _count_example(report: BuildReport, split: str, lang: str, labels) -> None:
  report.count("examples", split)
  report.count(f"language/{split}", lang)
  for name, value in zip(layout.EMOTIONS, labels):
    if value:
      report.count(f"label/{split}", name)
  if not any(labels):
    report.count(f"label/{split}", "none (all-zero)")


@dataclasses.dataclass
class _Release:
  """What the builder reads from the release, with every irregularity recorded in the report."""
  manual: Path
  cfg: SamsemoConfig
  report: BuildReport
  meta: dict[str, Any]
  meta_en: dict[str, Any] | None
  tsv: dict[str, dict[str, str]] | None
  dirs: dict[str, list[Path]]
  listed_in: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)  # id -> first (split, lang)

  @classmethod
  def open(cls, manual: Path, cfg: SamsemoConfig, report: BuildReport) -> "_Release":
    meta_path = layout.find_meta(manual, cfg.meta_path)
    if meta_path is None:
      raise layout.ReleaseLayoutError(
          f"meta.pkl not found under {manual} (searched manual_dir, metadata/, meta_and_splits/"
          f"{', meta_path=' + cfg.meta_path if cfg.meta_path else ''}).\n{MANUAL_DOWNLOAD_INSTRUCTIONS}")
    en_path = layout.find_meta(manual, None, name="meta_all_en.pkl")
    tsv_path = layout.find_tsv(manual, cfg.tsv_path)
    tsv = None
    if tsv_path is not None:
      tsv, encoding, duplicates = layout.load_tsv(tsv_path)
      report.count("tsv", f"encoding={encoding}")
      report.count("tsv", "rows", len(tsv))
      report.count("tsv", "duplicate_ids", duplicates)
    else:
      report.count("tsv", "absent")
    report.options["resolved_paths"] = {"meta": str(meta_path), "meta_all_en": str(en_path), "tsv": str(tsv_path)}
    dirs = {lang: layout.files_dirs(manual, lang, cfg.files_dir) for lang in cfg.languages}
    return cls(manual, cfg, report, layout.load_meta(meta_path),
               layout.load_meta(en_path) if en_path else None, tsv, dirs)

  def split_entries(self, split: str) -> list[tuple[str, str]]:
    entries, missing = [], []
    for lang in self.cfg.languages:
      path = layout.split_file(self.manual, split, lang, self.cfg.splits_dir)
      if path is None:
        missing.append(f"{split}_split_{lang}.txt")
        continue
      listed = layout.read_split_file(path)
      if listed.missing_final_newline:
        self.report.count("split_files", "last_line_without_newline")
      self.report.count("split_files", "blank_lines", listed.blank_lines)
      for utt in listed.duplicates:
        self.report.skip(utt, f"duplicate_in_split_file: {path.name}", split)
      for utt in listed.ids:
        earlier = self.listed_in.setdefault(utt, (split, lang))
        if earlier == (split, lang):
          entries.append((utt, lang))
        elif earlier[0] == split:  # Listed by two languages' files: TFDS keys must be unique.
          self.report.skip(utt, f"duplicate_in_split_file: also in {split}_split_{earlier[1]}.txt", split)
        else:  # In two splits: kept in both (as listed) but counted, since it leaks across splits.
          entries.append((utt, lang))
          self.report.count("split_files", f"id_in_{earlier[0]}_and_{split}")
    if missing:
      self.report.count("split_files", "missing", len(missing))
      self.report.options.setdefault("missing_split_files", []).extend(missing)
      if len(missing) == len(self.cfg.languages):
        raise layout.ReleaseLayoutError(
            f"No split file for split {split!r}: {missing} not found under {self.manual} (searched "
            f"manual_dir, splits/, meta_and_splits/; set --option splits_dir=...).")
      print(f"WARNING samsemo/{self.cfg.name}: {split} lacks {missing}; those languages are left out.")
    return entries

  def meta_record(self, utt: str, split: str, report):
    if utt not in self.meta:
      report.skip(utt, "not_in_meta: listed in the split file but absent from meta.pkl", split)
      return None
    checked = layout.check_meta_record(self.meta[utt])
    if isinstance(checked, str):
      report.skip(utt, f"bad_meta_record: {checked}", split)
      return None
    return checked

  def scene_units(self, split: str, entries: list[tuple[str, str]], report) -> list[tuple[str, list[_Scene]]]:
    """The split's scenes with a usable meta.pkl record, in chunks of CHUNK; `report` gets the rest."""
    scenes = []
    for utt, lang in entries:
      record = self.meta_record(utt, split, report)
      if record is None:
        continue
      text, labels = record
      folder = self.folder(utt, lang)
      en = self.meta_en.get(utt) if self.meta_en is not None else None
      scenes.append(_Scene(
          utt=utt, lang=lang, text=text, labels=tuple(labels), folder=str(folder) if folder else None,
          tsv_loaded=self.tsv is not None, tsv_row=(self.tsv or {}).get(utt),
          meta_en_text=str(en.get("text") or "").strip() if isinstance(en, dict) else ""))
    return [(split, scenes[i:i + CHUNK]) for i in range(0, len(scenes), CHUNK)]

  def folder(self, utt: str, lang: str) -> Path | None:
    return layout.utterance_dir(self.dirs[lang], utt)
