"""Seed 003's 276 statistics: order, and values on signals whose statistics are known."""

import numpy as np
import pytest

from mmer_jax.features import audio_stats

SR = 16000


def column(stats: np.ndarray, name: str) -> float:
  return float(stats[audio_stats.STAT_NAMES.index(name)])


def block(stats: np.ndarray, prefix: str) -> np.ndarray:
  return stats[[i for i, n in enumerate(audio_stats.STAT_NAMES) if n.rsplit("_", 1)[0] == prefix]]


@pytest.fixture(scope="module")
def a4_stats():
  t = np.arange(SR) / SR
  return audio_stats.audio_stats((0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), SR)


def test_names_follow_the_seed_column_order():
  names = audio_stats.STAT_NAMES
  assert len(names) == 276
  assert names[:9] == ("sig_mean", "sig_std", "rmse_mean", "rmse_std", "silence", "harmonic",
                       "auto_corr_max", "auto_corr_std", "zeroocr")
  assert names[9] == "mfccs_0" and names[49] == "mfccsstd_0" and names[89] == "mfccmax_0"
  assert names[129] == "chroma_0" and names[141] == "mel_0" and names[269] == "contrast_0"
  assert names[-1] == "contrast_6"


def test_sine_statistics_match_closed_forms(a4_stats):
  assert a4_stats.shape == (276,) and a4_stats.dtype == np.float32
  assert column(a4_stats, "sig_mean") == pytest.approx(2 * 0.5 / np.pi, rel=1e-3)
  assert column(a4_stats, "sig_std") == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
  assert column(a4_stats, "zeroocr") == pytest.approx(2 * 440 / SR, rel=0.05)
  assert column(a4_stats, "silence") < 0.05  # steady tone: no frame below 0.4 x mean RMS
  assert int(np.argmax(block(a4_stats, "chroma"))) == 9  # pitch class A (C=0)
  assert np.all(np.isfinite(a4_stats))


def test_half_silent_signal_has_half_silent_frames():
  t = np.arange(2 * SR) / SR
  y = (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
  y[:SR] = 0.0
  stats = audio_stats.audio_stats(y, SR)
  assert column(stats, "silence") == pytest.approx(0.5, abs=0.05)


def test_autocorrelation_statistics_against_a_direct_computation():
  rng = np.random.default_rng(1)
  y = (0.2 * rng.standard_normal(3000)).astype(np.float32)
  level = 0.45 * np.mean(np.abs(y))
  clipped = np.array([s - level if s >= level else (s + level if s <= -level else 0.0) for s in y])
  acf = np.correlate(clipped, clipped, mode="full")[len(y) - 1:]
  stats = audio_stats.audio_stats(y, SR)
  assert column(stats, "auto_corr_max") == pytest.approx(1000 * acf.max() / len(acf), rel=1e-4)
  assert column(stats, "auto_corr_std") == pytest.approx(acf.std(), rel=1e-3)


def test_seed003_segment_keeps_one_extra_sample():
  dialog = np.arange(16000 * 3, dtype=np.float32)
  seg = audio_stats.seed003_segment(dialog, 1.00005, 2.0, SR)
  assert seg[0] == 16000 and seg[-1] == 32000 and seg.size == 16001


def test_empty_waveform_is_rejected():
  with pytest.raises(ValueError, match="non-empty"):
    audio_stats.audio_stats(np.zeros(0, np.float32))
