"""Stored-feature examples computed on demand from a user's own media (prediction).

`MediaExample` looks like one example of a built dataset: the same feature names (`mel_pieces`,
`faces`, `compare_lld`, `text_tokens`, ...) computed with the same extractors the builders use. It
computes a feature only when a preprocessor reads it, so predicting with a text+audio model never
decodes the video.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any, Callable, Optional

import numpy as np

from mmer_jax.datasets import manifest

# Label fields of manifest datasets (`label_<column>`): prediction has no label, so they read as a
# placeholder.
MANIFEST_LABEL_PREFIX = manifest.LABEL_PREFIX


@dataclasses.dataclass(frozen=True)
class MediaItem:
  """One thing to predict on. Any of audio/video/text may be missing (its modality gets no input)."""

  id: str
  audio: Optional[str] = None   # audio file (wav, flac, ...) or a video file whose audio track is used
  video: Optional[str] = None   # video file, or a folder of frame images
  text: Optional[str] = None    # transcript
  start: Optional[float] = None  # segment of the audio and video files, in seconds (None: whole file)
  end: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class MediaOptions:
  sample_rate: int = 16000
  max_mel_pieces: int = 32          # SAMSEMO/MME2E keep 32 pieces
  frame_interval_ms: int = 500      # MME2E samples faces every 500 ms
  max_faces: int = 16
  face_detector: str = "haar"
  text_checkpoint: Optional[str] = None   # local HF folder for text_cls / text_tokens
  text_max_length: int = 50
  num_labels: int = 0                # zeros for the label features a preprocessor may read


class MediaExample(Mapping):
  """A lazily computed example; each feature is extracted at most once."""

  def __init__(self, item: MediaItem, options: MediaOptions, text_encoder: Any = None):
    self.item, self.options, self._text_encoder = item, options, text_encoder
    self._values: dict[str, Any] = {}
    self._producers: dict[str, Callable[[], dict[str, Any]]] = {}
    for keys, producer in (
        (("id",), lambda: {"id": item.id}),
        (("text",), lambda: {"text": item.text or ""}),
        (("waveform",), self._waveform),
        (("mel_pieces", "num_mel_pieces"), self._mel),
        (("compare_lld",), self._lld),
        (("audio_stats",), self._stats),
        (("faces", "num_faces", "face_found"), self._faces),
        (("text_cls", "text_pooled", "text_tokens", "text_tokens_mask"), self._text_features),
        (("label", "labels", "emotions"), self._dummy_labels),
    ):
      for key in keys:
        self._producers[key] = producer

  def __getitem__(self, key: str) -> Any:
    if key not in self._values:
      if key.startswith(MANIFEST_LABEL_PREFIX) and key not in self._producers:
        return np.int32(0)  # a manifest run's label column (mmer_jax.data.label_schemes): a placeholder
      if key not in self._producers:
        raise KeyError(f"{key!r} cannot be computed from raw media; computable features: "
                       f"{sorted(self._producers)}.")
      self._values.update(self._producers[key]())
    return self._values[key]

  def __iter__(self):
    return iter(self._producers)

  def __len__(self) -> int:
    return len(self._producers)

  # --- producers --------------------------------------------------------------------------------
  def _require(self, attribute: str) -> str:
    path = getattr(self.item, attribute)
    if not path:
      raise ValueError(f"Item {self.item.id!r} has no {attribute}, but the model needs it.")
    return path

  def _waveform(self):
    from mmer_jax.features import audio  # noqa: PLC0415
    return {"waveform": audio.load_audio(self._require("audio"), self.options.sample_rate, start=self.item.start,
                                         end=self.item.end)}

  def _mel(self):
    from mmer_jax.features import audio  # noqa: PLC0415
    pieces, count = audio.mme2e_mel_pieces(self["waveform"], self.options.sample_rate,
                                           max_pieces=self.options.max_mel_pieces)
    return {"mel_pieces": pieces.astype(np.float32), "num_mel_pieces": np.int32(count)}

  def _lld(self):
    from mmer_jax.features import audio  # noqa: PLC0415
    return {"compare_lld": audio.compare_lld(self["waveform"], self.options.sample_rate).astype(np.float32)}

  def _stats(self):
    from mmer_jax.features import audio_stats  # noqa: PLC0415
    return {"audio_stats": audio_stats.audio_stats(self["waveform"], self.options.sample_rate).astype(np.float32)}

  def _faces(self):
    from mmer_jax.features import video  # noqa: PLC0415
    source = self._require("video")
    import os  # noqa: PLC0415
    if os.path.isdir(source):
      files = video.folder_frames(source)
      if not files:
        raise ValueError(f"Item {self.item.id!r}: frame folder {source} holds no image (jpg, png, bmp); "
                         f"give a video file or a folder of frames.")
      frames = [video.read_image_rgb(f) for f in files]
    else:
      frames = video.sample_video_frames(source, interval_ms=self.options.frame_interval_ms,
                                         start_s=self.item.start or 0.0, end_s=self.item.end)
    crops = video.extract_faces(frames, _detector(self.options.face_detector))
    faces = np.asarray(crops.faces[:self.options.max_faces], np.uint8)
    found = np.asarray(crops.face_found[:self.options.max_faces], bool)
    return {"faces": faces, "num_faces": np.int32(len(crops.faces)), "face_found": found}

  def _text_features(self):
    if self._text_encoder is None:
      raise ValueError("The model reads text encoder features: pass a local text checkpoint "
                       "(--predict_text_checkpoint), the same one the training data was built with.")
    features = self._text_encoder.encode([self.item.text or ""])
    return {"text_cls": np.asarray(features.cls[0], np.float32),
            "text_pooled": np.asarray(features.pooled[0], np.float32),
            "text_tokens": np.asarray(features.tokens[0], np.float32),
            "text_tokens_mask": np.asarray(features.mask[0], bool)}

  def _dummy_labels(self):
    # Preprocessors also read the label; prediction has none, so a placeholder of the right shape.
    zeros = np.zeros(max(self.options.num_labels, 1), np.float32)
    return {"label": 0, "labels": zeros, "emotions": zeros}


@functools.lru_cache(maxsize=4)
def _detector(name: str):
  from mmer_jax.features import video  # noqa: PLC0415
  return video.make_detector(name)
