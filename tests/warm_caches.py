"""Fills the on-disk caches in ONE process before pytest-xdist starts its workers.

The CPU LSTM kernel (mmer_jax/kernels) is compiled once per machine; workers racing to build it
would be safe (each renames its own file into place) but would compile it twice.

librosa compiles its numba kernels on first use and writes them into site-packages (`cache=True`).
Two test workers compiling the same kernel at once can leave a corrupt cache entry, after which every
call segfaults (seen in CI: `zero_crossings`). Compiling here first means the workers only read.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmer_jax.features import audio, audio_stats  # noqa: E402
from mmer_jax.kernels import build  # noqa: E402

if __name__ == "__main__":
  signal = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
  audio_stats.audio_stats(signal, 16000)
  audio.log_mel(audio.mel_spectrogram(signal))
  print("numba caches warm; CPU kernels", "built" if build.load() else "unavailable (XLA scan used)")
