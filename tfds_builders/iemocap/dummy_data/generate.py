r"""Writes a miniature `IEMOCAP_full_release` in the exact on-disk layout, with planted problems.

  python -m tfds_builders.iemocap.dummy_data.generate /tmp/iemocap_fixture

Layout and format details follow `../shared/specs/dataset_formats.md` §1 (nothing is copied from the
real corpus; all content is synthesised here):
- all 5 sessions, 1-2 dialogs each, including the irregular ids `Ses03M_impro05a` and
  `Ses05M_script01_1b` (whose dialog-level MoCap files are named `Ses05M_script01_1`);
- EmoEvaluation: the `% [START_TIME - END_TIME] ...` header, TAB-separated summary lines with 4-decimal
  times and V/A/D, `C-E<n>:` / `C-F1:` category lines and `A-E<n>:` lines with the double space
  before `dom`; every code including `xxx`;
- transcriptions with `%08.4f` times and an unlabelled `...XX...` turn;
- dialog wav: 16 kHz STEREO int16, the MoCap actor on channel 0; sentence wav: 16 kHz MONO cut of
  the speaker's channel; dialog avi: 30 fps DivX, both actors side by side (MoCap actor on the left);
- MoCap rotated/head/hand (165/6/18 values, 2 header lines, 120 fps) at dialog and sentence level,
  with NaN rows; Sphinx `.wdseg` files with `<s>`, `<sil>`, `WORD(2)` variants and `++LAUGHTER++`.

Planted problems (returned in the manifest): a corrupt sentence wav, an unreadable video, a missing
MOCAP_hand file, a missing .wdseg (like the real `Ses03M_impro03_M001`), NaN MoCap rows, a sentence
wav cut to half its frames (header unchanged), a dialog video cut short, and an extra EmoEvaluation
turn whose summary line is garbage (its evaluator lines must not land in the turn before it).

Lengths are real: each transcript's token count is drawn from IEMOCAP's (spec §7,
mmer_jax/data/real_lengths.py; the emotion's words repeated), and its turn lasts as long as the real
speech rate says (mean ~4.5 s, 0.7 s for one word, ~30 s for the longest).

The signal is label-correlated so a model can learn from it: each emotion has its own voice pitch
and loudness, face tint (the face is skimage's astronaut, which the Haar detector finds), words and
head-motion energy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from mmer_jax.data import real_lengths
from mmer_jax.datasets import iemocap

SAMPLE_RATE = 16000
VIDEO_FPS = 30.0
MOCAP_FPS = 120.0
HALF_W, FRAME_H = 180, 240   # each actor's half; the real release is 360x480 per half

# dialog -> list of (speaker letter, code). Speakers alternate like real turns.
DIALOGS: dict[str, list[tuple[str, str]]] = {
    "Ses01F_impro01": [("F", "neu"), ("M", "ang"), ("F", "hap"), ("M", "xxx")],
    "Ses01M_script01_1": [("M", "sad"), ("F", "exc"), ("M", "fru")],
    "Ses02F_impro02": [("F", "ang"), ("F", "sad"), ("M", "neu"), ("M", "sur")],
    "Ses03M_impro03": [("M", "hap"), ("M", "neu"), ("F", "fea")],
    "Ses03M_impro05a": [("F", "exc"), ("M", "ang"), ("F", "oth")],
    "Ses04F_script02_2": [("F", "sad"), ("M", "dis"), ("F", "neu")],
    "Ses05M_script01_1b": [("M", "ang"), ("F", "sad"), ("M", "exc"), ("F", "hap")],
    "Ses05F_impro04": [("F", "neu"), ("M", "fru"), ("F", "xxx")],
}
CORRUPT_WAV = "Ses02F_impro02_F001"
UNREADABLE_VIDEO = "Ses04F_script02_2"
MISSING_MOCAP = ("Ses03M_impro05a", "MOCAP_hand")
MISSING_WDSEG = "Ses03M_impro03_M001"
NAN_MOCAP_DIALOG = "Ses01F_impro01"
TRUNCATED_WAV = "Ses05F_impro04_M000"
TRUNCATED_VIDEO = "Ses01M_script01_1"
GARBLED_TURN = "Ses01M_script01_1_F009"   # not a labelled utterance: its summary line is unreadable

# Per code: voice fundamental (Hz), loudness, face tint (RGB), head-motion energy, V/A/D, words.
_STYLE = {
    "ang": (260.0, 0.45, (70, -25, -25), 3.0, (1.5, 4.0, 4.0), ["I", "HATE", "THIS", "STOP", "IT"]),
    "hap": (330.0, 0.30, (40, 40, -10), 2.0, (4.5, 3.5, 3.0), ["THAT'S", "WONDERFUL", "GREAT", "NEWS"]),
    "exc": (360.0, 0.35, (50, 50, 0), 2.5, (4.0, 4.0, 3.5), ["WOW", "WE", "WON", "IT", "ALL"]),
    "sad": (130.0, 0.10, (-30, -10, 50), 0.5, (1.5, 1.5, 2.0), ["I", "MISS", "HIM", "SO", "MUCH"]),
    "neu": (180.0, 0.18, (0, 0, 0), 1.0, (3.0, 2.5, 3.0), ["THE", "FORM", "IS", "ON", "THE", "DESK"]),
    "fru": (210.0, 0.30, (40, -10, -20), 2.0, (2.0, 3.5, 3.0), ["WHY", "DOESN'T", "IT", "WORK"]),
    "sur": (420.0, 0.30, (-10, 50, -10), 2.5, (3.5, 4.0, 3.0), ["WHAT", "REALLY", "NO", "WAY"]),
    "fea": (300.0, 0.15, (-20, -20, 20), 1.5, (2.0, 4.0, 1.5), ["I'M", "SCARED", "HELP", "ME"]),
    "dis": (160.0, 0.25, (20, 30, -30), 1.5, (2.0, 3.0, 3.5), ["THAT'S", "DISGUSTING", "UGH"]),
    "oth": (240.0, 0.20, (10, 10, 10), 1.0, (3.0, 3.0, 3.0), ["WELL", "WHATEVER", "YOU", "SAY"]),
    "xxx": (200.0, 0.22, (0, 20, 20), 1.2, (2.5, 3.0, 3.0), ["I", "DON'T", "KNOW", "MAYBE"]),
}
_CATEGORY = {"ang": "Anger", "hap": "Happiness", "exc": "Excited", "sad": "Sadness", "neu": "Neutral",
             "fru": "Frustration", "sur": "Surprise", "fea": "Fear", "dis": "Disgust", "oth": "Other"}
_ROTATED_MARKERS = (["CH1", "CH2", "CH3", "FH1", "FH2", "FH3"] + [f"LC{i}" for i in range(1, 9)] +
                    [f"RC{i}" for i in range(1, 9)] +
                    ["LLID", "RLID", "MH", "MNOSE", "LNSTRL", "TNOSE", "RNSTRL"] +
                    [f"LBM{i}" for i in range(4)] + [f"RBM{i}" for i in range(4)] +
                    [f"LBRO{i}" for i in range(1, 5)] + [f"RBRO{i}" for i in range(1, 5)] +
                    [f"Mou{i}" for i in range(1, 9)] + ["LHD", "RHD"])
_ROTATED_AXES = [f"{a}{n:02d}" for n in list(range(1, 54)) + [60, 61] for a in "XYZ"]
_HEAD_NAMES = ["pitch", "roll", "yaw", "tra_x", "tra_y", "tra_z"]
_HAND_MARKERS = ["RTHM", "RTHMB", "RWRA", "LTHM", "LTHMB", "LWRA"]
assert len(_ROTATED_MARKERS) == 55 and len(_ROTATED_AXES) == 165


def _votes(code: str, rng: np.random.Generator) -> list[tuple[str, list[str]]]:
  """Categorical evaluator lines consistent with the majority code (xxx: no majority)."""
  if code == "xxx":
    return [("E1", ["Neutral"]), ("E2", ["Frustration"]), ("E3", ["Sadness", "Anger"])]
  other = rng.choice([c for c in _CATEGORY.values() if c != _CATEGORY[code]])
  return [("E1", [_CATEGORY[code]]), ("E2", [_CATEGORY[code]]), ("E3", [str(other), _CATEGORY[code]])]


def _voice(code: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
  """A voice-like harmonic tone with the emotion's pitch and loudness, plus breath noise."""
  f0, loud = _STYLE[code][0], _STYLE[code][1]
  t = np.arange(int(round(seconds * SAMPLE_RATE))) / SAMPLE_RATE
  vibrato = 1.0 + 0.02 * np.sin(2 * np.pi * 5.0 * t)
  phase = 2 * np.pi * np.cumsum(f0 * vibrato) / SAMPLE_RATE
  tone = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
  envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.05)
  return (loud * 0.5 * tone * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _face(size: int = 100) -> np.ndarray:
  from skimage import data
  return cv2.resize(data.astronaut()[20:260, 120:360], (size, size), interpolation=cv2.INTER_AREA)


def _half(face: np.ndarray, tint) -> np.ndarray:
  canvas = np.full((FRAME_H, HALF_W, 3), 90, np.uint8)
  top, left = (FRAME_H - face.shape[0]) // 2, (HALF_W - face.shape[1]) // 2
  tinted = np.clip(face.astype(np.int16) + np.asarray(tint, np.int16), 0, 255).astype(np.uint8)
  canvas[top:top + face.shape[0], left:left + face.shape[1]] = tinted
  return canvas


def _wdseg(words: list[str], seconds: float, rng: np.random.Generator) -> tuple[str, list[tuple[str, int, int]]]:
  """A Sphinx-3 .wdseg: `<s>`, `<sil>`, words (one with a `(2)` variant), `</s>`, 10 ms frames."""
  tokens = ["<s>", "<sil>"] + [w + ("(2)" if i == 1 else "") for i, w in enumerate(words)] + ["</s>"]
  if rng.random() < 0.5:
    tokens.insert(-1, "++LAUGHTER++")
  total = max(int(seconds * 100) - 1, len(tokens))
  bounds = np.linspace(0, total + 1, len(tokens) + 1).astype(int)
  rows = [(tok, int(bounds[i]), int(bounds[i + 1]) - 1) for i, tok in enumerate(tokens)]
  lines = ["\t SFrm  EFrm    SegAScr Word"]
  lines += [f"{s:5d} {e:5d} {-int(rng.integers(1000, 90000)):10d} {tok}" for tok, s, e in rows]
  lines.append(f" Total score: {-int(rng.integers(100000, 900000))}")
  return "\n".join(lines) + "\n", rows


def _mocap_text(header1: list[str], header2: list[str], times: np.ndarray, values: np.ndarray) -> str:
  lines = [" ".join(["Frame#", "Time"] + header1), " ".join(header2)]
  # One %-format per row (per-value f-strings took most of the generation time at real clip lengths).
  row_format = "%d %.3f" + " %.2f" * np.shape(values)[1]
  lines += [(row_format % (frame + 1, t, *row)).replace("nan", "NaN") for frame, (t, row) in enumerate(zip(times, values))]
  return "\n".join(lines) + "\n"


def _mocap_streams(turns, duration: float, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Dialog-level MoCap at 120 fps; motion energy follows the emotion of the turn being spoken."""
  times = np.arange(1, int(duration * MOCAP_FPS)) / MOCAP_FPS
  energy = np.full(times.shape, 0.2)
  for turn in turns:
    inside = (times > turn["start"]) & (times < turn["end"])
    energy[inside] = _STYLE[turn["code"]][3]
  streams = {}
  for name, width in iemocap.MOCAP_STREAM_WIDTHS.items():
    base = rng.normal(0, 20, width)
    freq = rng.uniform(0.5, 3.0, width)
    streams[name] = base + energy[:, None] * np.sin(2 * np.pi * freq * times[:, None]) \
        + 0.05 * rng.standard_normal((times.size, width))
  return times, streams


def _write_dialog(root: Path, dialog: str, turns_spec, rng: np.random.Generator, face: np.ndarray,
                  manifest: dict) -> None:
  session = int(dialog[4])
  base = root / f"Session{session}"
  mocap_actor = dialog[5]
  # Timeline: turns with gaps; each transcript's length drawn from the real IEMOCAP token lengths
  # (real_lengths, spec §7), its duration following at the real rate (18.8 tokens in ~4.5 s).
  t, turns = 0.7 + rng.uniform(0, 0.3), []
  for k, (speaker, code) in enumerate(turns_spec):
    tokens = int(real_lengths.IEMOCAP_TOKENS.sample(1, rng)[0])
    seconds = float(np.round(tokens / real_lengths.IEMOCAP_TOKENS_PER_SECOND * rng.uniform(0.9, 1.1), 4))
    index = sum(1 for s, _ in turns_spec[:k] if s == speaker)
    turns.append({"id": f"{dialog}_{speaker}{index:03d}", "speaker": speaker, "code": code,
                  "start": round(t, 4), "end": round(t + seconds, 4),
                  "words": real_lengths.words_for_tokens(tokens, _STYLE[code][5], rng)})
    t += seconds + rng.uniform(0.2, 0.5)
  duration = t + 0.5

  # Audio: one channel per actor, MoCap actor first; the other actor leaks in quietly.
  channels = np.zeros((2, int(duration * SAMPLE_RATE)), np.float32)
  channels += 0.003 * rng.standard_normal(channels.shape).astype(np.float32)
  for turn in turns:
    voice = _voice(turn["code"], turn["end"] - turn["start"], rng)
    own = 0 if turn["speaker"] == mocap_actor else 1
    first = int(SAMPLE_RATE * turn["start"])
    channels[own, first:first + voice.size] += voice
    channels[1 - own, first:first + voice.size] += 0.05 * voice
  (base / "dialog" / "wav").mkdir(parents=True, exist_ok=True)
  sf.write(base / "dialog" / "wav" / f"{dialog}.wav", channels.T, SAMPLE_RATE, subtype="PCM_16")
  for turn in turns:
    own = 0 if turn["speaker"] == mocap_actor else 1
    folder = base / "sentences" / "wav" / dialog
    folder.mkdir(parents=True, exist_ok=True)
    cut = channels[own, int(SAMPLE_RATE * turn["start"]):int(SAMPLE_RATE * turn["end"])]
    sf.write(folder / f"{turn['id']}.wav", cut, SAMPLE_RATE, subtype="PCM_16")

  # Video: both actors side by side, the speaking actor's face tinted by the emotion.
  video_dir = base / "dialog" / "avi" / "DivX"
  video_dir.mkdir(parents=True, exist_ok=True)
  writer = cv2.VideoWriter(str(video_dir / f"{dialog}.avi"), cv2.VideoWriter_fourcc(*"DIVX"), VIDEO_FPS,
                           (2 * HALF_W, FRAME_H))
  plain = _half(face, (0, 0, 0))
  styled = {turn["code"]: _half(face, _STYLE[turn["code"]][2]) for turn in turns}
  for frame_index in range(int(duration * VIDEO_FPS)):
    now = frame_index / VIDEO_FPS
    left, right = plain, plain
    for turn in turns:
      if turn["start"] <= now < turn["end"]:
        if turn["speaker"] == mocap_actor:
          left = styled[turn["code"]]
        else:
          right = styled[turn["code"]]
    writer.write(cv2.cvtColor(np.concatenate([left, right], axis=1), cv2.COLOR_RGB2BGR))
  writer.release()

  # EmoEvaluation, transcriptions, ForcedAlignment.
  emo = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
  trans = []
  for turn in turns:
    code = turn["code"]
    vad = tuple(float(v) for v in _STYLE[code][4])
    votes = _votes(code, rng)
    emo.append(f"[{turn['start']:.4f} - {turn['end']:.4f}]\t{turn['id']}\t{code}\t"
               f"[{vad[0]:.4f}, {vad[1]:.4f}, {vad[2]:.4f}]")
    for evaluator, cats in votes:
      emo.append(f"C-{evaluator}:\t{' '.join(c + ';' for c in cats)}\t()")
    self_rating = _CATEGORY.get(code, "Neutral")
    emo.append(f"C-{turn['speaker']}1:\t{self_rating};\t(self)")
    for n, delta in ((1, 0), (2, 1)):
      v, a, d = (int(np.clip(round(x) - delta, 1, 5)) for x in vad)
      emo.append(f"A-E{n}:\tval {v}; act {a}; dom  {d};\t()")
    emo.append("")
    if turn["id"] == f"{dialog}_M000" and GARBLED_TURN.startswith(dialog):
      emo += [f"\ufffd\ufffd9.9O12 -- 1O.5\t{GARBLED_TURN}\tne\ufffd [2.5; 2,5", "C-E1:\tAnger;\t()",
              "C-E2:\tAnger;\t()", "C-F1:\tAnger;\t()", "A-E1:\tval 1; act 5; dom  5;\t()", ""]
    words = turn["words"]
    text = " ".join(w.lower() for w in words).capitalize() + "."
    trans.append(f"{turn['id']} [{turn['start']:08.4f}-{turn['end']:08.4f}]: {text}")
    wdseg_text, rows = _wdseg(words, turn["end"] - turn["start"], rng)
    if turn["id"] != MISSING_WDSEG:
      folder = base / "sentences" / "ForcedAlignment" / dialog
      folder.mkdir(parents=True, exist_ok=True)
      (folder / f"{turn['id']}.wdseg").write_text(wdseg_text)
    manifest["utterances"][turn["id"]] = {
        "dialog": dialog, "session": session, "code": code, "start": turn["start"], "end": turn["end"],
        "vad": list(vad), "text": text, "gender": turn["speaker"],
        "mode": "impro" if "_impro" in dialog else "script",
        "votes": [c for _, cats in votes for c in cats], "self_vote": self_rating,
        "words": [tok for tok, _, _ in rows] if turn["id"] != MISSING_WDSEG else [],
        "word_frames": [[s, e] for _, s, e in rows] if turn["id"] != MISSING_WDSEG else [],
        "side": "left" if turn["speaker"] == mocap_actor else "right"}
  # An unlabelled overlap turn, present in the transcript only.
  xx_time = turns[0]["end"] + 0.05
  trans.insert(1, f"{dialog}_{turns[0]['speaker']}XX0 [{xx_time:08.4f}-{xx_time + 0.3:08.4f}]: [LAUGHTER]")
  for sub, content in (("EmoEvaluation", "\n".join(emo)), ("transcriptions", "\n".join(trans) + "\n")):
    (base / "dialog" / sub).mkdir(parents=True, exist_ok=True)
    (base / "dialog" / sub / f"{dialog}.txt").write_text(content)

  # MoCap, dialog level (named without the `b` for Ses05M_script01_1b) and sentence level.
  times, streams = _mocap_streams(turns, duration, rng)
  if dialog == NAN_MOCAP_DIALOG:
    streams["rotated"][100:130, 30:36] = np.nan  # markers lost for a quarter second
    manifest["nan_mocap_rows"] = [float(times[100]), float(times[129])]
  headers = {"rotated": (_ROTATED_MARKERS, _ROTATED_AXES), "head": (_HEAD_NAMES, _HEAD_NAMES),
             "hand": (_HAND_MARKERS, [f"{a}{n:02d}" for n in range(1, 7) for a in "XYZ"])}
  mocap_name = iemocap.dialog_mocap_name(dialog)
  for stream, (h1, h2) in headers.items():
    folder_name = iemocap.MOCAP_STREAM_DIRS[stream]
    if (dialog, folder_name) == MISSING_MOCAP:
      continue
    folder = base / "dialog" / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{mocap_name}.txt").write_text(_mocap_text(h1, h2, times, streams[stream]))
    for turn in turns:
      keep = (times > turn["start"]) & (times < turn["end"])
      sentence_folder = base / "sentences" / folder_name / dialog
      sentence_folder.mkdir(parents=True, exist_ok=True)
      (sentence_folder / f"{turn['id']}.txt").write_text(
          _mocap_text(h1, h2, times[keep] - turn["start"], streams[stream][keep]))
  manifest["dialog_durations"][dialog] = duration


def generate(root: str | Path, seed: int = 0) -> dict:
  """Writes `<root>/IEMOCAP_full_release` and returns a manifest of its content and planted faults."""
  root = Path(root)
  release = root / "IEMOCAP_full_release"
  if release.exists():
    shutil.rmtree(release)
  release.mkdir(parents=True)
  (release / "README.txt").write_text("Miniature synthetic IEMOCAP_full_release for tests.\n")
  rng = np.random.default_rng(seed)
  face = _face()
  manifest: dict = {"root": str(release), "utterances": {}, "dialog_durations": {},
                    "planted": {"corrupt_wav": CORRUPT_WAV, "unreadable_video": UNREADABLE_VIDEO,
                                "missing_mocap": list(MISSING_MOCAP), "missing_wdseg": MISSING_WDSEG,
                                "nan_mocap_dialog": NAN_MOCAP_DIALOG, "truncated_wav": TRUNCATED_WAV,
                                "truncated_video": TRUNCATED_VIDEO, "garbled_turn": GARBLED_TURN}}
  for dialog, turns in DIALOGS.items():
    _write_dialog(release, dialog, turns, rng, face, manifest)
  # Planted corruptions.
  session = int(CORRUPT_WAV[4])
  (release / f"Session{session}" / "sentences" / "wav" / CORRUPT_WAV[:-5] / f"{CORRUPT_WAV}.wav").write_bytes(
      b"RIFF\x24\x00\x00\x00WAVEfmt junk that is not audio")
  session = int(UNREADABLE_VIDEO[4])
  (release / f"Session{session}" / "dialog" / "avi" / "DivX" / f"{UNREADABLE_VIDEO}.avi").write_bytes(
      b"not a video" * 100)
  # Truncated copies: the headers still declare the full length.
  session = int(TRUNCATED_WAV[4])
  wav = release / f"Session{session}" / "sentences" / "wav" / TRUNCATED_WAV[:-5] / f"{TRUNCATED_WAV}.wav"
  data = wav.read_bytes()
  wav.write_bytes(data[:44 + (len(data) - 44) // 4 * 2])  # 44-byte PCM header, then half the 2-byte frames
  session = int(TRUNCATED_VIDEO[4])
  avi = release / f"Session{session}" / "dialog" / "avi" / "DivX" / f"{TRUNCATED_VIDEO}.avi"
  data = avi.read_bytes()
  avi.write_bytes(data[:int(len(data) * 0.6)])
  return manifest


def write_split_lists(folder: str | Path, manifest: dict) -> dict[str, list[str]]:
  """MME2E-style split lists over the fixture (labelled 6-class utterances, written here)."""
  ids = sorted(u for u, rec in manifest["utterances"].items()
               if rec["code"] in iemocap.SCHEME_CLASSES["mme2e_6class"])
  lists = {"train": ids[0::3] + ids[1::3], "valid": ids[2::6], "test": ids[5::6] + ["Ses09F_impro01_F000"]}
  folder = Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  for split, items in lists.items():
    (folder / f"{split}_split.txt").write_text("".join(i + "\n" for i in items))
  return lists


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(prog="python -m tfds_builders.iemocap.dummy_data.generate", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("out_dir", help="folder to write the miniature IEMOCAP_full_release into")
  manifest = generate(parser.parse_args(argv[1:]).out_dir)
  print(json.dumps({"root": manifest["root"], "utterances": len(manifest["utterances"]),
                    "planted": manifest["planted"]}, indent=1))


if __name__ == "__main__":
  main(sys.argv)
