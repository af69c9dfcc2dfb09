"""The running host's measured f32 matmul peak: the denominator of every "share of peak" figure.

A fixed peak (the brief's 98 GFLOP/s) is wrong on every other host: shares passed 100% on a faster
Xeon. So the peak is measured once per (platform, device model, core count) with a short jitted
matmul sweep and cached in `~/.cache/mmer_jax/peak_flops.json` (`MMER_JAX_PEAK_CACHE` moves the
file); `MMER_JAX_PEAK_FLOPS=<FLOP/s>` skips measuring altogether (tests, or a known figure).

  from mmer_jax import perf
  peak = perf.measured_peak_flops()                 # ~2-10 s the first time on a host, then cached
  share = perf.share_of_peak(flops / seconds, peak)  # in [0, 1], None when unknown
  label = perf.peak_label()                          # "cpu: <CPU model> x 2 cores, f32 matmul"
"""

from __future__ import annotations

import json
import os
import platform as platform_lib
import time
from pathlib import Path
from typing import Optional

ENV_PEAK = "MMER_JAX_PEAK_FLOPS"
ENV_CACHE = "MMER_JAX_PEAK_CACHE"


def cache_path() -> Path:
  return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "mmer_jax" / "peak_flops.json")


def cpu_model_name() -> str:
  """The CPU's marketing name; the peak differs between models of one platform."""
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.lower().startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform_lib.processor() or platform_lib.machine() or "unknown cpu"


def _cores() -> int:
  # The peak scales with the cores this process may use, not the host's total.
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def host_key(platform: Optional[str] = None) -> str:
  """Cache key: platform, device (CPU) model and, on CPU, the usable cores."""
  import jax
  device = jax.devices(platform)[0]
  if device.platform == "cpu":
    return f"cpu|{cpu_model_name()}|{_cores()} cores"
  return f"{device.platform}|{device.device_kind}"


def peak_label(platform: Optional[str] = None) -> str:
  """Human-readable name of the peak a share is taken of, per platform."""
  kind, model, *rest = host_key(platform).split("|")
  return f"{kind}: {model}{' x ' + rest[0] if rest else ''}, f32 matmul"


def measure_matmul_peak(platform: Optional[str] = None, sizes=None, repeats: int = 10, trials: int = 3) -> float:
  """Best f32 FLOP/s of a jitted square matmul over a few sizes (random operands, after a warm-up),
  each size timed `trials` times: one timing per size read 255 GFLOP/s on a host whose best of
  three was 279-294, and models' own GEMMs then ran above "the peak"."""
  import jax
  import jax.numpy as jnp
  device = jax.devices(platform)[0]
  if sizes is None:  # accelerators need larger operands to reach their peak
    sizes = (512, 1024, 2048) if device.platform == "cpu" else (2048, 4096, 8192)
  matmul = jax.jit(lambda a, b: jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST))
  best = 0.0
  for n in sizes:
    a, b = (jax.device_put(jax.random.normal(jax.random.PRNGKey(i), (n, n), jnp.float32), device) for i in (0, 1))
    jax.block_until_ready(matmul(a, b))
    for _ in range(trials):
      start = time.perf_counter()
      for _ in range(repeats):
        out = matmul(a, b)
      jax.block_until_ready(out)
      best = max(best, 2 * n ** 3 * repeats / (time.perf_counter() - start))
  return best


def _read_cache() -> dict:
  try:
    return json.loads(cache_path().read_text())
  except (OSError, ValueError):
    return {}


def measured_peak_flops(platform: Optional[str] = None, *, refresh: bool = False) -> float:
  """This host's f32 matmul peak in FLOP/s: the env override, else the cache, else measured now.

  `refresh` measures again; the cache keeps the higher of the stored and the new figure, because
  other load on the host only ever lowers a peak measurement."""
  override = os.environ.get(ENV_PEAK)
  if override:
    value = float(override)
    if value <= 0:
      raise ValueError(f"{ENV_PEAK} must be a positive FLOP/s figure, got {override!r}.")
    return value
  key = host_key(platform)
  cache = _read_cache()
  entry = cache.get(key)
  if entry and not refresh and float(entry.get("flops", 0)) > 0:
    return float(entry["flops"])
  peak = measure_matmul_peak(platform)
  if entry and float(entry.get("flops", 0)) > peak:
    return float(entry["flops"])  # load can only lower a peak measurement: keep the highest seen
  cache[key] = {"flops": peak, "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
  path = cache_path()
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(f".{os.getpid()}.tmp")  # atomic replace: concurrent runs never read half a file
  tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
  os.replace(tmp, path)
  return peak


def share_of_peak(flops_per_s: Optional[float], peak: Optional[float]) -> Optional[float]:
  """`flops_per_s / peak` clamped to [0, 1]; None when either is unknown or not positive.

  A measured peak can sit below a model's rate (turbo, a noisy measurement, FLOP counts that
  include non-matmul work), and a share above 100% is meaningless, hence the clamp."""
  if flops_per_s is None or peak is None or flops_per_s < 0 or peak <= 0:
    return None
  return min(1.0, float(flops_per_s) / float(peak))
