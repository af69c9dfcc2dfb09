"""Examples of the `raw` config (MME2E on CMU-MOSEI), one labelled transcript clip each.

Per clip `<vid>_<clip>`:
  * audio cut from the full 16 kHz WAV as `[int(sr*max(start,0)) : int(sr*end)]` (channel 0, as the
    MME2E notebook), turned into torchaudio-style power mel pieces (P, 128, 32) by
    `mmer_jax.features.audio`; `num_mel_pieces` is the count before truncation to `max_mel_pieces`;
  * one frame every `face_interval_ms` of the full video within the clip, a 48x48 face crop per
    frame (Haar detector, centre-crop fallback flagged in `face_found`) from
    `mmer_jax.features.video`; `num_faces` is the count before truncation to `max_faces`;
  * the transcript text; labels from CMU_MOSEI_Labels.csd: `emotions` = (score > 0) in MME2E's
    order [anger, disgust, fear, happy, sad, surprise], `emotion_scores` the raw means, `sentiment`.
MME2E keeps a clip only if its wav, mp4 and transcript exist; missing or undecodable media drop the
clip and are counted, as are unlabelled clips and label rows without a transcript line.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np

from mmer_jax import progress
from mmer_jax.features import audio as audio_lib
from mmer_jax.features import video as video_lib
from tfds_builders.cmu_mosei import csd, raw_release, sequences
from tfds_builders.cmu_mosei.config import CmuMoseiConfig
from tfds_builders.cmu_mosei.csd_examples import open_sequence
from tfds_builders.cmu_mosei.folds import TFDS_SPLIT, Folds
from tfds_builders.cmu_mosei.report import MoseiReport
from tfds_builders.common import beam_units

SAMPLE_RATE = 16000


class RawExamples:
  """Joins transcripts, media and CSD labels in the driver; one unit of work is one clip."""

  def __init__(self, manual_dir: str, config: CmuMoseiConfig, folds: Folds, report: MoseiReport):
    self.config, self.folds, self.report = config, folds, report
    self.layout = raw_release.find_layout(manual_dir)
    self.labels = open_sequence(manual_dir, sequences.LABELS)
    report.meta["inputs"] = {"layout": vars(self.layout), "labels": self.labels.path}
    self.by_split = self._plan()

  def _plan(self) -> dict[str, list[tuple[raw_release.Clip, np.ndarray]]]:
    """Parses every transcript, joins labels and assigns labelled clips to splits."""
    plan: dict[str, list] = {"train": [], "valid": [], "test": []}
    transcripts = set(self.layout.transcript_videos())
    label_vids = self.labels.video_ids()
    for vid in sorted(set(label_vids) - transcripts):
      self.report.count("videos", "labelled_without_transcript")
      for j in range(self.labels.num_rows(vid)):
        self.report.skip(f"{vid}[{j}]", "no_transcript_file", "")
    for vid in progress.iterate(sorted(transcripts), desc="cmu_mosei/raw transcripts", unit="videos"):
      clips, problems, encoding = raw_release.parse_transcript(self.layout.transcript(vid), vid)
      self.report.count("transcript_encoding", encoding)
      for reason, n in problems.items():
        self.report.count("transcript_lines_skipped", reason, n)
      if vid not in self.labels:
        self.report.count("clips", "unlabelled", len(clips))
        continue
      try:
        label_iv, label_ft = self.labels.read(vid, dim=sequences.LABELS.dim)
      except csd.CsdEntryError as err:
        self.report.count("videos", f"labels_entry_{err.reason}")
        self.report.count("clips", "labels_unreadable", len(clips))
        continue
      join = raw_release.join_labels(clips, label_iv)
      self.report.count("label_join", join.method)
      if join.sorted_rule_agrees is not None:
        self.report.count("label_join", "sorted_rule_agrees" if join.sorted_rule_agrees else "sorted_rule_disagrees")
      self.report.count("label_rows", "without_transcript_line", join.unmatched_rows)
      for clip, row in zip(clips, join.rows):
        if row < 0:
          self.report.count("clips", "unlabelled")
          continue
        split = self.folds.split_of_clip(vid, clip.clip)
        if split is None:
          self.report.count("clips", "not_in_any_split")
          continue
        plan[split].append((clip, label_ft[row].astype(np.float32)))
    return plan

  def units(self, split: str) -> list[tuple[str, raw_release.Clip, np.ndarray]]:
    return [(split, clip, labels) for clip, labels in self.by_split[split]]

  def worker(self) -> "RawWorker":
    return RawWorker(self.layout, self.config)

  def close(self) -> None:
    self.labels.close()


class RawWorker(beam_units.UnitWorker):
  """Decodes one clip's audio and video; the face detector is loaded once per worker."""

  def __init__(self, layout: raw_release.Layout, config: CmuMoseiConfig):
    self.layout, self.config = layout, config

  def setup(self) -> None:
    self.detector = video_lib.HaarFaceDetector()

  def __call__(self, unit, report) -> Iterator[tuple[str, dict[str, Any]]]:
    split, clip, labels = unit
    self.report = report  # this unit's recorder; a worker runs one unit at a time
    key = f"{clip.vid}_{clip.clip}"
    example = self._example(key, clip, labels, split)
    if example is not None:
      report.count("examples", TFDS_SPLIT[split])
      yield key, example

  def _example(self, key: str, clip: raw_release.Clip, labels: np.ndarray, split: str) -> dict[str, Any] | None:
    if not np.isfinite(labels).all():
      self.report.skip(key, "nonfinite_labels", split)
      return None
    if clip.end - max(clip.start, 0.0) <= 0:
      self.report.skip(key, "empty_time_range", split)
      return None
    for kind, path in (("wav", self.layout.wav(clip.vid)), ("mp4", self.layout.mp4(clip.vid))):
      if not os.path.isfile(path):
        self.report.skip(key, f"missing_{kind}", split)
        return None
    try:
      wave = audio_lib.load_audio(self.layout.wav(clip.vid), SAMPLE_RATE, channel=0, start=clip.start, end=clip.end)
      pieces, n_pieces = audio_lib.mme2e_mel_pieces(wave, SAMPLE_RATE, max_pieces=self.config.max_mel_pieces)
    except (audio_lib.AudioReadError, ValueError) as err:
      self.report.skip(key, f"audio_unreadable: {err}", split)
      return None
    try:
      segment = video_lib.read_video_segment(self.layout.mp4(clip.vid), self.config.face_interval_ms,
                                             start_s=max(clip.start, 0.0), end_s=clip.end)
    except video_lib.VideoReadError as err:
      self.report.skip(key, f"video_unreadable: {err}", split)
      return None
    frames = segment.frames
    # A clip cut short by a truncated file keeps what is there; the report says so.
    audio_cut = audio_lib.wav_truncation(self.layout.wav(clip.vid))
    if audio_cut and int(SAMPLE_RATE * clip.end) > wave.size + int(SAMPLE_RATE * max(clip.start, 0.0)):
      self.report.degrade(key, f"audio_truncated: {audio_cut}", split)
    if segment.truncated:
      self.report.degrade(key, f"video_truncated: {segment.truncated}", split)
    n_faces = len(frames)
    kept = frames if self.config.max_faces is None else frames[:self.config.max_faces]
    crops = video_lib.extract_faces(kept, self.detector)
    self.report.count("frames", "face_found", int(crops.face_found.sum()))
    self.report.count("frames", "centre_fallback", crops.num_fallbacks)
    if self.config.max_faces is not None and n_faces > self.config.max_faces:
      self.report.count("truncated", "faces")
    if self.config.max_mel_pieces is not None and n_pieces > self.config.max_mel_pieces:
      self.report.count("truncated", "mel_pieces")
    scores = labels[list(sequences.MME2E_FROM_CSD)]
    return {
        "id": key,
        "video_id": clip.vid,
        "clip": np.int32(clip.clip),
        "interval": np.array([clip.start, clip.end], np.float64),
        "text": clip.text,
        "mel_pieces": pieces.astype(np.float32),
        "num_mel_pieces": np.int32(n_pieces),
        "faces": crops.faces,
        "num_faces": np.int32(n_faces),
        "face_found": crops.face_found,
        "emotions": (scores > 0).astype(np.float32),
        "emotion_scores": scores.astype(np.float32),
        "sentiment": np.float32(labels[0]),
    }
