"""Per-dialog media extraction for the IEMOCAP builder (runs in Beam workers).

One job = one dialog: its MoCap files are parsed once and its video/wav opened per utterance. A
modality that cannot be read is stored EMPTY (0 mel pieces, 0 faces, all-zero MoCap with
`mocap_present` False, ...) and named in `issues`; it never changes the label, which comes from
EmoEvaluation only. Only the expected failure types (unreadable file, bad format) are caught, so a
programming error still stops the build.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mmer_jax.datasets import iemocap
from mmer_jax.features import audio as audio_lib
from mmer_jax.features import audio_stats as stats_lib
from mmer_jax.features import mocap as mocap_lib
from mmer_jax.features import video as video_lib
from tfds_builders.common import media as common_media
from tfds_builders.common.media import PIECE_FRAMES

SAMPLE_RATE = 16000
AUDIO_SOURCES = ("sentence", "dialog")
STATS_SOURCES = ("sentence", "seed003_dialog_mix")
MOCAP_FEATURES = {"rotated": "mocap_rot", "head": "mocap_head", "hand": "mocap_hand"}


@dataclasses.dataclass(frozen=True)
class MediaOptions(common_media.MediaOptions):
  mocap: bool = False
  mocap_raw: bool = False
  audio_source: str = "sentence"             # "dialog": cut the speaker's channel of the dialog wav
  audio_stats_source: str = "sentence"       # "seed003_dialog_mix": seed 003's cut of the mixed dialog


@dataclasses.dataclass(frozen=True)
class UtteranceJob:
  utt_id: str
  start: float
  end: float
  side: str            # "left"/"right": speaker's half of the video and channel 0/1 of the dialog wav
  sentence_wav: str
  dialog_wav: str
  video: str


@dataclasses.dataclass(frozen=True)
class DialogJob:
  dialog: str
  session_dir: str
  utterances: tuple[UtteranceJob, ...]
  options: MediaOptions


@dataclasses.dataclass
class UtteranceMedia:
  utt_id: str
  features: dict[str, np.ndarray]
  issues: list[str]
  frames_read: int = 0
  faces_found: int = 0


def empty_audio(options: MediaOptions) -> dict[str, np.ndarray]:
  return {"audio_present": np.bool_(False), **common_media.empty_audio(options)}


class _DialogAudio:
  """Lazily loaded dialog-level audio shared by the utterances of one dialog."""

  def __init__(self, path: str):
    self.path = path
    self._mix = None
    self._truncation = None

  def truncation(self, utt: UtteranceJob) -> str | None:
    """Why the speaker's segment is cut short by a truncated dialog wav, or None."""
    if self._truncation is None:
      import soundfile as sf
      why = audio_lib.wav_truncation(self.path)
      self._truncation = (why, sf.info(self.path)) if why else ("", None)
    why, info = self._truncation
    if not why or utt.end * info.samplerate <= info.frames:
      return None
    return f"{why}; the segment ends at {utt.end} s"

  def speaker_segment(self, utt: UtteranceJob) -> np.ndarray:
    return audio_lib.load_audio(self.path, SAMPLE_RATE, channel=0 if utt.side == "left" else 1,
                                start=utt.start, end=utt.end)

  def seed003_segment(self, utt: UtteranceJob) -> np.ndarray:
    if self._mix is None:
      self._mix = audio_lib.load_audio(self.path, SAMPLE_RATE)  # both channels averaged, as librosa.load
    segment = stats_lib.seed003_segment(self._mix, utt.start, utt.end, SAMPLE_RATE)
    if segment.size == 0:
      raise audio_lib.AudioReadError(f"{self.path!r} has no samples in [{utt.start}, {utt.end}] s.")
    return segment


def _audio_features(utt: UtteranceJob, options: MediaOptions, dialog_audio: _DialogAudio,
                    issues: list[str]) -> dict[str, np.ndarray]:
  out = empty_audio(options)
  try:
    if options.audio_source == "dialog":
      wave = dialog_audio.speaker_segment(utt)
      truncated = dialog_audio.truncation(utt)
    else:
      wave = audio_lib.load_audio(utt.sentence_wav, SAMPLE_RATE)
      truncated = audio_lib.wav_truncation(utt.sentence_wav)
  except audio_lib.AudioReadError as e:
    issues.append(f"audio_unreadable: {e}")
    return out
  if truncated:  # features come from the frames that are there; the report says they are short
    issues.append(f"audio_truncated: {truncated}")
  out["audio_present"] = np.bool_(True)
  if options.mel:
    pieces, count = audio_lib.mme2e_mel_pieces(wave, SAMPLE_RATE, piece_frames=PIECE_FRAMES,
                                               max_pieces=options.max_mel_pieces or None)
    out["mel_pieces"], out["num_mel_pieces"] = pieces, np.int32(count)
  if options.waveform:
    out["waveform"] = wave
  if options.compare_lld:
    lld = audio_lib.compare_lld(wave, SAMPLE_RATE)
    if lld.shape[0] == 0:
      issues.append("lld_empty: utterance shorter than one openSMILE window")
    out["compare_lld"] = lld
  if options.audio_stats:
    try:
      stats_wave = dialog_audio.seed003_segment(utt) if options.audio_stats_source != "sentence" else wave
      out["audio_stats"] = stats_lib.audio_stats(stats_wave, SAMPLE_RATE)
    except audio_lib.AudioReadError as e:
      issues.append(f"audio_stats_unavailable: {e}")
  return out


