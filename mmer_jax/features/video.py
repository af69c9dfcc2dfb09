"""Video features: frame sampling, speaker halves, face detection and 48x48 face crops.

Shared by the IEMOCAP, CMU-MOSEI and SAMSEMO builders and by prediction on user media. Everything
works on RGB uint8 frames of shape (H, W, 3); OpenCV's BGR order is converted at the I/O boundary.

The face pipeline reproduces SAMSEMO's `prep_video` (MME2E lineage) step by step:
  1. frames taller than 360 px are resized to 270x480 (`samsemo_resize`);
  2. one face per frame is detected (SAMSEMO: facenet MTCNN keeping the largest face; here an
     OpenCV Haar cascade by default, any `FaceDetector` can be plugged in);
  3. the box is widened by facenet's `margin=2` rule and resized to 48x48 (`crop_face`);
  4. frames without a face fall back to a centre crop (`centre_crop_fallback`); SAMSEMO's version
     takes the columns from the *height* offset, reproduced behind `fallback="samsemo"`;
  5. per-channel normalisation with mean (159, 111, 102) / std (37, 33, 32) (`normalize_faces`),
     applied by the input preprocessor, so the stored crops stay raw uint8.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Protocol, Sequence

import numpy as np

# OpenCV (cv2, 17 MB resident) is imported by the functions that decode, resize or detect: training
# imports this module for `normalize_faces` alone and should not hold OpenCV for it (issue 29).

FACE_SIZE = 48
# facenet_pytorch.MTCNN(image_size=48, margin=2) as used by SAMSEMO.
FACE_MARGIN = 2
# SAMSEMO's torchvision Normalize constants, RGB order, on 0..255 pixel values.
FACE_MEAN = np.array([159.0, 111.0, 102.0], dtype=np.float32)
FACE_STD = np.array([37.0, 33.0, 32.0], dtype=np.float32)
# Fallback kinds for frames without a detected face.
FALLBACK_CENTRE = "centre"
FALLBACK_SAMSEMO = "samsemo"


class VideoReadError(RuntimeError):
  """A video or frame file could not be decoded; the message names the file."""


# FFmpeg, inside OpenCV, prints "[mpeg4 @ 0x55e4...] Error at MB: 174" for each damaged frame it
# conceals. The readers here report unreadable and truncated videos themselves (VideoReadError,
# VideoSegment.truncated, and the builders count them), so the command lines turn FFmpeg's own
# messages off unless `--verbose`. OpenCV reads the level when its FFmpeg backend opens a file.
FFMPEG_LOG_LEVEL_ENV = "OPENCV_FFMPEG_LOGLEVEL"
_FFMPEG_QUIET = "-8"  # AV_LOG_QUIET


def show_decoder_messages(show: bool) -> None:
  """FFmpeg's messages on (OpenCV's default: FFmpeg's errors) or off. A level the user put in
  $OPENCV_FFMPEG_LOGLEVEL (other than the quiet one set here, which child processes inherit) stays."""
  if os.environ.get(FFMPEG_LOG_LEVEL_ENV) not in (None, _FFMPEG_QUIET):
    return
  if show:
    os.environ.pop(FFMPEG_LOG_LEVEL_ENV, None)
  else:
    os.environ[FFMPEG_LOG_LEVEL_ENV] = _FFMPEG_QUIET


# ----------------------------------------------------------------------------------------------
# Frame I/O and sampling.


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
  """Reads an image file as RGB uint8 (H, W, 3); raises VideoReadError naming the file."""
  import cv2  # noqa: PLC0415
  frame = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
  if frame is None:
    raise VideoReadError(f"Cannot decode image {os.fspath(path)!r}: missing, empty or not an image.")
  return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


_FRAME_INDEX = re.compile(r"image_(\d+)\.jpg$")


def frame_files(folder: str | os.PathLike) -> list[str]:
  """The `image_<k>.jpg` files of a frame folder, ordered by k (numerically, not as strings).

  SAMSEMO rebuilds the names `image_0..image_{n-1}` from the count of files containing "image",
  which is numeric order; a plain sorted glob would put image_10 before image_2.
  """
  folder = os.fspath(folder)
  if not os.path.isdir(folder):
    return []
  indexed = []
  for name in os.listdir(folder):
    match = _FRAME_INDEX.search(name)
    if match:
      indexed.append((int(match.group(1)), os.path.join(folder, name)))
  return [path for _, path in sorted(indexed)]


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def folder_frames(folder: str | os.PathLike) -> list[str]:
  """A folder of frames as a user may hold them: SAMSEMO's `image_<k>.jpg` in k order if there are
  any, else every image file in natural order (`f2.png` before `f10.png`)."""
  files = frame_files(folder)
  if files or not os.path.isdir(folder):
    return files
  names = [n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES)]
  natural = lambda name: [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]  # noqa: E731
  return [os.path.join(os.fspath(folder), n) for n in sorted(names, key=natural)]


def video_fps(path: str | os.PathLike) -> float:
  """Frames per second reported by the container; raises VideoReadError if it cannot be opened."""
  import cv2  # noqa: PLC0415
  cap = cv2.VideoCapture(os.fspath(path))
  try:
    if not cap.isOpened():
      raise VideoReadError(f"Cannot open video {os.fspath(path)!r}.")
    return float(cap.get(cv2.CAP_PROP_FPS))
  finally:
    cap.release()


@dataclasses.dataclass(frozen=True)
class VideoSegment:
  frames: list[np.ndarray]
  truncated: str | None = None  # why fewer frames were decoded than the container declares


def sample_video_frames(path: str | os.PathLike,
                        interval_ms: float = 500.0,
                        *,
                        start_s: float = 0.0,
                        end_s: float | None = None,
                        max_frames: int | None = None) -> list[np.ndarray]:
  """RGB frames every `interval_ms` between `start_s` and `end_s` (seconds) of a video file.

  Frame indices follow MME2E: the segment covers frames `int(fps*start):int(fps*end)` and the step
  is `int(interval_ms/1000*fps)` (15 at 30 fps and 500 ms), at least 1. Frames are decoded
  sequentially after one seek, because seeking per sample is unreliable in DivX AVI files.
  Raises VideoReadError when the file cannot be opened or has no decodable frame in the range.
  """
  return read_video_segment(path, interval_ms, start_s=start_s, end_s=end_s, max_frames=max_frames).frames


def read_video_segment(path: str | os.PathLike,
                       interval_ms: float = 500.0,
                       *,
                       start_s: float = 0.0,
                       end_s: float | None = None,
                       max_frames: int | None = None) -> VideoSegment:
  """`sample_video_frames`, also saying whether decoding stopped short: the stream ended (or a
  frame failed to decode) inside the segment before the frame count the container declares."""
  import cv2  # noqa: PLC0415
  path = os.fspath(path)
  cap = cv2.VideoCapture(path)
  stopped_at = None
  try:
    if not cap.isOpened():
      raise VideoReadError(f"Cannot open video {path!r}: missing file or unsupported codec.")
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    if not fps > 0:
      raise VideoReadError(f"Video {path!r} reports fps={fps}; cannot map seconds to frames.")
    declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    first = int(fps * max(start_s, 0.0))
    # Without end_s, read to the end of the stream: header frame counts are approximate or 0.
    last = int(fps * end_s) if end_s is not None else None
    step = max(int(interval_ms / 1000.0 * fps), 1)
    if first > 0:
      cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    frames: list[np.ndarray] = []
    index = first
    while last is None or index < last:
      if not cap.grab():
        stopped_at = index
        break
      if (index - first) % step == 0:
        ok, frame = cap.retrieve()
        if not ok:
          stopped_at = index
          break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        if max_frames is not None and len(frames) >= max_frames:
          break
      index += 1
  finally:
    cap.release()
  if not frames:
    raise VideoReadError(
        f"No decodable frame in {path!r} between {start_s:.3f}s and {end_s}s (fps {fps:.2f}).")
  truncated = None
  # One frame of slack: containers round their counts; a segment past the declared end is not a fault.
  needed = declared if last is None else min(last, declared)
  if stopped_at is not None and declared > 0 and stopped_at < needed - 1:
    truncated = (f"{path!r}: decoding stopped at frame {stopped_at} of {declared} declared "
                 f"(segment needs frames {first}-{needed - 1})")
  return VideoSegment(frames, truncated)


# ----------------------------------------------------------------------------------------------
# Frame geometry.


def speaker_half(frame: np.ndarray, side: str) -> np.ndarray:
  """The left or right half of IEMOCAP's side-by-side dyadic frame (split at width // 2, as MME2E)."""
  half = frame.shape[1] // 2
  if side == "left":
    return frame[:, :half]
  if side == "right":
    return frame[:, half:]
  raise ValueError(f"side must be 'left' or 'right', got {side!r}.")


