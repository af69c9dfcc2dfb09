"""Seconds per call of a jitted function, each call waited for: the microbenchmarks' one timer.

  from benchmarks import timing                  # the repository root on sys.path
  times = timing.call_seconds(fn, x, w, repeats=3)   # after one untimed call (it compiles)
  seconds = timing.median_seconds(fn, x, w, repeats=3)
"""

from __future__ import annotations

import statistics
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


def median_seconds(fn, *args, repeats: int) -> float:
  return statistics.median(call_seconds(fn, *args, repeats=repeats))

