r"""Writes a miniature SAMSEMO release in the exact on-disk layout, with planted bad inputs.

  python -m tfds_builders.samsemo.dummy_data.generate /tmp/samsemo_fixture

Layout (as the Hugging Face release unpacks; `../shared/specs/dataset_formats.md` §3):
  metadata/meta.pkl, metadata/meta_all_en.pkl   dict utt_id -> {'text': str, 'label': [5 ints]}
  splits/{train,valid,test}_split_<LANG>.txt      one id per line, '\n'-terminated
  data/<LANG>/<utt_id>/audio.wav, image_<k>.jpg   16 kHz mono int16 speech, 2 fps frames
  samsemo.tsv                                     UTF-16 with BOM, tab-separated, 32 columns

Nothing is copied from the real release. Ids follow the real pattern `^[0-9a-z]{10}_\d+$`; texts are
written here in each language, with non-ASCII characters. The signal is label-correlated so a model
can learn from it: each emotion adds a voice-like harmonic tone of its own pitch and loudness to
the speech, and tints the face (the face itself is skimage's astronaut, real enough for the Haar
detector). `generate` returns a manifest naming the planted problems so tests can check the report.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import soundfile as sf

from mmer_jax.data import real_lengths
from mmer_jax.datasets.samsemo import EMOTIONS, LANGUAGES, TSV_COLUMNS

SPLIT_SIZES = {"train": 4, "valid": 2, "test": 2}
SAMPLE_RATE = 16000

# Per emotion: fundamental (Hz), loudness, and an RGB tint added to the face.
_VOICE = {"anger": (220.0, 0.45), "happiness": (330.0, 0.30), "sadness": (140.0, 0.12),
          "surprise": (520.0, 0.25), "neutral": (180.0, 0.18)}
_TINT = {"anger": (60, -20, -20), "happiness": (40, 40, -10), "sadness": (-30, -10, 50),
         "surprise": (-10, 50, -10), "neutral": (0, 0, 0)}
_LABEL_CYCLE = ([0, 1, 0, 0, 0], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0], [0, 0, 1, 0, 0],
                [0, 0, 0, 1, 0], [0, 1, 0, 1, 0], [1, 0, 1, 0, 0], [0, 0, 0, 0, 1])

# Short transcripts per language (written for this fixture) and their English meaning.
_TEXTS = {
    "EN": ["We finally did it, this is wonderful!", "The committee will meet on Tuesday.",
           "I can't believe you said \"never\" to me.", "He left and never came back.",
           "Wait, what? You won the prize?", "Thank you all for coming tonight.",
           "Stop lying to everyone in this room.", "Here are the numbers for the last quarter."],
    "DE": ["Das ist großartig, wir haben es geschafft!", "Die Sitzung beginnt um neun Uhr.",
           "Hör endlich auf, mich anzulügen!", "Ich vermisse ihn jeden Tag so sehr.",
           "Wie bitte? Du hast gewonnen?", "Schöne Grüße an die Familie.",
           "Das ärgert mich wirklich maßlos.", "Über die Zahlen sprechen wir später."],
    "ES": ["¡Qué alegría verte otra vez, mañana celebramos!", "La reunión empieza a las nueve.",
           "¡Basta ya, estoy harto de tus mentiras!", "Echo de menos a mi abuela.",
           "¿En serio? ¿Ganaste el concurso?", "Gracias por venir, señoras y señores.",
           "No aguanto más esta situación.", "Aquí están los números del año."],
    "PL": ["Udało się, to wspaniała wiadomość!", "Posiedzenie zaczyna się o dziewiątej.",
           "Dość tego, przestań kłamać!", "Tęsknię za nim każdego dnia.",
           "Naprawdę? Wygrałaś konkurs?", "Dziękuję za przybycie, życzę miłego wieczoru.",
           "Żądam natychmiastowych wyjaśnień.", "Oto liczby za ostatni kwartał."],
    "KO": ["정말 기뻐요, 우리가 해냈어요!", "회의는 아홉 시에 시작합니다.",
           "그만 거짓말해!", "그가 너무 보고 싶어요.",
           "정말요? 상을 받았어요?", "와 주셔서 감사합니다.",
           "이건 정말 화가 나요.", "지난 분기 실적입니다."],
}
_ENGLISH = ["We did it, this is wonderful!", "The meeting starts at nine.", "Stop lying to me!",
            "I miss him every day.", "Really? You won the contest?", "Thank you for coming.",
            "This really makes me angry.", "Here are the numbers for the last quarter."]


def _sized_texts(lang: str, index: int, rng: np.random.Generator) -> tuple[str, str, int]:
  """(transcript, English text, its tokens): the English text's token count drawn from the real
  SAMSEMO EN lengths (real_lengths, spec §7), made by repeating the scene's sentence; the transcript
  in another language gets as many words (§7 measures English only)."""
  tokens = int(real_lengths.SAMSEMO_EN_TOKENS.sample(1, rng)[0])
  sentence = _TEXTS["EN"][index % 8] if lang == "EN" else _ENGLISH[index % 8]
  english = " ".join(real_lengths.words_for_tokens(tokens, sentence.split()))
  if lang == "EN":
    return english, english, tokens
  words = _TEXTS[lang][index % 8].split()
  count = len(english.split())
  return " ".join(words[i % len(words)] for i in range(count)), english, tokens


def _video_id(rng: np.random.Generator) -> str:
  return "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 10))


def speech(labels, seconds: float, rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
  """Syllable-modulated harmonic tones, one voice per active emotion, plus background noise."""
  t = np.arange(int(seconds * rate)) / rate
  wave = rng.normal(0, 0.01, t.size)
  syllables = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 5) * t) ** 2
  for name, on in zip(EMOTIONS, labels):
    if on:
      f0, loud = _VOICE[name]
      f0 *= rng.uniform(0.95, 1.05)
      voice = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3))
      wave += loud * syllables * voice / 1.8
  return np.clip(wave, -1, 1).astype(np.float32)


def face_frame(labels, rng: np.random.Generator, size=(270, 480), face=True) -> np.ndarray:
  """A (H, W, 3) RGB frame: a plain noisy background with a tinted astronaut head pasted in."""
  import skimage.data

  height, width = size
  frame = np.full((height, width, 3), rng.integers(40, 200, 3), np.float64)
  frame += rng.normal(0, 8, frame.shape)
  if face:
    head = skimage.data.astronaut()[20:230, 130:320]  # the face with hair and shoulders
    scale = rng.uniform(0.5, 0.7) * height / 270
    head = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA).astype(np.float64)
    active = [np.array(_TINT[n]) for n, on in zip(EMOTIONS, labels) if on]
    if active:
      head += np.mean(active, axis=0)
    y = rng.integers(0, height - head.shape[0])
    x = rng.integers(0, width - head.shape[1])
    frame[y:y + head.shape[0], x:x + head.shape[1]] = head
  else:
    frame = rng.integers(0, 256, (height, width, 3)).astype(np.float64)
  return np.clip(frame, 0, 255).astype(np.uint8)


def _write_scene(folder: Path, labels, rng, *, seconds: float, frames: int, rate: int = SAMPLE_RATE,
                 frame_size=(270, 480), faces=True) -> None:
  if folder.exists():  # Rewriting a scene with other media: no stale frames may remain.
    shutil.rmtree(folder)
  folder.mkdir(parents=True)
  sf.write(folder / "audio.wav", speech(labels, seconds, rng, rate), rate, subtype="PCM_16")
  for k in range(frames):
    rgb = face_frame(labels, rng, frame_size, face=faces)
    cv2.imwrite(str(folder / f"image_{k}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _clock(seconds: float) -> str:
  minutes, sec = divmod(seconds, 60)
  hours, minutes = divmod(int(minutes), 60)
  return f"{hours:02d}:{minutes:02d}:{sec:05.2f}"


def _tsv_row(utt, lang, text, english, labels, seconds, rng, index) -> dict[str, str]:
  active = [n for n, on in zip(EMOTIONS, labels) if on]
  votes = active or ["other emotions"]
  start = float(rng.integers(0, 600))
  row = dict.fromkeys(TSV_COLUMNS, "")
  row.update({
      "utterance_id": utt, "movie_title": f"Plenary session {index}",
      "movie_link": f"https://commons.wikimedia.org/wiki/File:Session_{index}.webm",
      "source_scene_start": _clock(start), "source_scene_stop": _clock(start + seconds),
      "language": lang, "sex": ("female", "male", "other")[index % 3],
      "age": ("adult", "elderly", "adolescent")[index % 3 if index % 5 else 0],
      "race": ("white", "black", "asian", "hispanic", "other")[index % 5],
      "covered_face": "yes" if index % 7 == 3 else "no", "multiple_faces": "no",
      "emotion_1_annotator_1": votes[0], "emotion_1_annotator_2": votes[0],
      "emotion_1_annotator_3": votes[-1], "emotion_2_annotator_1": votes[1] if len(votes) > 1 else "",
      "aggregated_emotions": "|".join(sorted(active)),
      "annotator_1": "annotator_03", "annotator_2": "annotator_11", "annotator_3": "annotator_17",
      "transcript": text, "translation_en": english if lang != "EN" else "",
      "duration": _clock(seconds), "movie_type": ("speech", "interview", "debate", "vlog")[index % 4],
      "license": "Creative Commons Attribution-ShareAlike 3.0 Unported", "author": "Fixture Author",
      "download_date": "2023-01-04"})
  return row


def generate(root: str | Path, seed: int = 0, *, split_sizes=SPLIT_SIZES, seconds=None,
             frames=(2, 4), frame_size=(270, 480), plant_problems: bool = True) -> dict:
  """Writes the tree under `root`; returns a manifest of splits, labels and planted problems.

  The defaults make the test fixture (8 scenes per language, their English texts' token counts
  drawn from the real SAMSEMO EN lengths and their durations following at the real rate: spec §7,
  mmer_jax/data/real_lengths.py). `seconds=(lo, hi)` draws durations uniformly instead; the
  benchmark asks for longer scenes with more, larger frames and no planted problems
  (`plant_problems=False`).
  """
  root = Path(root)
  rng = np.random.default_rng(seed)
  meta, meta_en, rows = {}, {}, []
  manifest: dict = {"splits": {}, "labels": {}, "planted": {}}
  index = 0
  for lang in LANGUAGES:
    vid = _video_id(rng)
    for split, size in split_sizes.items():
      ids = []
      for _ in range(size):
        utt = f"{vid}_{index + 1}"
        labels = list(_LABEL_CYCLE[index % len(_LABEL_CYCLE)])
        text, english, tokens = _sized_texts(lang, index, rng)
        length = (float(rng.uniform(*seconds)) if seconds else
                  tokens / real_lengths.SAMSEMO_EN_TOKENS_PER_SECOND * float(rng.uniform(0.9, 1.1)))
        meta[utt] = {"text": text, "label": labels}
        meta_en[utt] = {"text": english, "label": labels}
        rows.append(_tsv_row(utt, lang, text, english, labels, length, rng, index))
        _write_scene(root / "data" / lang / utt, labels, rng, seconds=length,
                     frames=int(rng.integers(frames[0], frames[1] + 1)), frame_size=frame_size)
        ids.append(utt)
        index += 1
      manifest["splits"].setdefault(split, {})[lang] = ids
  splits_extra = _plant_problems(root, manifest, meta, meta_en, rows, rng) if plant_problems else {}
  # Scenes in meta.pkl and the tsv but in no split (multi-person scenes in the real release).
  for k in range(3):
    utt = f"{_video_id(rng)}_{k + 1}"
    meta[utt] = meta_en[utt] = {"text": "Unused scene.", "label": [0, 0, 0, 0, 1]}
    rows.append(_tsv_row(utt, "EN", "Unused scene.", "Unused scene.", [0, 0, 0, 0, 1], 2.0, rng, 100 + k))

  (root / "metadata").mkdir(parents=True, exist_ok=True)
  with open(root / "metadata/meta.pkl", "wb") as f:
    pickle.dump(meta, f)
  with open(root / "metadata/meta_all_en.pkl", "wb") as f:
    pickle.dump(meta_en, f)
  (root / "splits").mkdir(exist_ok=True)
  for split, by_lang in manifest["splits"].items():
    for lang, ids in by_lang.items():
      lines = ids + splits_extra.get((split, lang), [])
      body = "".join(f"{utt}\n" for utt in lines)
      if plant_problems and (split, lang) == ("test", "KO"):
        body = body[:-1]  # The last line has no newline (the original `[:-1]` would eat a digit).
        manifest["planted"]["last_line_without_newline"] = [lines[-1]]
      (root / "splits" / f"{split}_split_{lang}.txt").write_text(body, encoding="utf-8")
  pd.DataFrame(rows, columns=list(TSV_COLUMNS)).to_csv(root / "samsemo.tsv", sep="\t", index=False, encoding="utf-16")
  manifest["labels"] = {utt: rec["label"] for utt, rec in meta.items()}
  manifest["english"] = {utt: rec["text"] for utt, rec in meta_en.items()}
  return manifest


def _plant_problems(root: Path, manifest: dict, meta: dict, meta_en: dict, rows: list, rng) -> dict:
  """Bad inputs the builder must survive and report; returns extra split-file lines.

  Needs at least 3 train, 1 valid and 2 test scenes per language.
  """
  splits, planted = manifest["splits"], manifest["planted"]

  def plant(kind: str, utt: str) -> str:
    planted.setdefault(kind, []).append(utt)
    return utt

  (root / "data/EN" / plant("audio_missing", splits["train"]["EN"][1]) / "audio.wav").unlink()
  (root / "data/DE" / plant("audio_unreadable", splits["train"]["DE"][1]) / "audio.wav").write_bytes(b"RIFF\x00garbage")
  cut = root / "data/KO" / plant("audio_truncated", splits["train"]["KO"][1]) / "audio.wav"
  cut.write_bytes(cut.read_bytes()[:-(len(cut.read_bytes()) // 3)])  # header still declares every frame
  for jpg in (root / "data/ES" / plant("no_frames", splits["train"]["ES"][1])).glob("image_*.jpg"):
    jpg.unlink()
  no_face = plant("face_fallback", splits["train"]["PL"][1])
  _write_scene(root / "data/PL" / no_face, meta[no_face]["label"], rng, seconds=1.0, frames=2, faces=False)
  (root / "data/KO" / plant("frame_unreadable", splits["valid"]["KO"][0]) / "image_1.jpg").write_bytes(b"\xff\xd8 not a jpeg")
  shutil.rmtree(root / "data/ES" / plant("folder_missing", splits["test"]["ES"][1]))
  # A 44.1 kHz wav (resampled to 16 kHz by default) and 720p frames (resized to 270x480).
  hd = plant("hd_media", splits["train"]["EN"][2])
  _write_scene(root / "data/EN" / hd, meta[hd]["label"], rng, seconds=1.2, frames=3, rate=44100, frame_size=(720, 1280))
  # An all-zero label (4,371 real scenes have one, though none is in the EN splits).
  zero = plant("all_zero_label", splits["test"]["DE"][0])
  meta[zero]["label"] = meta_en[zero]["label"] = [0, 0, 0, 0, 0]
  # A tsv row missing, a split id absent from meta.pkl and a duplicated split line.
  tsv_gone = plant("tsv_row_missing", splits["train"]["PL"][0])
  rows[:] = [r for r in rows if r["utterance_id"] != tsv_gone]
  return {("valid", "EN"): [plant("not_in_meta", "zzzzzzzzzz_1")],
          ("valid", "DE"): [plant("duplicate", splits["valid"]["DE"][0])]}


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(prog="python -m tfds_builders.samsemo.dummy_data.generate", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("output_dir", help="folder to write the miniature SAMSEMO release into")
  output_dir = parser.parse_args(argv[1:]).output_dir
  manifest = generate(output_dir)
  print(json.dumps(manifest["planted"], indent=1))
  print(f"Wrote a miniature SAMSEMO release to {output_dir}")


if __name__ == "__main__":
  main(sys.argv)
