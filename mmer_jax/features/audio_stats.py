"""Seed 003's 276 utterance-level audio statistics (inherited from Sahu 2019 / Demfier), in its order.

Column order is the one the seed's CSV ends up with after expanding its list columns:
9 scalars (sig_mean, sig_std, rmse_mean, rmse_std, silence, harmonic, auto_corr_max, auto_corr_std,
zeroocr), then mfccs 40 (mean), mfccsstd 40, mfccmax 40, chroma 12, mel 128, contrast 7 = 276.

Every librosa call keeps librosa's defaults as the seed did (n_fft 2048, hop 512, Slaney mel,
magnitude STFT for chroma/contrast), so values match a librosa 0.10/0.11 run of the original script.
The seed's scaling (MinMaxScaler) is NOT applied here: it is a statistic that belongs to the
preprocessor's `fit` on the train split.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

NUM_STATS = 276
_SCALARS = ("sig_mean", "sig_std", "rmse_mean", "rmse_std", "silence", "harmonic",
            "auto_corr_max", "auto_corr_std", "zeroocr")
_VECTORS = (("mfccs", 40), ("mfccsstd", 40), ("mfccmax", 40), ("chroma", 12), ("mel", 128),
            ("contrast", 7))
# Names as the seed's pandas expansion writes them (`add_prefix(col + '_')`).
STAT_NAMES: tuple[str, ...] = _SCALARS + tuple(f"{name}_{i}" for name, n in _VECTORS for i in range(n))
assert len(STAT_NAMES) == NUM_STATS


def seed003_segment(dialog_waveform: np.ndarray, start: float, end: float, sr: int = 16000) -> np.ndarray:
  """Seed 003's utterance cut from the (mono-mixed) dialog wav: `[floor(start*sr) : floor(end*sr) + 1]`.

  The seed loads `dialog/wav/<dialog>.wav` with `librosa.load(sr=16000)`, i.e. BOTH actors' channels
  averaged, and keeps one sample more than the segment. Use it only to reproduce the seed; the
  builder's default computes the statistics on the speaker's own sentence wav.
  """
  return np.asarray(dialog_waveform[math.floor(start * sr):math.floor(end * sr) + 1], dtype=np.float32)


def _center_clip(y: np.ndarray, level: float) -> np.ndarray:
  """Sondhi centre clipping: shrink |y| by `level`, zero inside (-level, level)."""
  return np.where(y >= level, y - level, np.where(y <= -level, y + level, 0.0)).astype(y.dtype)


def audio_stats(waveform: np.ndarray, sr: int = 16000) -> np.ndarray:
  """The 276 statistics of one utterance, float32 in STAT_NAMES order.

  Raises ValueError on an empty waveform. Very short clips are handled by librosa's padding (it warns
  that n_fft exceeds the signal; those warnings are silenced here because they are expected).
  """
  import librosa

  y = np.asarray(waveform, dtype=np.float32)
  if y.ndim != 1 or y.size == 0:
    raise ValueError(f"Expected a non-empty mono waveform, got shape {y.shape}.")
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="n_fft=.*is too large")
    warnings.filterwarnings("ignore", message="Trying to estimate tuning from empty frequency set")
    sig_mean = float(np.mean(np.abs(y)))
    rmse = librosa.feature.rms(y=y + 0.0001)[0]
    silence = float(np.mean(rmse <= 0.4 * np.mean(rmse)))
    harmonic = float(np.mean(librosa.effects.hpss(y)[0]) * 1000)
    auto_corrs = librosa.autocorrelate(_center_clip(y, 0.45 * sig_mean))
    scalars = [sig_mean, float(np.std(y)), float(np.mean(rmse)), float(np.std(rmse)), silence, harmonic,
               1000 * float(np.max(auto_corrs)) / len(auto_corrs), float(np.std(auto_corrs)),
               float(np.mean(librosa.feature.zero_crossing_rate(y)))]
    stft = np.abs(librosa.stft(y))
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40)
    vectors = [mfcc.mean(axis=1), mfcc.std(axis=1), mfcc.max(axis=1),
               librosa.feature.chroma_stft(S=stft, sr=sr).mean(axis=1),
               librosa.feature.melspectrogram(y=y, sr=sr).mean(axis=1),
               librosa.feature.spectral_contrast(S=stft, sr=sr).mean(axis=1)]
  out = np.concatenate([np.asarray(scalars, dtype=np.float64)] + [v.astype(np.float64) for v in vectors])
  return out.astype(np.float32)
