"""Parsers for the text files of `IEMOCAP_full_release` (dataset_formats.md §1), as pure functions.

- `Session{n}/dialog/EmoEvaluation/<dialog>.txt`: one block per turn, a TAB-separated summary line
  `[start - end]\\t<utt>\\t<code>\\t[v, a, d]` then evaluator lines (`C-E2:\\tNeutral;\\t()`,
  `A-E3:\\tval 3; act 2; dom  2;\\t()`).
- `Session{n}/dialog/transcriptions/<dialog>.txt`: `<utt> [%08.4f-%08.4f]: text`, including turns
  without a label (`...XX...` ids) that the join leaves out.
- `Session{n}/sentences/ForcedAlignment/<dialog>/<utt>.wdseg`: Sphinx-3 word segmentation, 10 ms
  frames, one header and one ` Total score:` line around the rows.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from mmer_jax.datasets import iemocap
from mmer_jax.errors import DataError

NUM_SESSIONS = iemocap.NUM_SESSIONS
VOTE_CATEGORIES = iemocap.VOTE_CATEGORIES
WDSEG_FRAME_S = 0.01

_SUMMARY = re.compile(r"^\[\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*\]\t(\S+)\t(\S+)\t\[([^\]]*)\]\s*$")
_EVALUATOR = re.compile(r"^([CA])-([A-Za-z]+\d*):\t?(.*)$")
_ATTRIBUTE = re.compile(r"val\s*(\d+(?:\.\d+)?);\s*act\s*(\d+(?:\.\d+)?);\s*dom\s*(\d+(?:\.\d+)?)")
_TRANSCRIPT = re.compile(r"^(\S+)\s+\[\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*\]:\s?(.*)$")
# A turn id anywhere in a line: names the turn of a summary line too garbled to parse.
_TURN_ID_IN_LINE = re.compile(r"Ses0[1-5][FM]_\w+?_[FM]\d{3}")
UTTERANCE_ID = re.compile(r"^Ses0([1-5])([FM])_(impro|script)\d\d[ab]?(?:_\d[ab]?)?_([FM])\d{3}$")


class ReleaseLayoutError(DataError):
  """The manual_dir does not look like IEMOCAP_full_release; the message says what is missing."""


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """One turn's EmoEvaluation block."""
  utt_id: str
  start: float
  end: float
  code: str
  vad: tuple[float, float, float]
  votes: tuple[tuple[str, tuple[str, ...]], ...]  # (evaluator, categories) for C-* lines
  attributes: tuple[tuple[str, tuple[float, float, float]], ...]  # (evaluator, (v, a, d)) for A-*
  raw: str  # the block's evaluator lines, verbatim

  def vote_counts(self, *, self_evaluation: bool) -> np.ndarray:
    """Counts per VOTE_CATEGORIES over external (`E`) evaluators, or the speaker's self-rating."""
    counts = np.zeros(len(VOTE_CATEGORIES), np.int32)
    for evaluator, categories in self.votes:
      if evaluator.startswith("E") != (not self_evaluation):
        continue
      for category in categories:
        counts[VOTE_CATEGORIES.index(category)] += 1
    return counts


@dataclasses.dataclass(frozen=True)
class ParseProblem:
  """A line the parser could not use (`where` = file:line).

  `lost` is True when a whole turn is dropped (unreadable summary line); otherwise the turn is kept
  and only that evaluator line is affected (`utt_id` names the turn when known).
  """
  where: str
  reason: str
  lost: bool = False
  utt_id: str | None = None


def vote_category(word: str) -> str | None:
  """Maps an annotator's category text (`Neutral state`, `Other:sarcastic`, `anger`) to VOTE_CATEGORIES."""
  head = word.strip().split(":")[0].strip().lower()
  for category in VOTE_CATEGORIES:
    if head.startswith(category.lower()[:3]):  # 3 letters: ang, hap, exc, sad, fru, fea, ... are unique
      return category
  return None


