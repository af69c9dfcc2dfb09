"""Audio and face features of one manifest row, with the extractors the release builders use.

A plain function of (row media, options) so a Beam worker can run it. Problems never raise: they
come back as `issues` ("reason: detail") and the modality is stored empty (0 pieces, 0 faces, an
all-zero statistics vector, `audio_present` / `video_present` False). The reasons the build report
counts: missing_file, empty_media, unreadable_media, segment_outside_file, and the non-fatal
audio_truncated / video_truncated / face_fallback.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from mmer_jax.features import audio as audio_lib
from mmer_jax.features import audio_stats as stats_lib
from mmer_jax.features import video as video_lib
from tfds_builders.common import media as common_media
from tfds_builders.common.media import PIECE_FRAMES, empty_audio, empty_faces, haar_detector

# A segment may end this far past the file's last sample (annotation times are rounded) before it
# counts as outside the file.
END_TOLERANCE_S = 0.1
# Issues that leave the modality usable: the example is kept whole even with drop_partial.
NON_BLOCKING = ("face_fallback",)


@dataclasses.dataclass(frozen=True)
class MediaOptions(common_media.MediaOptions):
  mel: bool = True                 # a manifest maps media it has, so mel pieces and faces are on by default
  faces: bool = True
  sample_rate: int = 16000


@dataclasses.dataclass(frozen=True)
class RowMedia:
  """What a worker needs of a row's media: resolved paths (None = the row has no such input)."""
  audio: str | None
  video: str | None
  start: float | None
  end: float | None


@dataclasses.dataclass
class MediaFeatures:
  features: dict[str, np.ndarray]
  issues: list[str]
  audio_ok: bool = False
  video_ok: bool = False
  frames_read: int = 0
  faces_found: int = 0


def _file_problem(path: str, role: str) -> str | None:
  if not os.path.exists(path):
    return f"missing_file: {role} {path} does not exist"
  if os.path.isfile(path) and os.path.getsize(path) == 0:
    return f"empty_media: {role} {path} is an empty file"
  return None


def _segment_problem(start: float | None, end: float | None, duration: float, path: str, role: str) -> str | None:
  first = start or 0.0
  if first >= duration or (end is not None and end > duration + END_TOLERANCE_S):
    return (f"segment_outside_file: {role} segment [{first}, {end}] s is outside {path} "
            f"({duration:.3f} s long)")
  return None


def audio_features(row: RowMedia, options: MediaOptions, issues: list[str]) -> tuple[dict[str, np.ndarray], bool]:
  """The audio features of a row (empty ones, and an issue, when its audio cannot be used)."""
  out = empty_audio(options)
  path = row.audio
  problem = _file_problem(path, "audio")
  if problem is None:
    import soundfile as sf
    try:
      info = sf.info(path)
    except Exception as e:  # libsndfile raises several types; a video container lands here too
      problem = (f"unreadable_media: audio {path}: {e}. Audio is read with libsndfile (wav, flac, ogg, ...); "
                 "extract the audio track of a video to a wav")
    else:
      if info.frames == 0:
        problem = f"empty_media: audio {path} has no samples"
      else:
        problem = _segment_problem(row.start, row.end, info.frames / info.samplerate, path, "audio")
  if problem is None:
    try:
      wave = audio_lib.load_audio(path, options.sample_rate, start=row.start, end=row.end)
    except audio_lib.AudioReadError as e:
      problem = f"unreadable_media: {e}"
  if problem is not None:
    issues.append(problem)
    return out, False
  truncated = audio_lib.wav_truncation(path)
  if truncated:  # features come from the frames that are there; the report says they are short
    issues.append(f"audio_truncated: {truncated}")
  if options.mel:
    pieces, count = audio_lib.mme2e_mel_pieces(wave, options.sample_rate, piece_frames=PIECE_FRAMES,
                                               max_pieces=options.max_mel_pieces or None)
    out["mel_pieces"], out["num_mel_pieces"] = pieces.astype(np.float32), np.int32(count)
  if options.waveform:
    out["waveform"] = wave.astype(np.float32)
  if options.audio_stats:
    out["audio_stats"] = stats_lib.audio_stats(wave, options.sample_rate).astype(np.float32)
  if options.compare_lld:
    out["compare_lld"] = audio_lib.compare_lld(wave, options.sample_rate).astype(np.float32)
  return out, True


def _video_frames(row: RowMedia, options: MediaOptions, issues: list[str]) -> list[np.ndarray] | None:
  path = row.video
  problem = _file_problem(path, "video")
  if problem is None and os.path.isdir(path):
    files = video_lib.folder_frames(path)
    if not files:
      problem = f"empty_media: video folder {path} holds no image"
    else:
      frames = []
      for file in files[:options.max_faces]:
        try:
          frames.append(video_lib.read_image_rgb(file))
        except video_lib.VideoReadError as e:
          issues.append(f"frame_unreadable: {e}")
      if not frames:
        problem = f"unreadable_media: no readable image in video folder {path}"
      else:
        return frames
  if problem is None:
    try:
      fps = video_lib.video_fps(path)
      import cv2
      capture = cv2.VideoCapture(path)
      declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
      capture.release()
      if fps > 0 and declared > 0:
        problem = _segment_problem(row.start, row.end, declared / fps, path, "video")
      if problem is None:
        segment = video_lib.read_video_segment(path, options.frame_interval_ms, start_s=row.start or 0.0,
                                               end_s=row.end, max_frames=options.max_faces)
        if segment.truncated:
          issues.append(f"video_truncated: {segment.truncated}")
        return segment.frames
    except video_lib.VideoReadError as e:
      problem = f"unreadable_media: {e}"
  issues.append(problem)
  return None


def face_features(row: RowMedia, options: MediaOptions, detector, issues: list[str]) -> tuple[dict, bool, int, int]:
  """(faces, num_faces, face_found), whether the video was usable, frames read, faces found."""
  frames = _video_frames(row, options, issues)
  if frames is None:
    return empty_faces(), False, 0, 0
  kept = frames[:options.max_faces]
  crops = video_lib.extract_faces(kept, detector or haar_detector(options.haar_min_neighbors),
                                  fallback=options.face_fallback)
  if crops.num_fallbacks:
    issues.append(f"face_fallback: centre crop for {crops.num_fallbacks} of {len(kept)} frames")
  found = int(crops.face_found.sum())
  features = {"faces": crops.faces, "num_faces": np.int32(len(frames)), "face_found": crops.face_found}
  return features, True, len(kept), found


def row_media(row: RowMedia, options: MediaOptions, detector=None) -> MediaFeatures:
  """Every media feature the options ask for; a row without audio / video gets them empty."""
  out = MediaFeatures(features={}, issues=[])
  if options.any_audio:
    if row.audio:
      features, out.audio_ok = audio_features(row, options, out.issues)
    else:
      features = empty_audio(options)
    out.features.update(features)
  if options.faces:
    if row.video:
      features, out.video_ok, out.frames_read, out.faces_found = face_features(row, options, detector, out.issues)
    else:
      features = empty_faces()
    out.features.update(features)
  return out


def resolve_path(value: str, base: Path) -> str | None:
  """A media cell as a path (relative to the manifest's folder); None for an empty cell."""
  if not value:
    return None
  path = Path(value).expanduser()
  return str(path if path.is_absolute() else base / path)
