"""What the builders' media code shares: the stored audio shapes, empty features and the face detector.

A modality that cannot be read is stored empty (0 pieces, 0 faces, an all-zero statistics vector)
so the example keeps its other modalities; every builder stores those empties the same way.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterable

import numpy as np

from mmer_jax.features import audio_stats as stats_lib
from mmer_jax.features import video as video_lib

NUM_MELS = 128      # mel bins of one MME2E mel piece
PIECE_FRAMES = 32   # frames of one mel piece
LLD_DIM = 65        # ComParE_2016 low-level descriptors per frame


@dataclasses.dataclass(frozen=True)
class MediaOptions:
  """The audio and face features a worker computes, and how; each builder adds its own options."""
  mel: bool = False
  waveform: bool = False
  compare_lld: bool = False
  audio_stats: bool = False
  faces: bool = False
  max_mel_pieces: int = 32
  max_faces: int = 16
  frame_interval_ms: float = 500.0
  face_fallback: str = video_lib.FALLBACK_CENTRE
  haar_min_neighbors: int = 5

  @property
  def any_audio(self) -> bool:
    return self.mel or self.waveform or self.compare_lld or self.audio_stats


def empty_audio(options: MediaOptions) -> dict[str, np.ndarray]:
  """The audio features `options` asks for, stored empty."""
  out: dict[str, np.ndarray] = {}
  if options.mel:
    out["mel_pieces"] = np.zeros((0, NUM_MELS, PIECE_FRAMES), np.float32)
    out["num_mel_pieces"] = np.int32(0)
  if options.waveform:
    out["waveform"] = np.zeros((0,), np.float32)
  if options.compare_lld:
    out["compare_lld"] = np.zeros((0, LLD_DIM), np.float32)
  if options.audio_stats:
    out["audio_stats"] = np.zeros((stats_lib.NUM_STATS,), np.float32)
  return out


def feature_spec(groups: Iterable[str]) -> dict[str, Any]:
  """The TFDS features of the stored media `groups` ("mel", "waveform", "compare_lld", "audio_stats",
  "faces"), in the order given."""
  import tensorflow_datasets as tfds  # noqa: PLC0415  (workers and benchmarks import this module without it)
  f = tfds.features
  size = video_lib.FACE_SIZE
  specs = {
      "mel": {"mel_pieces": f.Tensor(shape=(None, NUM_MELS, PIECE_FRAMES), dtype=np.float32),
              "num_mel_pieces": f.Tensor(shape=(), dtype=np.int32)},
      "waveform": {"waveform": f.Tensor(shape=(None,), dtype=np.float32)},
      "compare_lld": {"compare_lld": f.Tensor(shape=(None, LLD_DIM), dtype=np.float32)},
      "audio_stats": {"audio_stats": f.Tensor(shape=(stats_lib.NUM_STATS,), dtype=np.float32)},
      "faces": {"faces": f.Tensor(shape=(None, size, size, 3), dtype=np.uint8),
                "num_faces": f.Tensor(shape=(), dtype=np.int32),
                "face_found": f.Tensor(shape=(None,), dtype=np.bool_)},
  }
  return {key: spec for group in groups for key, spec in specs[group].items()}


def empty_faces() -> dict[str, np.ndarray]:
  size = video_lib.FACE_SIZE
  return {"faces": np.zeros((0, size, size, 3), np.uint8), "num_faces": np.int32(0),
          "face_found": np.zeros((0,), bool)}


@functools.lru_cache(maxsize=4)
def haar_detector(min_neighbors: int) -> video_lib.HaarFaceDetector:
  # One cascade per process: loading the XML costs ~50 ms, far more than detecting on a frame.
  return video_lib.HaarFaceDetector(min_neighbors=min_neighbors)