def _face_features(utt: UtteranceJob, options: MediaOptions, detector, issues: list[str]) -> tuple[dict, int, int]:
  try:
    segment = video_lib.read_video_segment(utt.video, options.frame_interval_ms,
                                           start_s=utt.start, end_s=utt.end)
  except video_lib.VideoReadError as e:
    issues.append(f"video_unreadable: {e}")
    return common_media.empty_faces(), 0, 0
  frames = segment.frames
  if segment.truncated:
    issues.append(f"video_truncated: {segment.truncated}")
  halves = [video_lib.speaker_half(frame, utt.side) for frame in frames[:options.max_faces]]
  # IEMOCAP halves are 360x480 (W x H); SAMSEMO's 270x480 resize would squash them, so it is off.
  crops = video_lib.extract_faces(halves, detector or common_media.haar_detector(options.haar_min_neighbors),
                                  fallback=options.face_fallback, resize_tall=False)
  if crops.num_fallbacks:
    issues.append(f"face_fallback: {crops.num_fallbacks} of {len(halves)} frames used the centre crop")
  found = int(crops.face_found.sum())
  return ({"faces": crops.faces, "num_faces": np.int32(len(frames)), "face_found": crops.face_found},
          len(frames), found)


def _read_tracks(job: DialogJob) -> tuple[dict[str, mocap_lib.MocapTrack | None], dict[str, str]]:
  tracks, problems = {}, {}
  for stream, width in iemocap.MOCAP_STREAM_WIDTHS.items():
    path = iemocap.dialog_mocap_path(job.session_dir, job.dialog, stream)
    try:
      tracks[stream] = mocap_lib.read_mocap(path, width=width)
    except mocap_lib.MocapReadError as e:
      tracks[stream], problems[stream] = None, str(e)
  return tracks, problems


def _mocap_features(utt: UtteranceJob, options: MediaOptions, tracks, problems,
                    issues: list[str]) -> dict[str, np.ndarray]:
  out: dict[str, np.ndarray] = {}
  present = []
  for stream, name in MOCAP_FEATURES.items():
    width = iemocap.MOCAP_STREAM_WIDTHS[stream]
    track = tracks[stream]
    if track is None:
      issues.append(f"mocap_{stream}_missing: {problems[stream]}")
      pooled = np.zeros((mocap_lib.NUM_CHUNKS, width), np.float32)
      rows = np.zeros((0, width), np.float32)
    else:
      result = mocap_lib.utterance_chunk_means(track, utt.start, utt.end)
      pooled = result.values
      rows = mocap_lib.segment_rows(track, utt.start, utt.end)
      if result.num_frames == 0:
        issues.append(f"mocap_{stream}_no_frames: no MoCap frame between {utt.start} and {utt.end} s")
    present.append(track is not None and rows.shape[0] > 0)
    out[name] = pooled
    if options.mocap_raw:
      out[f"{name}_raw"], _ = mocap_lib.nan_to_zero(rows)
  out["mocap_present"] = np.asarray(present, bool)
  return out


def dialog_media_job(job: DialogJob, detector: video_lib.HaarFaceDetector | None = None) -> list[UtteranceMedia]:
  """Features of every utterance of one dialog, in the job's order (`detector`: the worker's own)."""
  options = job.options
  tracks, problems = _read_tracks(job) if options.mocap else ({}, {})
  dialog_audio = _DialogAudio(job.utterances[0].dialog_wav) if job.utterances else None
  results = []
  for utt in job.utterances:
    issues: list[str] = []
    features: dict[str, np.ndarray] = {}
    frames_read = faces_found = 0
    if options.any_audio:
      features.update(_audio_features(utt, options, dialog_audio, issues))
    if options.faces:
      faces, frames_read, faces_found = _face_features(utt, options, detector, issues)
      features.update(faces)
    if options.mocap:
      features.update(_mocap_features(utt, options, tracks, problems, issues))
    results.append(UtteranceMedia(utt.utt_id, features, issues, frames_read, faces_found))
  return results
