"""IEMOCAP (USC SAIL): one example per utterance, built from the user's `IEMOCAP_full_release`.

Each example holds the ids (utterance, dialog, session), the speaker's gender, scripted/improvised,
the majority label code (all codes kept; label schemes are applied by the input pipeline, see
`mmer_jax.data.label_schemes`), every evaluator's categorical vote, V/A/D, the transcript and the
forced-alignment words, and the features of the config's feature set. Splits are `session1` ..
`session5` (compose LOSO folds with `+`), or `train/valid/test` from id lists (`split_dir`).
See README.md in this folder for the configs, options, counts and the build report.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds

from mmer_jax import progress
from mmer_jax.data import label_schemes
from mmer_jax.datasets import iemocap
from mmer_jax.features import mocap as mocap_lib
from mmer_jax.features import text as text_lib
from mmer_jax.features import video as video_lib
from tfds_builders.build_report import BuildReport
from tfds_builders.common import beam_units
from tfds_builders.common import media as common_media
from tfds_builders.common import options as options_lib
from tfds_builders.common import text_features
from tfds_builders.iemocap import media
from tfds_builders.iemocap import release

TEXT_ENCODER_INPUTS = ("transcript", "seed002")

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
IEMOCAP is distributed by USC SAIL on request (https://sail.usc.edu/iemocap/). Unpack it and point
--manual_dir at IEMOCAP_full_release/ (or its parent). The builder reads, per session:
  Session<n>/dialog/EmoEvaluation/<dialog>.txt, dialog/transcriptions/<dialog>.txt,
  dialog/wav/<dialog>.wav, dialog/avi/DivX/<dialog>.avi, dialog/MOCAP_{rotated,head,hand}/<dialog>.txt,
  sentences/wav/<dialog>/<utt>.wav, sentences/ForcedAlignment/<dialog>/<utt>.wdseg
"""


@dataclasses.dataclass
class IemocapConfig(tfds.core.BuilderConfig):
  """A feature set plus options (set with `--option key=value`); defaults are the clean build."""
  # Feature set.
  mel: bool = False
  waveform: bool = False
  compare_lld: bool = False
  audio_stats: bool = False
  faces: bool = False
  mocap: bool = False
  mocap_raw: bool = False            # also the 120 fps frames of the utterance, (T, D) per stream
  text_checkpoint: str | None = None  # local HF folder -> text_cls / text_tokens / text_tokens_mask
  text_max_length: int = 128
  text_encoder_input: str = "transcript"  # "seed002": wdseg words cleaned as seed 002 + its special tokens
  text_pooling: str = "auto"         # text_pooled: "cls", "mean" or "auto" (as the checkpoint was trained)
  # Media options.
  audio_source: str = "sentence"     # "dialog": the speaker's channel cut from the stereo dialog wav
  audio_stats_source: str = "sentence"  # "seed003_dialog_mix": seed 003's floor/+1 cut of the mixed dialog
  max_mel_pieces: int = 32           # stored pieces; num_mel_pieces keeps the count before truncation
  max_faces: int = 16
  frame_interval_ms: float = 500.0
  face_fallback: str = video_lib.FALLBACK_CENTRE
  haar_min_neighbors: int = 5
  # Splits and robustness.
  sessions: tuple[int, ...] = (1, 2, 3, 4, 5)
  split_dir: str | None = None       # folder with {train,valid,test}_split.txt (e.g. MME2E's lists)
  drop_partial: bool = False         # True: skip utterances with a missing/unreadable modality

  def media_options(self) -> media.MediaOptions:
    return options_lib.options_for(self, media.MediaOptions)


def _config(name: str, description: str, **features: Any) -> IemocapConfig:
  return IemocapConfig(name=name, description=description, **features)


BUILDER_CONFIGS = [
    _config("full", "Every feature: mel pieces, waveform, ComParE LLDs, 276 stats, faces, MoCap.",
            mel=True, waveform=True, compare_lld=True, audio_stats=True, faces=True, mocap=True),
    _config("mme2e", "MME2E / SAMSEMO-style: mel pieces + 48x48 faces (+ text states if configured).",
            mel=True, faces=True),
    _config("seed002", "Seed 002: ComParE_2016 LLDs + words (+ frozen BERT tokens if configured).",
            compare_lld=True, text_encoder_input="seed002"),
    _config("seed003", "Seed 003: the 276 utterance statistics + transcript (TF-IDF in the pipeline).",
            audio_stats=True),
    _config("seed004", "Seed 004: raw 16 kHz waveform + MoCap 200-chunk means (+ text).",
            waveform=True, mocap=True),
    _config("labels_text", "Labels, votes, V/A/D, transcript and words only (fast)."),
]


