"""Audio feature extractors: loading, MME2E mel pieces, log-mel and openSMILE descriptors.

The mel spectrogram reproduces `torchaudio.transforms.MelSpectrogram` with the arguments MME2E and
SAMSEMO pass (only `sample_rate`, `win_length` and `n_fft`), i.e. torchaudio's defaults for the rest:
periodic Hann window, hop = win // 2, centre padding in reflect mode, power 2, 128 HTK mel bands from
0 Hz to Nyquist, no filter normalisation, and NO log compression (the seed CNNs see raw power). It is
written in numpy so builders do not need torch, and is tested against an independent librosa
reference.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Sequence

import numpy as np

DEFAULT_SAMPLE_RATE = 16000


class AudioReadError(ValueError):
  """A file could not be decoded as audio (missing, corrupt, empty or an impossible segment)."""


# --------------------------------------------------------------------------------------------------
# Loading


def load_audio(path: str | os.PathLike,
               sr: int = DEFAULT_SAMPLE_RATE,
               *,
               channel: int | None = None,
               start: float | None = None,
               end: float | None = None) -> np.ndarray:
  """Reads `path` as float32 samples in [-1, 1] at `sr` Hz, mono.

  Args:
    path: any file libsndfile reads (wav, flac, ogg, ...).
    sr: target sample rate; the file is resampled (soxr, through librosa) when it differs.
    channel: which channel to keep of a multi-channel file; None averages all channels (as
      `librosa.load(mono=True)` does). IEMOCAP dialog wavs are stereo with one actor per channel.
    start, end: optional segment in seconds. Sample indices are `int(native_sr * t)`, the slicing
      MME2E and Samarth use to cut utterances from dialog/video wavs; a negative start (CMU-MOSEI has
      some) is clamped to 0.

  Raises:
    AudioReadError: naming the file, when it is missing, unreadable, has no samples in the segment,
      or `channel` does not exist.
  """
  import soundfile as sf  # local: keeps `import mmer_jax.features.audio` cheap.

  path = os.fspath(path)
  try:
    info = sf.info(path)
  except Exception as e:  # libsndfile raises several types (LibsndfileError, RuntimeError, ...)
    raise AudioReadError(f"Cannot read audio file {path!r}: {e}. Check that it exists and is a "
                         "valid wav/flac file (re-extract it from the original release).") from e
  native_sr = int(info.samplerate)
  first = 0 if start is None else max(0, int(native_sr * start))
  last = None if end is None else int(native_sr * end)
  if last is not None and last <= first:
    raise AudioReadError(f"Empty segment [{start}, {end}] s requested from {path!r}.")
  try:
    samples, _ = sf.read(path, start=first, stop=last, dtype="float32", always_2d=True)
  except Exception as e:
    raise AudioReadError(f"Cannot decode audio file {path!r}: {e}. The file is probably "
                         "truncated or corrupt; re-extract it from the original release.") from e
  if samples.shape[0] == 0:
    raise AudioReadError(
        f"No audio samples in {path!r} for segment [{start}, {end}] s "
        f"(file has {info.frames} frames at {native_sr} Hz).")
  if channel is None:
    mono = samples.mean(axis=1)
  elif 0 <= channel < samples.shape[1]:
    mono = samples[:, channel]
  else:
    raise AudioReadError(f"{path!r} has {samples.shape[1]} channel(s); channel {channel} requested.")
  if native_sr != sr:
    import librosa
    mono = librosa.resample(mono, orig_sr=native_sr, target_sr=sr)
  return np.ascontiguousarray(mono, dtype=np.float32)


def wav_truncation(path: str | os.PathLike) -> str | None:
  """Why a RIFF/WAVE file is truncated (its `data` chunk declares more frames than the file holds),
  or None. libsndfile silently reads what is there, so a half-copied wav would otherwise pass.
  Files that are not RIFF/WAVE, or whose header cannot be parsed, give None (`load_audio` judges them)."""
  import struct
  path = os.fspath(path)
  try:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
      if f.read(12)[8:12] != b"WAVE":
        return None
      block_align = None
      while True:
        header = f.read(8)
        if len(header) < 8:
          return None
        chunk, length = struct.unpack("<4sI", header)
        if chunk == b"fmt ":
          block_align = struct.unpack("<HHIIH", f.read(14))[4]
          f.seek(length - 14 + (length & 1), os.SEEK_CUR)
        elif chunk == b"data":
          if not block_align:
            return None
          present = (size - f.tell()) // block_align
          declared = length // block_align
          if present < declared:
            return f"{path!r}: header declares {declared} frames, the file holds {present}"
          return None
        else:
          f.seek(length + (length & 1), os.SEEK_CUR)
  except (OSError, struct.error):
    return None


# --------------------------------------------------------------------------------------------------
# Mel spectrogram (torchaudio-compatible)


@dataclasses.dataclass(frozen=True)
class MelSpec:
  """Parameters of a power mel spectrogram; defaults are torchaudio's `MelSpectrogram` at 16 kHz."""
  sample_rate: int = DEFAULT_SAMPLE_RATE
  n_fft: int = 400
  win_length: int | None = None  # None -> n_fft
  hop_length: int | None = None  # None -> win_length // 2
  n_mels: int = 128
  f_min: float = 0.0
  f_max: float | None = None  # None -> sample_rate / 2
  power: float = 2.0
  center: bool = True
  pad_mode: str = "reflect"

  @classmethod
  def mme2e(cls, sample_rate: int = DEFAULT_SAMPLE_RATE) -> "MelSpec":
    """MME2E / SAMSEMO: `win_length = n_fft = int(sr / 16000 * 400)`, everything else default."""
    n = int(float(sample_rate) / 16000 * 400)
    return cls(sample_rate=sample_rate, n_fft=n, win_length=n)

  @property
  def win(self) -> int:
    return self.n_fft if self.win_length is None else self.win_length

  @property
  def hop(self) -> int:
    return self.win // 2 if self.hop_length is None else self.hop_length


