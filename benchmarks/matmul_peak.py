r"""This machine's f32 matmul peak under XLA:CPU, the denominator of every "share of peak" figure.

  python benchmarks/matmul_peak.py

The project brief and anchors.md D.2 give ~98 GFLOP/s for the 2-core development CPU; the hosts
handed out since then differ (2026-11-25: an AVX-512 Xeon measuring ~360 GFLOP/s at 1024^3), so the
benchmarks' shares are printed against the brief's figure and this measured one.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BRIEF_PEAK = 98e9


def measured_peak(sizes=(512, 1024, 2048), repeats: int = 10) -> float:
  """Best f32 matmul FLOP/s over square sizes (random operands, jitted, after a warm-up call)."""
  import jax
  import jax.numpy as jnp
  best = 0.0
  matmul = jax.jit(jnp.matmul)
  for n in sizes:
    a, b = (jax.random.normal(jax.random.PRNGKey(i), (n, n), jnp.float32) for i in (0, 1))
    jax.block_until_ready(matmul(a, b))
    start = time.perf_counter()
    for _ in range(repeats):
      out = matmul(a, b)
    jax.block_until_ready(out)
    best = max(best, 2 * n ** 3 * repeats / (time.perf_counter() - start))
  return best


def main():
  import jax
  peak = measured_peak()
  print(f"{jax.devices()[0].device_kind} x {jax.device_count()}: f32 matmul peak {peak / 1e9:.0f} GFLOP/s "
        f"({peak / BRIEF_PEAK:.1f}x the brief's {BRIEF_PEAK / 1e9:.0f})")


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  main()
