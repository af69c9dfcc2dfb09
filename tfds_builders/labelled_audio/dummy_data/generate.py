"""Writes a miniature labelled-audio folder: wavs + labels.csv, with planted problems.

  python -m tfds_builders.labelled_audio.dummy_data.generate /tmp/labelled_audio

Clips are 16 kHz tones whose pitch and loudness depend on the emotion, so the 276 statistics carry
the label. Planted rows the builder must skip: a wav that does not exist, an unknown label, an
empty wav file, and a duplicate row.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
# Label spellings as generated-data CSVs write them (seed 003 uses happy/sad/anger/fear).
EMOTIONS = {"happy": (440.0, 0.5), "sad": (180.0, 0.15), "anger": (300.0, 0.9), "fear": (600.0, 0.3)}


def _tone(freq: float, amplitude: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
  t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
  wave = amplitude * np.sin(2 * np.pi * freq * t) * np.hanning(len(t))
  return (wave + rng.normal(0, 0.01, len(t))).astype(np.float32)


def generate(root: str | Path, clips_per_emotion: int = 3, seed: int = 0, audio_dir: str = "") -> dict:
  """Writes the folder; returns {"kept": {file: label}, "skipped": {file: reason}}."""
  import soundfile as sf

  root = Path(root)
  (root / audio_dir).mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  rows, kept = [], {}
  for emotion, (freq, amplitude) in EMOTIONS.items():
    for i in range(clips_per_emotion):
      name = f"{emotion}_{i}.wav"
      sf.write(root / audio_dir / name, _tone(freq, amplitude, rng.uniform(0.4, 0.9), rng), SAMPLE_RATE)
      rows.append({"file": name, "label": emotion, "text": f"{emotion} words number {i}"})
      kept[name] = emotion
  sf.write(root / audio_dir / "empty.wav", np.zeros((0,), np.float32), SAMPLE_RATE)
  sf.write(root / audio_dir / "odd.wav", _tone(250.0, 0.5, 0.5, rng), SAMPLE_RATE)
  rows += [{"file": "missing.wav", "label": "sad", "text": ""},
           {"file": "odd.wav", "label": "bored", "text": ""},
           {"file": "empty.wav", "label": "happy", "text": ""},
           dict(rows[0])]
  with (root / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
    writer = csv.DictWriter(handle, fieldnames=["file", "label", "text"])
    writer.writeheader()
    writer.writerows(rows)
  skipped = {"missing.wav": "unreadable_audio", "odd.wav": "unknown_label", "empty.wav": "unreadable_audio",
             rows[0]["file"]: "listed_twice"}
  return {"kept": kept, "skipped": skipped}


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(prog="python -m tfds_builders.labelled_audio.dummy_data.generate",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("out_dir", nargs="?", default="labelled_audio_dummy", help="folder to write into")
  print(generate(parser.parse_args(argv[1:]).out_dir))


if __name__ == "__main__":
  main(sys.argv)
