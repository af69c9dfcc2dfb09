"""Writes a miniature raw CMU-MOSEI release (`Raw/...` of CMU_MOSEI.zip) for the `raw` config.

Per video: `Transcript/Segmented/Combined/<vid>.txt` with `<vid>___<clip>___<start>___<end>___<text>`
lines for labelled AND unlabelled clips (times printed as Python floats, a bare `0` start, a text
containing `_____`, one cp1252 byte and one malformed line), `Audio/Full/WAV_16000/<vid>.wav`
(16 kHz mono int16, a tone whose pitch follows the active segment's dominant emotion) and
`Videos/Full/Combined/<vid>.mp4` (10 fps, 160x120; a real face photo from scikit-image pasted on
alternate half-seconds, so detection succeeds on some frames and falls back on others).
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
FPS = 10
FRAME_W, FRAME_H = 160, 120


def _face_patch() -> np.ndarray:
  from skimage import data  # bundled test image (no download)
  return cv2.resize(data.astronaut()[30:230, 140:320], (80, 80), interpolation=cv2.INTER_AREA)


def _fmt(t: float) -> str:
  return "0" if t == 0 else repr(float(t))


def _transcript_lines(video: dict[str, Any], index: int) -> list[bytes]:
  words = [w.decode() for w in video["words"]]
  lines = []
  wiv = video["word_intervals"]
  entries = [(c, s, e) for c, (s, e) in zip(video["clips"], video["segments"])]
  for k, clip in enumerate(video["unlabelled_clips"][-2:]):
    t0 = max(video["duration"] - 1.0 + 0.4 * k, 0.1)
    entries.append((clip, round(t0, 3), round(t0 + 0.3, 3)))
  for n, (clip, start, end) in enumerate(sorted(entries)):
    inside = [w for w, (a, b) in zip(words, wiv) if a >= start and b <= end and w != "sp"]
    text = " ".join(inside) or "uh"
    if n == 1:
      text += " _____ and then"
    line = f"{video['vid']}___{clip}___{_fmt(start)}___{_fmt(end)}___{text}\n".encode()
    if index == 1 and n == 0:
      line = line.replace(b"\n", b" caf\xe9\n")  # not valid UTF-8: a cp1252 byte
    lines.append(line)
  lines.insert(1, b"WEBVTT stray header line\n")
  return lines


def write(out_dir: str, videos: list[dict[str, Any]], rng: np.random.Generator) -> list[str]:
  root = os.path.join(out_dir, "Raw")
  dirs = {k: os.path.join(root, p) for k, p in
          [("txt", "Transcript/Segmented/Combined"), ("wav", "Audio/Full/WAV_16000"), ("mp4", "Videos/Full/Combined")]}
  for d in dirs.values():
    os.makedirs(d, exist_ok=True)
  face = _face_patch()[..., ::-1]  # RGB -> BGR for OpenCV
  for index, video in enumerate(videos):
    vid = video["vid"]
    with open(os.path.join(dirs["txt"], f"{vid}.txt"), "wb") as f:
      f.writelines(_transcript_lines(video, index))
    t = np.arange(int(video["duration"] * SAMPLE_RATE)) / SAMPLE_RATE
    freq = np.full(len(t), 150.0)
    for (s, e), lab in zip(video["segments"], video["labels"]):
      freq[(t >= s) & (t < e)] = 200.0 + 120.0 * int(np.argmax(lab[1:]))
    wave = 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) + 0.01 * rng.normal(size=len(t))
    sf.write(os.path.join(dirs["wav"], f"{vid}.wav"), (wave * 32767).astype(np.int16), SAMPLE_RATE, subtype="PCM_16")
    writer = cv2.VideoWriter(os.path.join(dirs["mp4"], f"{vid}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS,
                             (FRAME_W, FRAME_H))
    if not writer.isOpened():
      raise RuntimeError("OpenCV cannot write mp4v videos here; the raw fixture needs it.")
    for k in range(int(video["duration"] * FPS)):
      frame = np.full((FRAME_H, FRAME_W, 3), 70 + 10 * (k % 5), np.uint8)
      if int(k / FPS * 2) % 2 == 0:  # a face on alternate half-seconds
        frame[20:100, 40:120] = face
      writer.write(frame)
    writer.release()
  return [v["vid"] for v in videos]


def truncate_wav(out_dir: str, vid: str, keep: float) -> str:
  """Cuts `<vid>.wav` to `keep` of its frames without fixing the header (a half-copied file)."""
  path = os.path.join(out_dir, "Raw", "Audio/Full/WAV_16000", f"{vid}.wav")
  with open(path, "rb") as f:
    data = f.read()
  header = 44  # soundfile's PCM_16 header
  with open(path, "wb") as f:
    f.write(data[:header + int((len(data) - header) * keep) // 2 * 2])
  return vid
