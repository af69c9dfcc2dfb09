r"""Throughput of the CMU-MOSEI SDK alignment (segments/s) on a synthetic fixture of ~1,000 videos.

  python benchmarks/mosei_alignment.py                   # 1,000 videos, in-memory alignment
  python benchmarks/mosei_alignment.py --end_to_end --openface

Three figures:
  1. `csd_aligned` alignment (words <- average of COVAREP/FACET[/OpenFace] frames, then label
     segments) with the vectorised `align` module, on per-video arrays held in memory;
  2. the same on a subset with the loop-per-row SDK restatement (`sdk_reference`), for the speed-up;
  3. with --end_to_end: the builder's example generation from gzip .csd files written to a temp
     folder (h5py reads + alignment + checks, no TFDS writing), on --end_to_end_videos videos.
Videos are 60-180 s long with segments of 12-35 words, close to real CMU-MOSEI (~330 word rows and
~7 segments per video), COVAREP at 100 Hz and FACET at 30 Hz. Synthesis time is not counted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import tqdm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfds_builders.cmu_mosei import align, sdk_reference  # noqa: E402
from tfds_builders.cmu_mosei.dummy_data import generate  # noqa: E402


# Real CMU-MOSEI: ~330 word rows and ~7 labelled segments of ~7.6 s per video (spec §2.2, §6.6).
DURATION = (60.0, 180.0)
WORDS_PER_SEGMENT = (12, 36)


def synth_videos(n: int, modalities, seed: int = 0):
  """Yields (video, arrays) one at a time, so 1,000 long videos never sit in memory together."""
  rng = np.random.default_rng(seed)
  synth = generate.Synthesizer(rng)
  for i, vid in enumerate(generate.make_video_ids(n, rng)):
    video = generate.make_video(vid, i, rng, duration=DURATION, words_per_segment=WORDS_PER_SEGMENT)
    yield video, synth.arrays(video, modalities)


def align_video(arrays, modalities) -> int:
  """Aligns one video the csd_aligned way; returns the number of non-empty label segments."""
  seqs = {m: align.Sequence(arrays[m][1], arrays[m][0]) for m in modalities}
  words = align.align_to_words("glove", seqs)
  label_ft, label_iv = arrays["labels"]
  valid, hits = align.align_to_segments(label_iv, words)
  kept = 0
  for j in np.flatnonzero(valid):
    kept += all(len(h.rows_of(j)[0]) for _, h in hits.values())
  return kept


def reference_video(arrays, modalities) -> int:
  others = {m: (arrays[m][1], arrays[m][0]) for m in modalities if m != "glove"}
  words = sdk_reference.word_level(arrays["glove"][1], arrays["glove"][0], others)
  label_ft, label_iv = arrays["labels"]
  segs = sdk_reference.segment_level(label_iv, words)
  return sum(s is not None and all(len(v) for v in s.values()) for s in segs)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--videos", type=int, default=1000)
  parser.add_argument("--reference_videos", type=int, default=3, help="videos timed with the loop reference")
  parser.add_argument("--openface", action="store_true", help="include OpenFace 713-d (4x the data)")
  parser.add_argument("--end_to_end", action="store_true", help="also time generation from .csd files")
  parser.add_argument("--end_to_end_videos", type=int, default=100, help="videos written to .csd for --end_to_end")
  args = parser.parse_args()
  modalities = ("glove", "covarep", "facet") + (("openface",) if args.openface else ())

  n_seg = n_words = n_frames = kept = 0
  dt = synth_dt = 0.0
  reference_set = []
  t_start = time.perf_counter()
  for video, arrays in tqdm.tqdm(synth_videos(args.videos, modalities), total=args.videos, unit="video"):
    t0 = time.perf_counter()
    kept += align_video(arrays, modalities)
    dt += time.perf_counter() - t0
    n_seg += len(video["segments"])
    n_words += len(video["words"])
    n_frames += len(arrays["covarep"][0])
    if len(reference_set) < args.reference_videos:
      reference_set.append((video, arrays))
  synth_dt = time.perf_counter() - t_start - dt
  print(f"{args.videos} synthetic videos ({', '.join(modalities)}): {n_seg} label segments, {n_words} word rows, "
        f"{n_frames} COVAREP frames (synthesis took {synth_dt:.1f} s, not counted)")
  print(f"vectorised csd_aligned alignment: {dt:.2f} s -> {n_seg / dt:,.0f} segments/s "
        f"({args.videos / dt:,.1f} videos/s; {kept} segments have rows in every modality)")

  sub_seg = sum(len(v["segments"]) for v, _ in reference_set)
  t0 = time.perf_counter()
  ref_kept = sum(reference_video(a, modalities) for _, a in reference_set)
  ref_dt = time.perf_counter() - t0
  vec_kept = sum(align_video(a, modalities) for _, a in reference_set)
  assert ref_kept == vec_kept, (ref_kept, vec_kept)
  print(f"loop-per-row reference on {len(reference_set)} videos: {sub_seg} segments in {ref_dt:.2f} s -> "
        f"{sub_seg / ref_dt:,.1f} segments/s (vectorised: {(n_seg / dt) / (sub_seg / ref_dt):,.0f}x faster)")

  if args.end_to_end:
    end_to_end(args.end_to_end_videos, modalities)


def end_to_end(n: int, modalities) -> None:
  from tfds_builders.cmu_mosei.config import CmuMoseiConfig
  from tfds_builders.cmu_mosei.csd_examples import CsdExamples
  from tfds_builders.cmu_mosei.folds import resolve
  from tfds_builders.cmu_mosei.report import MoseiReport
  from tfds_builders.common import beam_units

  with tempfile.TemporaryDirectory() as tmp:
    t0 = time.perf_counter()
    generate.generate(tmp, num_videos=n, faults=False, duration=DURATION, modalities=modalities,
                      words_per_segment=WORDS_PER_SEGMENT)
    print(f"wrote gzip .csd fixture of {n} videos in {time.perf_counter() - t0:.1f} s")
    cfg = CmuMoseiConfig(name="bench", kind="csd_aligned", modalities=modalities)
    report = MoseiReport("cmu_mosei", "bench")
    source = CsdExamples(tmp, cfg, resolve(None, base_dir=tmp), report)
    t0 = time.perf_counter()
    worker, events = source.worker(), beam_units.ReportEvents()
    worker.setup()  # opens the .csd files, as each Beam worker does once
    count = sum(1 for split in ("train", "valid", "test") for unit in source.units(split) for _ in worker(unit, events))
    dt = time.perf_counter() - t0
    source.close()
    events.replay(report)
    total = count + report.to_dict()["num_skipped"]
    print(f"end to end (h5py read + align + checks): {total} segments ({count} examples) in {dt:.2f} s -> "
          f"{total / dt:,.0f} segments/s")


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  main()