def hz_to_mel_htk(hz: np.ndarray | float) -> np.ndarray:
  return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz_htk(mel: np.ndarray | float) -> np.ndarray:
  return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(spec: MelSpec) -> np.ndarray:
  """Triangular HTK mel filters without area normalisation, shape (n_mels, n_fft // 2 + 1).

  Band edges are equally spaced on the HTK mel scale between f_min and f_max; each filter rises
  linearly from its lower edge to its centre and falls to its upper edge (torchaudio's
  `melscale_fbanks(norm=None, mel_scale="htk")`).
  """
  n_freqs = spec.n_fft // 2 + 1
  f_max = spec.sample_rate / 2 if spec.f_max is None else spec.f_max
  # torchaudio spaces the FFT bins with integer Nyquist (`sample_rate // 2`).
  bin_hz = np.linspace(0.0, spec.sample_rate // 2, n_freqs)
  edges_hz = mel_to_hz_htk(np.linspace(hz_to_mel_htk(spec.f_min), hz_to_mel_htk(f_max), spec.n_mels + 2))
  lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
  rising = (bin_hz[None, :] - lower) / (centre - lower)
  falling = (upper - bin_hz[None, :]) / (upper - centre)
  return np.maximum(0.0, np.minimum(rising, falling))


def _window(spec: MelSpec) -> np.ndarray:
  """Periodic Hann of `win` samples, zero-padded symmetrically to n_fft (torch.stft's rule)."""
  win = spec.win
  if win > spec.n_fft:
    raise ValueError(f"win_length {win} must not exceed n_fft {spec.n_fft}.")
  hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(win) / win)
  left = (spec.n_fft - win) // 2
  return np.pad(hann, (left, spec.n_fft - win - left))


def power_spectrogram(waveform: np.ndarray, spec: MelSpec) -> np.ndarray:
  """|STFT|^power, shape (n_fft // 2 + 1, frames), frames = 1 + len // hop when centred."""
  x = np.asarray(waveform, dtype=np.float64)
  if x.ndim != 1 or x.size == 0:
    raise ValueError(f"Expected a non-empty mono waveform, got shape {x.shape}.")
  num_frames = 1 + x.size // spec.hop if spec.center else None
  if spec.center:
    half = spec.n_fft // 2
    if spec.pad_mode == "reflect" and x.size <= half:
      # torch refuses to reflect-pad a signal shorter than the pad; numpy would wrap around.
      # Extending with zeros first gives the torch result for the zero-extended clip; the frame
      # count below still follows the original length.
      x = np.pad(x, (0, half + 1 - x.size))
    x = np.pad(x, (half, half), mode=spec.pad_mode)
  if x.size < spec.n_fft:
    raise ValueError(f"Waveform of {x.size} samples is shorter than n_fft={spec.n_fft}.")
  frames = np.lib.stride_tricks.sliding_window_view(x, spec.n_fft)[::spec.hop][:num_frames]
  magnitude = np.abs(np.fft.rfft(frames * _window(spec), axis=-1))
  return (magnitude ** spec.power).T


def mel_spectrogram(waveform: np.ndarray, spec: MelSpec = MelSpec()) -> np.ndarray:
  """Power mel spectrogram (no log), float32 of shape (n_mels, frames)."""
  return (mel_filterbank(spec) @ power_spectrogram(waveform, spec)).astype(np.float32)