class Builder(tfds.core.GeneratorBasedBuilder):
  """IEMOCAP utterances with precomputed features (array_record; no TensorFlow needed)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Per-session splits, raw label codes, votes, words, feature-set configs."}
  BUILDER_CONFIGS = BUILDER_CONFIGS
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    _validate(cfg)
    f = tfds.features
    votes = len(release.VOTE_CATEGORIES)
    features: dict[str, Any] = {
        "id": f.Text(), "dialog": f.Text(), "session": f.Tensor(shape=(), dtype=np.int32),
        "gender": f.Text(), "mode": f.Text(),
        "label": f.ClassLabel(names=iemocap.CODES),
        "votes": f.Tensor(shape=(votes,), dtype=np.int32),
        "self_votes": f.Tensor(shape=(votes,), dtype=np.int32),
        "annotations": f.Text(),
        "vad": f.Tensor(shape=(3,), dtype=np.float32),
        "start": f.Tensor(shape=(), dtype=np.float32), "end": f.Tensor(shape=(), dtype=np.float32),
        "text": f.Text(),
        "words": f.Sequence(f.Text()),
        "word_start": f.Tensor(shape=(None,), dtype=np.float32),
        "word_end": f.Tensor(shape=(None,), dtype=np.float32),
    }
    if cfg.media_options().any_audio:
      features["audio_present"] = f.Tensor(shape=(), dtype=np.bool_)
    features.update(common_media.feature_spec(
        g for g in ("mel", "waveform", "compare_lld", "audio_stats", "faces") if getattr(cfg, g)))
    if cfg.mocap:
      for stream, name in media.MOCAP_FEATURES.items():
        width = iemocap.MOCAP_STREAM_WIDTHS[stream]
        features[name] = f.Tensor(shape=(mocap_lib.NUM_CHUNKS, width), dtype=np.float32)
        if cfg.mocap_raw:
          features[f"{name}_raw"] = f.Tensor(shape=(None, width), dtype=np.float32)
      features["mocap_present"] = f.Tensor(shape=(3,), dtype=np.bool_)
    if cfg.text_checkpoint:
      features.update(text_features.feature_spec(cfg.text_checkpoint, cfg.text_max_length))
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__, features=f.FeaturesDict(features),
        homepage="https://sail.usc.edu/iemocap/",
        metadata=tfds.core.MetadataDict(
            vote_categories=list(release.VOTE_CATEGORIES), options=options_lib.config_options(cfg),
            mocap_streams={n: iemocap.MOCAP_STREAM_WIDTHS[s] for s, n in media.MOCAP_FEATURES.items()},
            face_normalisation={"mean": video_lib.FACE_MEAN.tolist(), "std": video_lib.FACE_STD.tolist()},
            label_schemes={s.name: list(s.class_names) for s in label_schemes.SCHEMES.values()}))

  def _split_generators(self, dl_manager):
    cfg = self.builder_config
    manual = dl_manager.manual_dir
    if not manual or not Path(manual).is_dir():
      raise release.ReleaseLayoutError(f"manual_dir {manual} does not exist.\n{MANUAL_DOWNLOAD_INSTRUCTIONS}")
    root = release.find_release_root(manual)
    self._report = BuildReport("iemocap", cfg.name, options=options_lib.config_options(cfg))
    self._report.options["release_root"] = str(root)
    utterances = _Corpus.read(root, cfg, self._report).utterances
    splits = _assign_splits(utterances, cfg, self._report)
    _fill_evaluation_splits(self._report, splits, cfg)
    self._split_names = list(splits)
    self._parts = beam_units.parts_dir_of(self.data_dir)
    self._worker = _DialogWorker(cfg)
    return {name: self._generate_examples(name, items) for name, items in splits.items()}

  def _generate_examples(self, split: str, utterances: list["_Utterance"]):
    """One unit per dialog: a Beam transform spread over the pipeline's workers, or in-process."""
    return beam_units.generate(split, _dialog_units(split, utterances), self._worker, self._parts,
                               self._use_beam)

  def _download_and_prepare(self, dl_manager, download_config=None, **kwargs):
    cfg = self.builder_config
    self._use_beam = beam_units.uses_beam(download_config)
    with beam_units.empty_split_explained(lambda empty: ValueError(
        f"iemocap/{cfg.name}: split {empty!r} has no example left (every listed utterance "
        "was skipped). Use drop_partial=False or other sessions.")):
      super()._download_and_prepare(dl_manager=dl_manager, download_config=download_config, **kwargs)
    beam_units.replay_parts(self._report, self._parts, self._split_names)
    self._report.write(self.data_dir)
    print(self._report.summary())


