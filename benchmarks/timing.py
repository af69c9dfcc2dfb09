"""Seconds per call of a jitted function, each call waited for: the microbenchmarks' one timer.

  from benchmarks import timing                  # the repository root on sys.path
  times = timing.call_seconds(fn, x, w, repeats=3)   # after one untimed call (it compiles)
"""

from __future__ import annotations

import time


def call_seconds(fn, *args, repeats: int) -> list[float]:
  """`repeats` timings of fn(*args), each until its outputs exist, after one untimed call."""
  import jax
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return times