def parse_emo_evaluation(path: str | os.PathLike) -> tuple[list[Evaluation], list[ParseProblem]]:
  """All blocks of one EmoEvaluation file; unusable lines come back as ParseProblems."""
  path = Path(path)
  lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
  evaluations, problems = [], []
  current: dict | None = None

  def flush():
    if current is not None:
      evaluations.append(Evaluation(raw="\n".join(current.pop("raw_lines")),
                                    votes=tuple(current.pop("vote_list")),
                                    attributes=tuple(current.pop("attr_list")), **current))

  in_lost_turn = False  # the evaluator lines of a turn whose summary line was unreadable go with it
  for number, line in enumerate(lines, 1):
    where = f"{path.name}:{number}"
    if not line.strip() or line.startswith("%"):
      continue
    match = _EVALUATOR.match(line)
    # A summary line starts with "[", but a garbled one may not: any other non-evaluator line that
    # names a turn starts a new block, so its votes never land in the previous turn.
    if line.startswith("[") or (not match and _TURN_ID_IN_LINE.search(line)):
      flush()
      current, in_lost_turn = None, True
      summary = _SUMMARY.match(line)
      if not summary:
        named = _TURN_ID_IN_LINE.search(line)
        problems.append(ParseProblem(where, f"malformed summary line {line!r}", lost=True,
                                     utt_id=named.group(0) if named else None))
        continue
      start, end, utt, code, vad = summary.groups()
      try:
        vad_values = tuple(float(v) for v in vad.split(","))
      except ValueError:
        vad_values = ()
      if len(vad_values) != 3:
        problems.append(ParseProblem(where, f"V/A/D field {vad!r} is not three numbers", lost=True, utt_id=utt))
        continue
      current, in_lost_turn = dict(utt_id=utt, start=float(start), end=float(end), code=code, vad=vad_values,
                                   raw_lines=[], vote_list=[], attr_list=[]), False
      continue
    if in_lost_turn and match:
      continue
    if current is None or not match:
      if current is not None:  # garbage inside a kept turn's block: say what it is and whose block
        reason = f"unreadable line in the block of {current['utt_id']} (not a C-/A- evaluator line) {line!r}"
      elif in_lost_turn:
        reason = f"unreadable line in the block of an unreadable turn {line!r}"
      else:
        reason = f"line outside a turn block {line!r}"
      problems.append(ParseProblem(where, reason, utt_id=current["utt_id"] if current else None))
      continue
    current["raw_lines"].append(line)
    kind, evaluator, rest = match.groups()
    value = rest.split("\t")[0]
    if kind == "C":
      categories = []
      for word in filter(None, (w.strip() for w in value.split(";"))):
        category = vote_category(word)
        if category is None:
          problems.append(ParseProblem(where, f"unknown vote category {word!r}, counted as Other",
                                       utt_id=current["utt_id"]))
          category = "Other"
        categories.append(category)
      current["vote_list"].append((evaluator, tuple(categories)))
    else:
      attr = _ATTRIBUTE.search(value)
      if attr:
        current["attr_list"].append((evaluator, tuple(float(x) for x in attr.groups())))
      else:
        problems.append(ParseProblem(where, f"malformed attribute line {line!r}", utt_id=current["utt_id"]))
  flush()
  return evaluations, problems


def session_of(utt_id: str) -> int | None:
  """The session of an utterance id (`Ses03M_impro05a_F000` -> 3); None for an id of another shape."""
  match = UTTERANCE_ID.match(utt_id)
  return int(match.group(1)) if match else None


def parse_transcriptions(path: str | os.PathLike) -> tuple[dict[str, str], int]:
  """{utt_id: text} of one transcription file, and how many unlabelled-turn lines (no `_`, `XX`) it had."""
  texts, unlabelled = {}, 0
  for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
    match = _TRANSCRIPT.match(line.strip())
    if not match:
      continue
    utt, _, _, text = match.groups()
    if "_" not in utt or "XX" in utt:
      unlabelled += 1
      continue
    texts[utt] = text.strip()
  return texts, unlabelled