def _dialog_units(split: str, utterances: list["_Utterance"]) -> list[tuple[str, list["_Utterance"]]]:
  """One unit of work per dialog (its MoCap files are parsed once, its texts encoded as a batch)."""
  by_dialog: dict[str, list[_Utterance]] = collections.defaultdict(list)
  for utt in utterances:
    by_dialog[utt.dialog].append(utt)
  return [(split, by_dialog[d]) for d in sorted(by_dialog)]


class _DialogWorker(beam_units.UnitWorker):
  """Media and text features of one dialog's utterances, with the detector and encoder of its worker."""

  def __init__(self, cfg: IemocapConfig):
    self.cfg = cfg
    self.options = cfg.media_options()

  def setup(self) -> None:
    cfg = self.cfg
    self.detector = video_lib.HaarFaceDetector(min_neighbors=cfg.haar_min_neighbors) if cfg.faces else None
    self.encoder = _encoder_spec(cfg).load() if cfg.text_checkpoint else None

  def __call__(self, unit, report) -> Iterator:
    cfg, options = self.cfg, self.options
    split, items = unit
    if options.any_audio or options.faces or options.mocap:
      job = media.DialogJob(items[0].dialog, items[0].session_dir, tuple(u.job for u in items), options)
      found = media.dialog_media_job(job, self.detector)
    else:
      found = [None] * len(items)
    text_feats = self.encoder.encode(_encoder_texts(cfg, items, report, split)) if self.encoder else None
    for i, (utt, utt_media) in enumerate(zip(items, found)):
      example = utt.metadata()
      issues = list(utt.issues)
      if utt_media is not None:
        assert utt_media.utt_id == utt.id, (utt_media.utt_id, utt.id)
        example.update(utt_media.features)
        issues += utt_media.issues
        report.count("frames", "read", utt_media.frames_read)
        report.count("frames", "face_found", utt_media.faces_found)
      if text_feats is not None:
        example.update(text_feats[i])
      blocking = [x for x in issues if not x.startswith("face_fallback")]
      if blocking and cfg.drop_partial:
        report.skip(utt.id, f"partial_dropped: {'; '.join(blocking)}", split)
        continue
      for issue in issues:
        report.degrade(utt.id, issue, split)
      _count_example(report, split, utt)
      yield utt.id, example


# --------------------------------------------------------------------------------------------------
# Reading the release


@dataclasses.dataclass
class _Utterance:
  """One labelled turn joined with its transcript and word alignment."""
  evaluation: release.Evaluation
  dialog: str
  session: int
  session_dir: str
  text: str
  alignment: release.WordAlignment
  paths: release.Paths
  issues: list[str]

  @property
  def id(self) -> str:
    return self.evaluation.utt_id

  @property
  def job(self) -> media.UtteranceJob:
    ev = self.evaluation
    return media.UtteranceJob(ev.utt_id, ev.start, ev.end, release.speaker_side(ev.utt_id),
                              self.paths.sentence_wav, self.paths.dialog_wav, self.paths.video)

  def metadata(self) -> dict[str, Any]:
    ev = self.evaluation
    return {
        "id": ev.utt_id, "dialog": self.dialog, "session": np.int32(self.session),
        "gender": release.speaker_letter(ev.utt_id), "mode": "impro" if "_impro" in self.dialog else "script",
        "label": ev.code, "votes": ev.vote_counts(self_evaluation=False),
        "self_votes": ev.vote_counts(self_evaluation=True), "annotations": ev.raw,
        "vad": np.asarray(ev.vad, np.float32), "start": np.float32(ev.start), "end": np.float32(ev.end),
        "text": self.text, "words": list(self.alignment.words),
        "word_start": self.alignment.start, "word_end": self.alignment.end,
    }


