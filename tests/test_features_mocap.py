"""MoCap parsing and seed 004's 200-chunk pooling."""

import warnings

import numpy as np
import pytest

from mmer_jax.datasets import iemocap
from mmer_jax.features import mocap


def write_mocap(path, times, values, header="Frame# Time X Y Z"):
  lines = [header, " ".join(f"V{i:02d}" for i in range(values.shape[1]))]
  for frame, (t, row) in enumerate(zip(times, values)):
    lines.append(" ".join([str(frame + 1), f"{t:.4f}"] + ["NaN" if np.isnan(v) else f"{v:.3f}" for v in row]))
  path.write_text("\n".join(lines) + "\n")


def test_chunk_means_equal_numpy_array_split_means():
  rng = np.random.default_rng(0)
  for n in (1000, 201, 200, 57):
    rows = rng.standard_normal((n, 3))
    rows[5, 1] = np.nan
    with warnings.catch_warnings():  # numpy warns about the mean of empty chunks when n < 200
      warnings.simplefilter("ignore", RuntimeWarning)
      expected = np.array([np.mean(c, axis=0) if len(c) else np.full(3, np.nan)
                           for c in np.array_split(rows, 200)])
    np.testing.assert_allclose(mocap.chunk_means(rows), expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_read_segment_and_pool(tmp_path):
  times = np.arange(0, 2.0, 1 / 120)
  values = np.stack([times, 2 * times, np.ones_like(times)], axis=1)
  values[10, 2] = np.nan
  path = tmp_path / "Ses01F_impro01.txt"
  write_mocap(path, times, values)
  track = mocap.read_mocap(path, width=3)
  assert track.values.shape == (240, 3) and np.isnan(track.values[10, 2])
  rows = mocap.segment_rows(track, 0.5, 1.0)
  assert rows.shape[0] == 59  # strict inequalities drop the frames at exactly 0.5 and 1.0
  pooled = mocap.utterance_chunk_means(track, 0.0, 1.9)
  assert pooled.values.shape == (200, 3) and pooled.num_frames == 227
  assert pooled.values.dtype == np.float32 and np.isfinite(pooled.values).all()
  invalid = np.flatnonzero(~pooled.chunk_valid)
  assert invalid.size == 1 and pooled.values[invalid[0], 2] == 0.0  # the NaN marker's chunk
  short = mocap.utterance_chunk_means(track, 0.0, 0.1)  # 11 frames -> 189 empty chunks
  assert short.chunk_valid.sum() == 10 and np.all(short.values[11:] == 0)  # one holds the NaN frame


def test_bad_files_raise_clear_errors(tmp_path):
  with pytest.raises(mocap.MocapReadError, match="does not exist"):
    mocap.read_mocap(tmp_path / "missing.txt")
  path = tmp_path / "wide.txt"
  write_mocap(path, np.arange(3) / 120, np.zeros((3, 4)))
  with pytest.raises(mocap.MocapReadError, match="expected 165"):
    mocap.read_mocap(path, width=165)


def test_ses05m_script01_1b_mocap_naming_quirk(tmp_path):
  assert iemocap.dialog_mocap_name("Ses05M_script01_1b") == "Ses05M_script01_1"
  assert iemocap.dialog_mocap_name("Ses05M_script01_1") == "Ses05M_script01_1"
  path = iemocap.dialog_mocap_path(tmp_path / "Session5", "Ses05M_script01_1b", "hand")
  assert path.endswith("Session5/dialog/MOCAP_hand/Ses05M_script01_1.txt")