def centre_crop(frame: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
  """A centred (h, w) crop; dimensions smaller than the crop are kept whole (no padding)."""
  height, width = (size, size) if isinstance(size, int) else size
  top = max((frame.shape[0] - height) // 2, 0)
  left = max((frame.shape[1] - width) // 2, 0)
  return frame[top:top + height, left:left + width]


def samsemo_resize(frame: np.ndarray) -> np.ndarray:
  """SAMSEMO resizes frames taller than 360 px to exactly 270x480 (aspect ratio not kept)."""
  import cv2  # noqa: PLC0415
  if frame.shape[0] > 360:
    # INTER_AREA anti-aliases like torchvision's Resize on PIL images.
    return cv2.resize(frame, (480, 270), interpolation=cv2.INTER_AREA)
  return frame


# ----------------------------------------------------------------------------------------------
# Face detection.

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels, x1/y1 exclusive.


class FaceDetector(Protocol):
  """Returns candidate face boxes of an RGB uint8 frame, best first (SAMSEMO keeps the first)."""

  def detect(self, frame: np.ndarray) -> list[Box]:
    ...


@dataclasses.dataclass
class HaarFaceDetector:
  """OpenCV's frontal-face Haar cascade; boxes sorted largest first like MTCNN(select_largest=True)."""

  cascade: str = "haarcascade_frontalface_default.xml"
  scale_factor: float = 1.1
  min_neighbors: int = 5
  min_size: int = 20  # MTCNN's default min_face_size.

  def __post_init__(self):
    import cv2  # noqa: PLC0415
    path = self.cascade if os.path.isabs(self.cascade) else os.path.join(cv2.data.haarcascades, self.cascade)
    self._classifier = cv2.CascadeClassifier(path)
    if self._classifier.empty():
      raise FileNotFoundError(
          f"Haar cascade {path!r} could not be loaded; opencv-python-headless 4.x ships it "
          "(5.x removed the cascades), see requirements.txt.")

  def detect(self, frame: np.ndarray) -> list[Box]:
    import cv2  # noqa: PLC0415
    gray = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    found = self._classifier.detectMultiScale(
        gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
        minSize=(self.min_size, self.min_size))
    boxes = [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in found]
    return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)


# Detectors selectable by name from builder configs. An MTCNN port (the `mtcnn` PyPI package ships
# its weights as numpy arrays) would register here as "mtcnn".
DETECTORS = {"haar": HaarFaceDetector}


def make_detector(name: str = "haar", **kwargs) -> FaceDetector:
  """A face detector by name; unknown names list the known ones."""
  if name not in DETECTORS:
    raise ValueError(f"Unknown face detector {name!r}; known: {sorted(DETECTORS)}.")
  return DETECTORS[name](**kwargs)


# ----------------------------------------------------------------------------------------------
# Crops.


def crop_face(frame: np.ndarray, box: Box, size: int = FACE_SIZE, margin: float = FACE_MARGIN) -> np.ndarray:
  """Crops `box` widened by facenet's margin rule and resizes it to (size, size, 3) uint8.

  facenet_pytorch expresses `margin` in pixels of the OUTPUT crop, so the box grows by
  margin * box_side / (size - margin) in total, half on each side, clipped to the frame, then the
  crop is resized with area interpolation.
  """
  import cv2  # noqa: PLC0415
  x0, y0, x1, y1 = box
  grow_x = margin * (x1 - x0) / (size - margin)
  grow_y = margin * (y1 - y0) / (size - margin)
  height, width = frame.shape[:2]
  left = int(max(x0 - grow_x / 2, 0))
  top = int(max(y0 - grow_y / 2, 0))
  right = int(min(x1 + grow_x / 2, width))
  bottom = int(min(y1 + grow_y / 2, height))
  if right <= left or bottom <= top:
    raise ValueError(f"Face box {box} lies outside the {width}x{height} frame.")
  patch = frame[top:bottom, left:right]
  return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA).astype(np.uint8)


def centre_crop_fallback(frame: np.ndarray, size: int = FACE_SIZE, *, kind: str = FALLBACK_CENTRE) -> np.ndarray:
  """The (size, size, 3) patch used when no face is detected.

  kind="centre" (default): the patch at the frame's centre, zero-padded if the frame is smaller.
  kind="samsemo": SAMSEMO's `crop_img_center`, rows `off:off+size` and columns
  `off-size//2:off+size//2` with `off=(H-size)//2` taken from the HEIGHT for both axes, so on a
  270x480 frame the patch sits left of centre (columns 87..134). If that slice is not size x size
  (frames narrower than tall, or H < 1.5*size, where the start goes negative), SAMSEMO's stack
  would fail; we raise ValueError so the caller records it instead of storing a malformed crop.
  """
  height, width = frame.shape[:2]
  if kind == FALLBACK_SAMSEMO:
    off = (height - size) // 2
    patch = frame[off:off + size, off - size // 2:off + size // 2]
    if patch.shape[:2] != (size, size):
      raise ValueError(
          f"SAMSEMO centre crop of a {width}x{height} frame has shape {patch.shape[:2]}, not "
          f"({size}, {size}); use the default fallback='centre' for such frames.")
    return np.ascontiguousarray(patch, dtype=np.uint8)
  if kind != FALLBACK_CENTRE:
    raise ValueError(f"fallback must be {FALLBACK_CENTRE!r} or {FALLBACK_SAMSEMO!r}, got {kind!r}.")
  out = np.zeros((size, size, 3), dtype=np.uint8)
  patch = centre_crop(frame, size)
  top = (size - patch.shape[0]) // 2
  left = (size - patch.shape[1]) // 2
  out[top:top + patch.shape[0], left:left + patch.shape[1]] = patch
  return out


@dataclasses.dataclass
class FaceCrops:
  """Face crops of a frame sequence: raw RGB uint8 crops and whether each one is a detected face."""

  faces: np.ndarray        # (F, size, size, 3) uint8
  face_found: np.ndarray   # (F,) bool; False = centre-crop fallback

  @property
  def num_fallbacks(self) -> int:
    return int((~self.face_found).sum())


def extract_faces(frames: Sequence[np.ndarray],
                  detector: FaceDetector,
                  *,
                  size: int = FACE_SIZE,
                  margin: float = FACE_MARGIN,
                  fallback: str = FALLBACK_CENTRE,
                  resize_tall: bool = True) -> FaceCrops:
  """One crop per frame: the largest detected face, else the centre-crop fallback.

  `resize_tall` applies SAMSEMO's 270x480 resize to frames taller than 360 px before detection,
  which also fixes the scale of the fallback patch.
  """
  faces = np.zeros((len(frames), size, size, 3), dtype=np.uint8)
  found = np.zeros((len(frames),), dtype=bool)
  for i, frame in enumerate(frames):
    if frame.ndim != 3 or frame.shape[2] != 3:
      raise ValueError(f"Frame {i} has shape {frame.shape}; expected RGB (H, W, 3).")
    if resize_tall:
      frame = samsemo_resize(frame)
    boxes = detector.detect(frame)
    if boxes:
      faces[i] = crop_face(frame, boxes[0], size, margin)
      found[i] = True
    else:
      faces[i] = centre_crop_fallback(frame, size, kind=fallback)
  return FaceCrops(faces=faces, face_found=found)


def normalize_faces(faces: np.ndarray) -> np.ndarray:
  """SAMSEMO's per-channel normalisation of RGB 0..255 crops (..., H, W, 3) -> float32."""
  faces = np.asarray(faces, dtype=np.float32)
  if faces.shape[-1] != 3:
    raise ValueError(f"normalize_faces expects channel-last RGB crops, got shape {faces.shape}.")
  return (faces - FACE_MEAN) / FACE_STD
