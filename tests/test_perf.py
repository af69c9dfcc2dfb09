"""mmer_jax.perf: the peak cache, its key, the env override and the clamped share (no measuring)."""

import json

import pytest

from mmer_jax import perf


@pytest.fixture
def cache(tmp_path, monkeypatch):
  path = tmp_path / "peak.json"
  monkeypatch.setenv(perf.ENV_CACHE, str(path))
  monkeypatch.delenv(perf.ENV_PEAK, raising=False)
  return path


def test_env_override_wins_without_measuring(cache, monkeypatch):
  monkeypatch.setenv(perf.ENV_PEAK, "4.5e11")
  monkeypatch.setattr(perf, "measure_matmul_peak", lambda *a, **k: pytest.fail("measured despite the override"))
  assert perf.measured_peak_flops() == 4.5e11
  assert not cache.exists()


def test_env_override_rejects_nonsense(cache, monkeypatch):
  monkeypatch.setenv(perf.ENV_PEAK, "-1")
  with pytest.raises(ValueError, match=perf.ENV_PEAK):
    perf.measured_peak_flops()


def test_measures_once_per_host_then_reads_the_cache(cache, monkeypatch):
  calls = []
  monkeypatch.setattr(perf, "measure_matmul_peak", lambda platform=None: calls.append(platform) or 3.0e11)
  assert perf.measured_peak_flops() == 3.0e11
  assert perf.measured_peak_flops() == 3.0e11
  assert len(calls) == 1
  stored = json.loads(cache.read_text())
  assert list(stored) == [perf.host_key()] and stored[perf.host_key()]["flops"] == 3.0e11
  perf.measured_peak_flops(refresh=True)
  assert len(calls) == 2


def test_refresh_keeps_the_highest_peak_seen(cache, monkeypatch):
  figures = iter([3.0e11, 1.0e11, 4.0e11])  # the second measurement ran under load
  monkeypatch.setattr(perf, "measure_matmul_peak", lambda platform=None: next(figures))
  assert perf.measured_peak_flops() == 3.0e11
  assert perf.measured_peak_flops(refresh=True) == 3.0e11
  assert perf.measured_peak_flops(refresh=True) == 4.0e11
  assert json.loads(cache.read_text())[perf.host_key()]["flops"] == 4.0e11


def test_cache_is_keyed_per_cpu_model(cache, monkeypatch):
  monkeypatch.setattr(perf, "measure_matmul_peak", lambda platform=None: 1.0e11)
  cache.write_text(json.dumps({"cpu|Some Other CPU|2 cores": {"flops": 9.9e12}}))
  assert perf.measured_peak_flops() == 1.0e11  # another model's figure is not reused
  assert set(json.loads(cache.read_text())) == {"cpu|Some Other CPU|2 cores", perf.host_key()}


def test_corrupt_cache_is_remeasured(cache, monkeypatch):
  cache.write_text("{not json")
  monkeypatch.setattr(perf, "measure_matmul_peak", lambda platform=None: 2.0e11)
  assert perf.measured_peak_flops() == 2.0e11


def test_host_key_and_label_name_the_cpu(monkeypatch):
  monkeypatch.setattr(perf, "cpu_model_name", lambda: "Test CPU 9000")
  key = perf.host_key()
  assert key.startswith("cpu|Test CPU 9000|") and key.endswith("cores")
  assert perf.peak_label().startswith("cpu: Test CPU 9000 x ")


def test_share_of_peak_is_clamped_and_none_when_unknown():
  assert perf.share_of_peak(50e9, 100e9) == pytest.approx(0.5)
  assert perf.share_of_peak(250e9, 100e9) == 1.0  # never above 100%
  assert perf.share_of_peak(0.0, 100e9) == 0.0
  assert perf.share_of_peak(None, 100e9) is None
  assert perf.share_of_peak(50e9, None) is None
  assert perf.share_of_peak(50e9, 0.0) is None
  assert perf.share_of_peak(-1.0, 100e9) is None
