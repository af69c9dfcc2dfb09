"""Audio extractors against independent references and known signals."""

import librosa
import numpy as np
import pytest
import soundfile as sf

from mmer_jax.features import audio

SR = 16000
# librosa warns that the lowest HTK bands are empty at n_fft=400; torchaudio has the same zero rows.
pytestmark = pytest.mark.filterwarnings("ignore:Empty filters:UserWarning")


def sine(freq_hz: float, seconds: float, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
  t = np.arange(int(seconds * sr)) / sr
  return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def test_filterbank_matches_librosa_htk_without_norm():
  spec = audio.MelSpec.mme2e(SR)
  ours = audio.mel_filterbank(spec)
  ref = librosa.filters.mel(sr=SR, n_fft=400, n_mels=128, fmin=0.0, fmax=8000.0, htk=True, norm=None)
  assert ours.shape == (128, 201)
  np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_mel_matches_independent_librosa_reference():
  rng = np.random.default_rng(0)
  x = (0.1 * rng.standard_normal(SR + 123)).astype(np.float32)
  ours = audio.mel_spectrogram(x, audio.MelSpec.mme2e(SR))
  # librosa's 'hann' window is periodic (fftbins=True), like torch.hann_window.
  ref = librosa.feature.melspectrogram(y=x.astype(np.float64), sr=SR, n_fft=400, hop_length=200,
                                       win_length=400, window="hann", center=True,
                                       pad_mode="reflect", power=2.0, n_mels=128, htk=True, norm=None)
  assert ours.dtype == np.float32
  assert ours.shape == (128, 1 + x.size // 200) == ref.shape
  np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-7)


def test_sine_energy_peaks_in_the_mel_band_centred_on_its_frequency():
  freq = 1000.0
  mel = audio.mel_spectrogram(sine(freq, 1.0), audio.MelSpec.mme2e(SR))
  # Band centres are the interior points of 130 equally spaced HTK-mel edges over 0..8 kHz.
  top = 2595 * np.log10(1 + 8000 / 700)
  centres_mel = np.linspace(0, top, 130)[1:-1]
  expected = int(np.argmin(np.abs(centres_mel - 2595 * np.log10(1 + freq / 700))))
  peaks = mel[:, 2:-2].argmax(axis=0)  # skip frames touching the reflect-padded edges
  assert np.all(np.abs(peaks - expected) <= 1)
  assert np.bincount(peaks).argmax() == expected
  # Power (not dB): a 0.5-amplitude sine carries roughly (0.5 * sum(window) / 2)^2 in its peak bin.
  assert mel.max() > 100.0 and mel.min() >= 0.0


def test_silence_gives_zero_power():
  mel = audio.mel_spectrogram(np.zeros(3200, np.float32))
  assert mel.shape == (128, 17)
  assert np.all(mel == 0.0)


def test_short_clip_is_zero_extended_before_reflect_padding():
  mel = audio.mel_spectrogram(sine(500, 0.005))  # 80 samples < n_fft // 2
  assert mel.shape == (128, 1)
  assert np.isfinite(mel).all() and mel.max() > 0


@pytest.mark.parametrize("frames, expected_pieces", [(70, 3), (64, 2), (1, 1), (32, 1)])
def test_cut_mel_pieces_counts_and_right_pads(frames, expected_pieces):
  mel = np.arange(128 * frames, dtype=np.float32).reshape(128, frames) + 1.0
  pieces, count = audio.cut_mel_pieces(mel, 32)
  assert count == expected_pieces
  assert pieces.shape == (expected_pieces, 128, 32) and pieces.dtype == np.float32
  rebuilt = pieces.transpose(1, 0, 2).reshape(128, -1)
  np.testing.assert_array_equal(rebuilt[:, :frames], mel)
  assert np.all(rebuilt[:, frames:] == 0.0)


def test_mme2e_pieces_keep_the_count_before_truncation():
  x = sine(300, 2.0)  # 161 frames -> 6 pieces
  pieces, count = audio.mme2e_mel_pieces(x, SR, max_pieces=4)
  assert count == 6
  assert pieces.shape == (4, 128, 32)


def test_log_mel_is_decibels_with_floor_and_top_db():
  mel = np.array([[1.0, 10.0, 0.0, 1e-3]], np.float32)
  np.testing.assert_allclose(audio.log_mel(mel), [[0.0, 10.0, -100.0, -30.0]], atol=1e-5)
  np.testing.assert_allclose(audio.log_mel(mel, top_db=20.0), [[0.0, 10.0, -10.0, -10.0]], atol=1e-5)


def test_load_audio_channel_segment_and_resample(tmp_path):
  left, right = sine(200, 1.0), -0.25 * np.ones(SR, np.float32)
  path = tmp_path / "stereo.wav"
  sf.write(path, np.stack([left, right], axis=1), SR, subtype="PCM_16")
  np.testing.assert_allclose(audio.load_audio(path, channel=0), left, atol=1 / 32768)
  np.testing.assert_allclose(audio.load_audio(path, channel=1), right, atol=1 / 32768)
  np.testing.assert_allclose(audio.load_audio(path), (left + right) / 2, atol=1 / 32768)
  segment = audio.load_audio(path, channel=0, start=0.25, end=0.5)
  assert segment.size == int(SR * 0.5) - int(SR * 0.25)
  np.testing.assert_allclose(segment, left[4000:8000], atol=1 / 32768)
  assert audio.load_audio(path, channel=0, start=-0.3, end=0.1).size == 1600  # negative start clamped
  resampled = audio.load_audio(path, sr=8000, channel=0)
  assert resampled.dtype == np.float32 and abs(resampled.size - 8000) <= 1
  with pytest.raises(audio.AudioReadError, match="channel 2"):
    audio.load_audio(path, channel=2)
  with pytest.raises(audio.AudioReadError, match="Empty segment"):
    audio.load_audio(path, start=0.5, end=0.5)


def test_load_audio_reports_missing_and_corrupt_files(tmp_path):
  with pytest.raises(audio.AudioReadError, match="nope.wav"):
    audio.load_audio(tmp_path / "nope.wav")
  corrupt = tmp_path / "corrupt.wav"
  corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
  with pytest.raises(audio.AudioReadError, match="corrupt.wav"):
    audio.load_audio(corrupt)


def test_compare_lld_shape_hop_and_f0_of_a_sine():
  x = sine(220, 2.0, amplitude=0.3)
  lld = audio.compare_lld(x, SR)
  names = list(audio.opensmile_feature_names("ComParE_2016", "lld"))
  assert lld.shape[1] == 65 == len(names) and lld.dtype == np.float32
  assert abs(lld.shape[0] - 200) <= 6  # 10 ms hop over 2 s
  f0 = lld[:, names.index("F0final_sma")]
  voiced = f0[f0 > 0]
  assert voiced.size > 0.8 * lld.shape[0]
  assert abs(np.median(voiced) - 220.0) < 5.0


def test_egemaps_llds_and_functionals():
  x = sine(220, 1.0, amplitude=0.3)
  lld = audio.egemaps_lld(x, SR)
  functionals = audio.egemaps_functionals(x, SR)
  assert lld.shape[1] == 25 and functionals.shape == (88,)
  names = list(audio.opensmile_feature_names("eGeMAPSv02", "functionals"))
  semitone_mean = functionals[names.index("F0semitoneFrom27.5Hz_sma3nz_amean")]
  assert abs(semitone_mean - 12 * np.log2(220 / 27.5)) < 0.5  # 36 semitones above 27.5 Hz
  with pytest.raises(ValueError, match="Unknown openSMILE feature set"):
    audio.opensmile_features(x, SR, feature_set="ComParE_2013")