@dataclasses.dataclass
class _Corpus:
  utterances: list[_Utterance]

  @classmethod
  def read(cls, root: Path, cfg: IemocapConfig, report: BuildReport) -> "_Corpus":
    utterances: list[_Utterance] = []
    seen: set[str] = set()
    for session in cfg.sessions:
      dialogs = release.dialog_ids(root, session)
      if not dialogs:
        report.count("release", f"session{session}_missing")
        print(f"WARNING iemocap: {release.session_dir(root, session)} has no EmoEvaluation files.")
        continue
      report.count("release", "dialogs", len(dialogs))
      for dialog in progress.iterate(dialogs, desc=f"iemocap: parsing Session{session}", unit="dialogs", leave=False):
        utterances += cls._read_dialog(root, session, dialog, seen, report)
    if not utterances:
      raise release.ReleaseLayoutError(f"No labelled utterance found under {root} for sessions {cfg.sessions}.")
    return cls(sorted(utterances, key=lambda u: u.id))

  @staticmethod
  def _read_dialog(root: Path, session: int, dialog: str, seen: set[str], report: BuildReport) -> list[_Utterance]:
    base = release.session_dir(root, session)
    evaluations, problems = release.parse_emo_evaluation(base / "dialog" / "EmoEvaluation" / f"{dialog}.txt")
    # One entry per turn: a lost turn is a skip keyed by its id; the ignored lines of a kept turn are
    # one partial entry (num_partial counts turns, not lines).
    ignored: dict[str, list[str]] = {}
    for problem in problems:
      if problem.lost:
        report.skip(problem.utt_id or problem.where, f"evaluation_turn_unreadable: {problem.where}: {problem.reason}")
      else:
        ignored.setdefault(problem.utt_id or problem.where, []).append(f"{problem.where}: {problem.reason}")
    for turn, lines in ignored.items():
      report.degrade(turn, f"evaluation_line_ignored: {len(lines)} line(s): " + "; ".join(lines))
    transcript_path = base / "dialog" / "transcriptions" / f"{dialog}.txt"
    texts, unlabelled = release.parse_transcriptions(transcript_path) if transcript_path.is_file() else ({}, 0)
    report.count("release", "transcript_turns_without_label", unlabelled)
    out = []
    for ev in evaluations:
      if not release.UTTERANCE_ID.match(ev.utt_id) or not ev.utt_id.startswith(dialog):
        report.skip(ev.utt_id, f"bad_utterance_id: not an utterance of {dialog}")
        continue
      if not release.is_known_code(ev.code):
        report.skip(ev.utt_id, f"unknown_label_code: {ev.code!r} is not one of {iemocap.CODES}")
        continue
      if ev.utt_id in seen:
        report.skip(ev.utt_id, "duplicate_utterance: listed twice in EmoEvaluation")
        continue
      seen.add(ev.utt_id)
      issues = []
      if ev.utt_id not in texts:
        issues.append(f"transcript_missing: no line in {transcript_path.name}")
      paths = release.Paths.of(root, session, dialog, ev.utt_id)
      if os.path.isfile(paths.wdseg):
        alignment = release.parse_wdseg(paths.wdseg)
      else:
        alignment = release.WordAlignment((), np.zeros(0, np.float32), np.zeros(0, np.float32))
        issues.append("wdseg_missing: no ForcedAlignment .wdseg file")
      out.append(_Utterance(ev, dialog, session, str(base), texts.get(ev.utt_id, ""), alignment, paths, issues))
    return out


def _assign_splits(utterances: list[_Utterance], cfg: IemocapConfig,
                   report: BuildReport) -> dict[str, list[_Utterance]]:
  if not cfg.split_dir:
    return {iemocap.session_split(s): [u for u in utterances if u.session == s] for s in cfg.sessions}
  lists = release.read_split_lists(cfg.split_dir)
  by_id = {u.id: u for u in utterances}
  splits, listed = {}, set()
  for split, ids in lists.items():
    splits[split] = []
    for utt_id in ids:
      if utt_id in listed:
        report.skip(utt_id, f"listed_twice_in_split_lists: again in {split}", split)
      elif utt_id not in by_id:
        report.skip(utt_id, "listed_but_not_in_release: no labelled utterance with this id", split)
      else:
        splits[split].append(by_id[utt_id])
      listed.add(utt_id)
  report.count("release", "utterances_outside_split_lists", len(set(by_id) - listed))
  return {split: sorted(items, key=lambda u: u.id) for split, items in splits.items()}


