"""Per-utterance audio and face features of a SAMSEMO scene folder (`audio.wav`, `image_<k>.jpg`).

A plain function of (folder, options) so the builder can run it in worker processes and the
benchmark can time it on its own. Problems never raise: they come back as `issues`, which the
builder records in the build report, and the modality is stored empty (count 0) instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from mmer_jax.features import audio as audio_features
from mmer_jax.features import video
from tfds_builders.common.media import NUM_MELS, PIECE_FRAMES, haar_detector

@dataclasses.dataclass(frozen=True)
class MediaOptions:
  audio: bool = True
  faces: bool = True
  sample_rate: int = 16000          # 0: each file's own rate, as SAMSEMO's torchaudio.load does.
  max_mel_pieces: int = 32
  max_faces: int = 16
  face_fallback: str = video.FALLBACK_CENTRE
  haar_min_neighbors: int = 5


@dataclasses.dataclass
class MediaFeatures:
  features: dict[str, np.ndarray]
  issues: list[str]                 # "reason: detail" strings for the build report
  frames_read: int = 0
  faces_found: int = 0
  fallbacks: int = 0


def audio_pieces(folder: Path | None, options: MediaOptions) -> tuple[np.ndarray, int, str | None]:
  """(mel pieces (P<=max, 128, 32), count before truncation, issue or None)."""
  empty = np.zeros((0, NUM_MELS, PIECE_FRAMES), np.float32)
  path = folder / "audio.wav" if folder is not None else None
  if path is None or not path.is_file():
    return empty, 0, "audio_missing: no audio.wav in the scene folder"
  try:
    rate = options.sample_rate
    if rate == 0:
      import soundfile as sf
      rate = int(sf.info(str(path)).samplerate)
    waveform = audio_features.load_audio(path, rate)
    pieces, count = audio_features.mme2e_mel_pieces(waveform, rate, max_pieces=options.max_mel_pieces)
  except (audio_features.AudioReadError, ValueError, RuntimeError) as e:
    return empty, 0, f"audio_unreadable: {e}"
  truncated = audio_features.wav_truncation(path)  # pieces come from the frames that are there
  return pieces, count, f"audio_truncated: {truncated}" if truncated else None


def face_crops(folder: Path | None, options: MediaOptions, detector=None) -> MediaFeatures:
  """Face crops of the first `max_faces` readable frames; `num_faces` counts all readable frames.

  SAMSEMO runs MTCNN on every frame and then keeps the first 16 crops, with one crop per frame
  (face or fallback), so the count before truncation is the number of frames. Here only the frames
  that are kept are decoded; unreadable frames among them are skipped and not counted.
  """
  size = video.FACE_SIZE
  files = video.frame_files(folder) if folder is not None else []
  issues: list[str] = []
  frames: list[np.ndarray] = []
  unreadable = 0
  for path in files:
    if len(frames) == options.max_faces:
      break
    try:
      frames.append(video.read_image_rgb(path))
    except video.VideoReadError as e:
      unreadable += 1
      issues.append(f"frame_unreadable: {e}")
  num_faces = len(files) - unreadable
  faces = np.zeros((0, size, size, 3), np.uint8)
  found = np.zeros((0,), bool)
  if not frames:
    issues.append("no_frames: no readable image_<k>.jpg in the scene folder")
    num_faces = 0
  else:
    try:
      crops = video.extract_faces(frames, detector or haar_detector(options.haar_min_neighbors),
                                  fallback=options.face_fallback)
      faces, found = crops.faces, crops.face_found
    except ValueError as e:  # SAMSEMO's quirky fallback cannot crop this frame size.
      issues.append(f"face_crop_failed: {e}")
      num_faces = 0
  result = MediaFeatures(
      features={"faces": faces, "num_faces": np.int32(num_faces), "face_found": found},
      issues=issues, frames_read=len(frames), faces_found=int(found.sum()),
      fallbacks=int((~found).sum()))
  if result.fallbacks:
    result.issues.append(f"face_fallback: centre crop for {result.fallbacks} of {len(found)} frames")
  return result


def scene_media(folder: Path | None, options: MediaOptions, detector=None) -> MediaFeatures:
  """All media features of one scene folder (None when the folder does not exist); `detector`: the
  Beam worker's own face detector (default: one per process)."""
  out = MediaFeatures(features={}, issues=[])
  if folder is None:
    out.issues.append("folder_missing: no <files_dir>/<utterance_id>/ folder")
  if options.audio:
    pieces, count, issue = audio_pieces(folder, options)
    out.features.update(mel_pieces=pieces, num_mel_pieces=np.int32(count))
    if issue and folder is not None:
      out.issues.append(issue)
  if options.faces:
    faces = face_crops(folder, options, detector)
    out.features.update(faces.features)
    out.issues.extend(i for i in faces.issues if folder is not None or not i.startswith("no_frames"))
    out.frames_read, out.faces_found, out.fallbacks = faces.frames_read, faces.faces_found, faces.fallbacks
  return out
