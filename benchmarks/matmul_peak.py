r"""This host's f32 matmul peak under XLA, the denominator of every "share of peak" figure.

  python benchmarks/matmul_peak.py              # measure now (and refresh the per-host cache)
  python benchmarks/matmul_peak.py --cached     # the cached figure, measured only if missing

The measurement and its per-CPU-model cache live in `mmer_jax.perf` (the trainer divides by the same
figure). The brief and anchors.md D.2 give ~98 GFLOP/s for the original 2-core development CPU; the
hosts handed out since differ (an AVX-512 Xeon measured ~360 GFLOP/s at 1024^3), so the brief's
figure is printed only for comparison.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BRIEF_PEAK = 98e9


def main():
  import jax
  from mmer_jax import perf
  peak = perf.measured_peak_flops(refresh="--cached" not in sys.argv[1:])
  print(f"{perf.peak_label()} ({jax.device_count()} XLA device(s)): peak {peak / 1e9:.0f} GFLOP/s "
        f"({peak / BRIEF_PEAK:.1f}x the brief's {BRIEF_PEAK / 1e9:.0f}); cached in {perf.cache_path()}")


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  main()