def _fill_evaluation_splits(report: BuildReport, splits: dict[str, list["_Utterance"]], cfg: IemocapConfig) -> None:
  """EmoEvaluation problems are reported while the files are parsed, before splits are assigned; each
  entry gets its turn's split now (a lost turn: the split list naming it, or its session)."""
  split_of = {u.id: name for name, items in splits.items() for u in items}
  if cfg.split_dir:
    for name, ids in release.read_split_lists(cfg.split_dir).items():
      for utt_id in ids:
        split_of.setdefault(utt_id, name)
  for entry in [*report.skipped, *report.partial]:
    if not entry["split"]:
      session = release.session_of(entry["id"])
      by_session = iemocap.session_split(session) if session and not cfg.split_dir else ""
      entry["split"] = split_of.get(entry["id"], by_session)


def _encoder_spec(cfg: IemocapConfig) -> text_features.EncoderSpec:
  extra = text_lib.SEED002_SPECIAL_TOKENS if cfg.text_encoder_input == "seed002" else ()
  return text_features.EncoderSpec(checkpoint=cfg.text_checkpoint, max_length=cfg.text_max_length,
                                   pooling=cfg.text_pooling, extra_special_tokens=tuple(extra))


def _encoder_texts(cfg: IemocapConfig, items: list[_Utterance], report, split: str) -> list[str]:
  """The text each utterance is encoded from (seed 002: its cleaned .wdseg words)."""
  texts = []
  for utt in items:
    if cfg.text_encoder_input != "seed002":
      texts.append(utt.text)
    elif utt.alignment.words:
      texts.append(text_lib.seed002_transcript(utt.alignment.words))
    else:
      report.degrade(utt.id, "seed002_text_from_transcript: no .wdseg words, encoded the transcript", split)
      texts.append(text_lib.seed002_transcript_from_text(utt.text))
  return texts


# --------------------------------------------------------------------------------------------------
# Helpers


def _validate(cfg: IemocapConfig) -> None:
  problems = []
  if cfg.text_encoder_input not in TEXT_ENCODER_INPUTS:
    problems.append(f"text_encoder_input must be one of {TEXT_ENCODER_INPUTS}, got {cfg.text_encoder_input!r}")
  if cfg.audio_source not in media.AUDIO_SOURCES:
    problems.append(f"audio_source must be one of {media.AUDIO_SOURCES}, got {cfg.audio_source!r}")
  if cfg.audio_stats_source not in media.STATS_SOURCES:
    problems.append(f"audio_stats_source must be one of {media.STATS_SOURCES}, got {cfg.audio_stats_source!r}")
  if cfg.face_fallback not in (video_lib.FALLBACK_CENTRE, video_lib.FALLBACK_SAMSEMO):
    problems.append(f"face_fallback must be 'centre' or 'samsemo', got {cfg.face_fallback!r}")
  if not cfg.sessions or any(s not in range(1, release.NUM_SESSIONS + 1) for s in cfg.sessions):
    problems.append(f"sessions must be a non-empty subset of 1..5, got {cfg.sessions!r}")
  if cfg.max_mel_pieces < 0 or cfg.max_faces < 1 or cfg.frame_interval_ms <= 0:
    problems.append("max_mel_pieces >= 0 (0 = all), max_faces >= 1, frame_interval_ms > 0")
  problems += text_features.check_pooling(cfg.text_pooling)
  if cfg.mocap_raw and not cfg.mocap:
    problems.append("mocap_raw=True needs mocap=True")
  if problems:
    raise ValueError(f"Invalid iemocap/{cfg.name} options: " + "; ".join(problems))


def _count_example(report: BuildReport, split: str, utt: _Utterance) -> None:
  code = utt.evaluation.code
  report.count("examples", split)
  report.count(f"label/{split}", code)
  report.count("label", code)
  report.count("session", f"session{utt.session}")
  for scheme in label_schemes.SCHEMES.values():
    index = scheme(code)
    if index is not None:
      report.count(f"scheme/{scheme.name}", scheme.class_names[index])
