r"""IEMOCAP build throughput (utterances/s) per feature-set config, on the generated fixture.

  python benchmarks/iemocap_build.py [--configs full,mme2e,...] [--beam_pipeline_options ...] [--text_checkpoint DIR]

Each config is built from scratch into a temporary data_dir through `tfds_builders.build.build`
(the README command's code path), so the time includes parsing, feature extraction, loading the
text encoder, Beam's start-up when `--beam_pipeline_options` is given, and TFDS's ArrayRecord writing.
`benchmarks/beam_build.py` compares worker counts. The fixture is tiny (27 utterances of ~1 s), so the
figures are per-utterance costs, not corpus totals: scale by ~10,039 utterances of ~4.5 s each.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

# Runnable from a checkout without `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from mmer_jax.features import audio, audio_stats, video
from tfds_builders import build as build_cli
from tfds_builders.iemocap import iemocap_dataset_builder
from tfds_builders.iemocap.dummy_data import generate


def warm_up() -> None:
  """One-off costs (librosa/numba compilation, openSMILE and Haar set-up) kept out of the timings."""
  x = (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32)
  audio.mme2e_mel_pieces(x)
  audio.compare_lld(x)
  audio_stats.audio_stats(x)
  video.HaarFaceDetector().detect(np.zeros((64, 64, 3), np.uint8))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  names = [c.name for c in iemocap_dataset_builder.BUILDER_CONFIGS]
  parser.add_argument("--configs", default=",".join(names), help=f"comma-separated subset of {names}")
  parser.add_argument("--beam_pipeline_options", default=None, help="e.g. runner=DirectRunner,direct_num_workers=2,"
                      "direct_running_mode=multi_processing (default: in this process, no Beam)")
  parser.add_argument("--text_checkpoint", default=None, help="local HF folder; adds frozen text states")
  args = parser.parse_args()

  with tempfile.TemporaryDirectory() as tmp:
    manifest = generate.generate(Path(tmp) / "manual")
    total = len(manifest["utterances"])
    seconds = sum(u["end"] - u["start"] for u in manifest["utterances"].values())
    print(f"fixture: {total} utterances, {seconds:.1f} s of speech, beam={args.beam_pipeline_options}")
    warm_up()
    print(f"{'config':<12} {'wall s':>8} {'cpu s':>8} {'utt/s':>8} {'audio-s/s':>10}")
    for name in args.configs.split(","):
      options = {}
      if args.text_checkpoint:
        options["text_checkpoint"] = args.text_checkpoint
      begin, cpu_begin = time.perf_counter(), time.process_time()
      # TFDS and tqdm print a lot; keep the table readable.
      with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        build_cli.build(f"iemocap/{name}", str(Path(tmp) / f"data_{name}"), str(Path(tmp) / "manual"), options,
                        beam_options=args.beam_pipeline_options)
      wall, cpu = time.perf_counter() - begin, time.process_time() - cpu_begin
      # cpu s counts this process only (all the work without Beam workers); the machine may be shared.
      print(f"{name:<12} {wall:8.2f} {cpu:8.2f} {total / wall:8.2f} {seconds / wall:10.2f}")


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  main()