def log_mel(mel: np.ndarray, *, floor: float = 1e-10, top_db: float | None = None) -> np.ndarray:
  """Power mel -> decibels, 10*log10(max(mel, floor)), optionally clipped to `top_db` below the max.

  Same convention as `torchaudio.transforms.AmplitudeToDB(stype="power")`/`librosa.power_to_db`
  with ref=1. MME2E does not use it; it is the log-mel option for other front ends.
  """
  db = 10.0 * np.log10(np.maximum(np.asarray(mel, dtype=np.float64), floor))
  if top_db is not None:
    db = np.maximum(db, db.max() - top_db)
  return db.astype(np.float32)


def cut_mel_pieces(mel: np.ndarray, piece_frames: int = 32) -> tuple[np.ndarray, int]:
  """Cuts (n_mels, T) into ceil(T / piece_frames) pieces along time, right-zero-padding the last.

  Returns (pieces of shape (P, n_mels, piece_frames) float32, P). This is MME2E's `cutSpecToPieces`
  (stride = piece length, no overlap); at 16 kHz one 32-frame piece covers 0.4 s.
  """
  mel = np.asarray(mel, dtype=np.float32)
  if mel.ndim != 2 or mel.shape[1] == 0:
    raise ValueError(f"Expected a (n_mels, frames) spectrogram with frames > 0, got {mel.shape}.")
  n_mels, frames = mel.shape
  count = -(-frames // piece_frames)
  padded = np.zeros((n_mels, count * piece_frames), dtype=np.float32)
  padded[:, :frames] = mel
  pieces = padded.reshape(n_mels, count, piece_frames).transpose(1, 0, 2)
  return np.ascontiguousarray(pieces), count


def mme2e_mel_pieces(waveform: np.ndarray,
                     sample_rate: int = DEFAULT_SAMPLE_RATE,
                     *,
                     piece_frames: int = 32,
                     max_pieces: int | None = None) -> tuple[np.ndarray, int]:
  """MME2E audio input: power mel pieces (P, 128, 32) and the piece count BEFORE truncation.

  With `max_pieces`, only the first `max_pieces` pieces are returned (SAMSEMO keeps 32) but the
  returned count still says how many there were, as SAMSEMO's `spec_len` does.
  """
  pieces, count = cut_mel_pieces(mel_spectrogram(waveform, MelSpec.mme2e(sample_rate)), piece_frames)
  if max_pieces is not None:
    pieces = pieces[:max_pieces]
  return pieces, count


# --------------------------------------------------------------------------------------------------
# openSMILE

FEATURE_SETS = ("ComParE_2016", "eGeMAPSv02", "GeMAPSv01b")
LEVELS = ("lld", "functionals")


@functools.lru_cache(maxsize=None)
def _smile(feature_set: str, level: str):
  """One configured openSMILE instance per (set, level) and process; building it parses configs."""
  import opensmile
  if feature_set not in FEATURE_SETS:
    raise ValueError(f"Unknown openSMILE feature set {feature_set!r}; choose from {FEATURE_SETS}.")
  if level not in LEVELS:
    raise ValueError(f"Unknown openSMILE level {level!r}; choose from {LEVELS}.")
  feature_level = (opensmile.FeatureLevel.LowLevelDescriptors
                   if level == "lld" else opensmile.FeatureLevel.Functionals)
  return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, feature_set),
                         feature_level=feature_level)


def opensmile_feature_names(feature_set: str = "ComParE_2016", level: str = "lld") -> Sequence[str]:
  return tuple(_smile(feature_set, level).feature_names)


def opensmile_features(waveform: np.ndarray,
                       sample_rate: int = DEFAULT_SAMPLE_RATE,
                       *,
                       feature_set: str = "ComParE_2016",
                       level: str = "lld") -> np.ndarray:
  """openSMILE descriptors of a mono waveform, float32 (frames, D) for LLDs or (D,) for functionals.

  A clip shorter than one analysis window yields (0, D) LLDs rather than an error, so the caller can
  record it as a partial example.
  """
  smile = _smile(feature_set, level)
  x = np.asarray(waveform, dtype=np.float32)
  if x.ndim != 1 or x.size == 0:
    raise ValueError(f"Expected a non-empty mono waveform, got shape {x.shape}.")
  values = smile.process_signal(x, sample_rate).to_numpy(dtype=np.float32)
  values = values.reshape(-1, len(smile.feature_names))
  return values[0] if level == "functionals" else values


def compare_lld(waveform: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
  """ComParE_2016 low-level descriptors, (frames, 65) at a 10 ms hop (seed 002's acoustic input)."""
  return opensmile_features(waveform, sample_rate, feature_set="ComParE_2016", level="lld")


def egemaps_lld(waveform: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
  """eGeMAPSv02 low-level descriptors, (frames, 25) at a 10 ms hop."""
  return opensmile_features(waveform, sample_rate, feature_set="eGeMAPSv02", level="lld")


def egemaps_functionals(waveform: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
  """eGeMAPSv02 utterance functionals, (88,)."""
  return opensmile_features(waveform, sample_rate, feature_set="eGeMAPSv02", level="functionals")