@dataclasses.dataclass(frozen=True)
class WordAlignment:
  words: tuple[str, ...]    # Sphinx tokens as written: `<s>`, `<sil>`, `HELLO(2)`, `++LAUGHTER++`
  start: np.ndarray         # (N,) float32 seconds from the utterance start
  end: np.ndarray           # (N,) float32, end of the last frame (EFrm + 1) * 10 ms


def parse_wdseg(path: str | os.PathLike) -> WordAlignment:
  """Rows `SFrm EFrm SegAScr Word` between the header and the `Total score` line."""
  words, starts, ends = [], [], []
  for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
    fields = line.split()
    if len(fields) != 4 or not (fields[0].isdigit() and fields[1].isdigit()):
      continue  # header (`SFrm EFrm SegAScr Word`) and ` Total score: N`
    words.append(fields[3])
    starts.append(int(fields[0]) * WDSEG_FRAME_S)
    ends.append((int(fields[1]) + 1) * WDSEG_FRAME_S)
  return WordAlignment(tuple(words), np.asarray(starts, np.float32), np.asarray(ends, np.float32))


# ------------------------------------------------------------------------------------------------
# Layout


def find_release_root(manual_dir: str | os.PathLike) -> Path:
  """manual_dir itself or its `IEMOCAP_full_release/` child, whichever holds Session folders."""
  manual = Path(manual_dir).expanduser()
  for candidate in (manual, manual / "IEMOCAP_full_release"):
    if any((candidate / f"Session{n}" / "dialog").is_dir() for n in range(1, NUM_SESSIONS + 1)):
      return candidate
  raise ReleaseLayoutError(
      f"No Session<n>/dialog folder under {manual} or {manual / 'IEMOCAP_full_release'}. Point "
      "--manual_dir at your unpacked IEMOCAP_full_release.")


def session_dir(root: Path, session: int) -> Path:
  return root / f"Session{session}"


def dialog_ids(root: Path, session: int) -> list[str]:
  folder = session_dir(root, session) / "dialog" / "EmoEvaluation"
  if not folder.is_dir():
    return []
  return sorted(p.stem for p in folder.glob("Ses*.txt"))


def speaker_letter(utt_id: str) -> str:
  """F or M: the letter that starts the last `_` field (`..._F012` -> F)."""
  return utt_id.rsplit("_", 1)[-1][:1]


def speaker_side(utt_id: str) -> str:
  """IEMOCAP's video shows the MoCap actor (letter after `Ses0N`) on the left (MME2E's `use_left`).

  The same actor is channel 0 of the dialog wav (MME2E's audio_L).
  """
  return "left" if utt_id[5] == speaker_letter(utt_id) else "right"


@dataclasses.dataclass(frozen=True)
class Paths:
  """Where one utterance's files live in the release."""
  sentence_wav: str
  dialog_wav: str
  video: str
  wdseg: str

  @classmethod
  def of(cls, root: Path, session: int, dialog: str, utt: str) -> "Paths":
    base = session_dir(root, session)
    return cls(sentence_wav=str(base / "sentences" / "wav" / dialog / f"{utt}.wav"),
               dialog_wav=str(base / "dialog" / "wav" / f"{dialog}.wav"),
               video=str(base / "dialog" / "avi" / "DivX" / f"{dialog}.avi"),
               wdseg=str(base / "sentences" / "ForcedAlignment" / dialog / f"{utt}.wdseg"))


def read_split_lists(split_dir: str | os.PathLike) -> dict[str, list[str]]:
  """MME2E-style `{train,valid,test}_split.txt` (one utterance id per line) from a folder."""
  folder = Path(split_dir).expanduser()
  lists = {}
  for split in ("train", "valid", "test"):
    path = folder / f"{split}_split.txt"
    if not path.is_file():
      raise ReleaseLayoutError(f"split_dir {folder}: {path.name} is missing (expected train/valid/"
                               "test_split.txt with one utterance id per line).")
    lists[split] = [line.strip() for line in path.read_text().splitlines() if line.strip()]
  return lists


def is_known_code(code: str) -> bool:
  return code in iemocap.CODES
