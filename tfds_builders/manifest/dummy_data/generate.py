"""Writes miniature manifests with generated media and planted faults, in three layouts.

  python -m tfds_builders.manifest.dummy_data.generate /tmp/manifest_fixture

- the folder itself: `manifest.csv`, one Windows-1252 CSV (curly quotes as byte 0x92) with a split column `fold`
  (train / dev / test) and the user's own column names; rows are text-only, audio-only,
  audio+text, audio+video+text (a short mp4, some cut with `t_start`/`t_end`) and text + a folder
  of frames. Labels: `emotion` (single), `tags` (multi-label, `;`-separated), `arousal` (a value).
  Planted faults: a missing wav, an unreadable wav, an empty wav, a segment past the end of its
  file, a label not seen in train, a duplicate id, a conversation found in train and test, a
  malformed line and a turn number that is not an integer.
- `jsonl/`: one JSON Lines file per split (`train.jsonl`, `dev.jsonl`, `test.jsonl`), text and
  audio, multi-label `tags` as JSON lists; conversation ids restart at 0 in every file, as MELD's do.
- `nosplit/`: one CSV without a split column, 12 conversations of 3 turns by 6 speakers, for the
  seeded grouped split.

Clips are 16 kHz tones whose pitch and loudness depend on the emotion, and transcripts use words
of the emotion, so a smoke run has something to learn. `generate` returns, per layout, the folder,
the build options, and the ids expected per split, skipped (with the reason) and partial.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
EMOTIONS = {"happy": (440.0, 0.5), "sad": (180.0, 0.15), "angry": (300.0, 0.9), "neutral": (250.0, 0.3)}
WORDS = {"happy": "great lovely wonderful fun", "sad": "miss lonely sorry cry", "angry": "stop hate never shut",
         "neutral": "okay the table is there"}
TAGS = {"happy": "positive;excited", "sad": "negative", "angry": "negative;excited", "neutral": ""}
AROUSAL = {"happy": 0.7, "sad": 0.2, "angry": 0.9, "neutral": 0.4}
CSV_COLUMNS = ["clip_id", "utterance", "emotion", "tags", "arousal", "fold", "speaker", "conversation", "turn",
               "audio_path", "video_path", "t_start", "t_end", "recorded_in"]
CSV_OPTIONS = {"id": "clip_id", "text": "utterance", "label": "emotion,tags,arousal",
               "label_kinds": "tags=multi,arousal=regression", "split": "fold", "dialog": "conversation",
               "order": "turn", "audio": "audio_path", "video": "video_path", "start": "t_start", "end": "t_end"}
JSONL_OPTIONS = {"text": "sentence", "label": "tags", "label_kind": "multi", "dialog": "dialogue",
                 "speaker": "who", "audio": "wav", "id": "{split}_{dialogue}_{turn}", "order": "turn"}
NOSPLIT_OPTIONS = {"text": "utterance", "label": "emotion", "dialog": "conversation", "speaker": "speaker",
                   "split_ratios": (0.5, 0.25, 0.25), "split_seed": 3}
# The build of the csv layout that the config tests train on: every feature the configs read.
FULL_FEATURES = {"mel": True, "waveform": True, "audio_stats": True, "faces": True, "max_faces": 4,
                 "max_mel_pieces": 8}
BUILD_OPTIONS = {**CSV_OPTIONS, **FULL_FEATURES}
VIDEO_FPS = 10
VIDEO_SIZE = (64, 48)  # width, height


def _tone(freq: float, amplitude: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
  t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
  wave = amplitude * np.sin(2 * np.pi * freq * t) * np.hanning(len(t))
  return (wave + rng.normal(0, 0.01, len(t))).astype(np.float32)


def _video(path: Path, emotion: str, seconds: float) -> None:
  import cv2
  width, height = VIDEO_SIZE
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, (width, height))
  shade = {"happy": 200, "sad": 60, "angry": 140, "neutral": 100}[emotion]
  for k in range(int(seconds * VIDEO_FPS)):
    frame = np.full((height, width, 3), shade, np.uint8)
    cv2.circle(frame, (width // 2, height // 2), 10 + k % 5, (255, 255, 255), -1)
    writer.write(frame)
  writer.release()


def _frames(folder: Path, emotion: str, count: int = 3) -> None:
  import cv2
  folder.mkdir(parents=True, exist_ok=True)
  shade = {"happy": 200, "sad": 60, "angry": 140, "neutral": 100}[emotion]
  for k in range(count):
    cv2.imwrite(str(folder / f"image_{k}.jpg"), np.full((48, 64, 3), shade + k, np.uint8))


def _csv_layout(root: Path, rng: np.random.Generator) -> dict:
  import soundfile as sf
  media = root / "media"
  media.mkdir(parents=True, exist_ok=True)
  rows, kept = [], {"train": [], "validation": [], "test": []}
  skipped, partial = {}, {}
  kinds = ("text", "audio", "audio+text", "audio+video+text", "frames+text")
  folds = ["train"] * 5 + ["dev", "test"]   # 60% train; dev/test get every kind too
  n = 0
  for fold_index, fold in enumerate(folds):
    split = {"dev": "validation"}.get(fold, fold)
    for emotion_index, emotion in enumerate(EMOTIONS):
      kind = kinds[(fold_index + emotion_index) % len(kinds)]
      n += 1
      clip = f"c{n:03d}"
      freq, amplitude = EMOTIONS[emotion]
      row = {"clip_id": clip, "utterance": "", "emotion": emotion, "tags": TAGS[emotion],
             "arousal": AROUSAL[emotion], "fold": fold, "speaker": f"s{n % 3}",
             "conversation": f"{fold}_conv{emotion_index // 2}", "turn": emotion_index, "audio_path": "",
             "video_path": "", "t_start": "", "t_end": "", "recorded_in": "lab" if n % 2 else "home"}
      if "text" in kind:
        row["utterance"] = f"I’m {WORDS[emotion]} number {n}"
      if "audio" in kind:
        sf.write(media / f"{clip}.wav", _tone(freq, amplitude, 1.2, rng), SAMPLE_RATE)
        row["audio_path"] = f"media/{clip}.wav"
      if "video" in kind:
        _video(media / f"{clip}.mp4", emotion, 1.5)
        row["video_path"] = f"media/{clip}.mp4"
        row["t_start"], row["t_end"] = "0.2", "1.1"   # cuts audio and video alike
      if "frames" in kind:
        _frames(media / f"{clip}_frames", emotion)
        row["video_path"] = f"media/{clip}_frames"
      rows.append(row)
      kept[split].append(clip)

  def planted(clip: str, fold: str, emotion: str, **cells) -> dict:
    row = {c: "" for c in CSV_COLUMNS}
    row.update(clip_id=clip, emotion=emotion, tags=TAGS.get(emotion, ""), arousal=AROUSAL.get(emotion, 0.5),
               fold=fold, speaker="s9", conversation=f"{fold}_planted_{clip}", turn=0, recorded_in="lab")
    row.update(cells)
    return row

  sf.write(media / "empty.wav", np.zeros((0,), np.float32), SAMPLE_RATE)
  (media / "broken.wav").write_bytes(b"RIFF not really a wav file at all")
  sf.write(media / "short.wav", _tone(300.0, 0.5, 0.5, rng), SAMPLE_RATE)
  rows += [
      planted("f_missing", "train", "sad", audio_path="media/nowhere.wav"),                      # audio only
      planted("f_broken", "train", "happy", audio_path="media/broken.wav", utterance="broken but said"),
      planted("f_empty", "test", "angry", audio_path="media/empty.wav"),
      planted("f_outside", "dev", "neutral", audio_path="media/short.wav", t_start="0.1", t_end="3.0",
              utterance="said past the end"),
      planted("f_unknown", "test", "bored", utterance="so very bored"),
      dict(rows[0]),                                                                              # duplicate id
      planted("f_leak_a", "train", "happy", utterance="leaky one", conversation="shared_conv"),
      planted("f_leak_b", "train", "happy", utterance="leaky two", conversation="shared_conv"),
      planted("f_leak_c", "test", "happy", utterance="leaky three", conversation="shared_conv"),
      planted("f_turn", "train", "sad", utterance="bad turn", turn="second"),
  ]
  skipped.update({"f_missing": "missing_file", "f_empty": "empty_media", "f_unknown": "unknown_label",
                  rows[0]["clip_id"]: "duplicate_id", "f_leak_c": "group_in_two_splits", "f_turn": "bad_value",
                  "manifest:100": "malformed_row"})
  partial.update({"f_broken": "unreadable_media", "f_outside": "segment_outside_file"})
  kept["train"] += ["f_broken", "f_leak_a", "f_leak_b"]
  kept["validation"].append("f_outside")
  path = root / "manifest.csv"
  with path.open("w", newline="", encoding="cp1252") as handle:
    writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
  # A line with too few fields (line 100: after the header and the rows, padded with blank lines).
  with path.open("a", newline="", encoding="cp1252") as handle:
    handle.write("\r\n" * (100 - 2 - len(rows)) + "c999,only three,happy\r\n")
  return {"dir": str(root), "options": dict(CSV_OPTIONS), "kept": kept, "skipped": skipped, "partial": partial}


def _jsonl_layout(root: Path, rng: np.random.Generator) -> dict:
  import soundfile as sf
  root.mkdir(parents=True, exist_ok=True)
  (root / "wavs").mkdir(exist_ok=True)
  kept = {}
  for split, file, dialogs in (("train", "train.jsonl", 4), ("validation", "dev.jsonl", 2), ("test", "test.jsonl", 2)):
    lines, ids = [], []
    for dialogue in range(dialogs):   # ids restart at 0 in every file
      for turn, emotion in enumerate(EMOTIONS):
        record = {"sentence": f"{WORDS[emotion]} {turn}", "tags": [t for t in TAGS[emotion].split(";") if t],
                  "dialogue": dialogue, "turn": turn, "who": f"p{turn % 2}"}
        if turn % 2:
          name = f"{split}_{dialogue}_{turn}.wav"
          sf.write(root / "wavs" / name, _tone(*EMOTIONS[emotion], 0.6, rng), SAMPLE_RATE)
          record["wav"] = f"wavs/{name}"
        lines.append(json.dumps(record))
        ids.append(f"{split}_{dialogue}_{turn}")
    (root / file).write_text("\n".join(lines) + "\n", encoding="utf-8")
    kept[split] = ids
  return {"dir": str(root), "options": dict(JSONL_OPTIONS), "kept": kept, "skipped": {}, "partial": {}}


def _nosplit_layout(root: Path) -> dict:
  root.mkdir(parents=True, exist_ok=True)
  rows = []
  for conv in range(12):
    for turn in range(3):
      emotion = list(EMOTIONS)[(conv + turn) % len(EMOTIONS)]
      rows.append({"utterance": f"{WORDS[emotion]} {conv}-{turn}", "emotion": emotion,
                   "conversation": f"conv{conv}", "speaker": f"spk{conv % 6}"})
  with (root / "utterances.csv").open("w", newline="", encoding="utf-8") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  return {"dir": str(root), "options": dict(NOSPLIT_OPTIONS), "rows": len(rows), "skipped": {}, "partial": {}}


def generate(root: str | Path, seed: int = 0) -> dict:
  """Writes the csv layout in `root` (so `--manual_dir=root` finds manifest.csv), the others in
  root/jsonl and root/nosplit; returns {layout: {dir, options, kept, skipped, partial}}."""
  root = Path(root)
  rng = np.random.default_rng(seed)
  return {"csv": _csv_layout(root, rng), "jsonl": _jsonl_layout(root / "jsonl", rng),
          "nosplit": _nosplit_layout(root / "nosplit")}


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(prog="python -m tfds_builders.manifest.dummy_data.generate",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("out_dir", nargs="?", default="manifest_dummy", help="folder to write into")
  out = generate(parser.parse_args(argv[1:]).out_dir)
  for name, layout in out.items():
    options = " ".join(f"--option {k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                       for k, v in layout["options"].items())
    print(f"{name}: --manual_dir={layout['dir']} {options}")


if __name__ == "__main__":
  main(sys.argv)
