"""Settings glibc reads once at process start, so a script applies them by re-executing itself.

XLA:CPU gives every large temporary of a step (scan outputs, gate activations, gradients: tens to
hundreds of MB) a fresh mmap, and glibc unmaps it after the step. Writing into fresh 4 KiB pages
page-faults on every page, which made memory-bound kernels up to twice as slow as their arithmetic.
`glibc.malloc.hugetlb=1` asks for transparent huge pages on those mappings (the kernel's default
THP mode is `madvise`, which needs exactly that request). Measured on the 2-core CPU, same code:
ResNet1D 33.9 -> 36.7 samples/s, LF-RNN 114 -> 130, MMMLA at 1,000 frames 16.9 -> 18.3
(benchmarks/zoo1_throughput.py). Nothing else changes: where THP is off it is a no-op.

This module imports nothing heavy: it must run before jax is imported. Set MMER_JAX_NO_REEXEC=1 to
opt out (e.g. under a debugger that should keep the original process).
"""

from __future__ import annotations

import functools
import os
import sys

MALLOC_TUNABLE = "glibc.malloc.hugetlb=1"
_GUARD = "MMER_JAX_NO_REEXEC"


def reexec_with_malloc_tunables() -> None:
  """Re-executes this Python process with MALLOC_TUNABLE added to GLIBC_TUNABLES, once.

  Call it first thing in a script's `if __name__ == "__main__":` path (launch.py, benchmarks).
  Returns without doing anything off Linux, when the tunable is already set, or when opted out.
  """
  current = os.environ.get("GLIBC_TUNABLES", "")
  if not sys.platform.startswith("linux") or os.environ.get(_GUARD) or "glibc.malloc.hugetlb" in current:
    return
  os.environ["GLIBC_TUNABLES"] = f"{current}:{MALLOC_TUNABLE}" if current else MALLOC_TUNABLE
  os.environ[_GUARD] = "1"  # the new process must not try again, whatever its environment does
  argv = list(getattr(sys, "orig_argv", None) or [sys.executable] + sys.argv)  # keeps -X / -u options
  os.execv(sys.executable, argv)


def release_free_heap() -> None:
  """Hands the heap's free pages back to the kernel (glibc `malloc_trim`); a no-op elsewhere.

  Compiling a step frees most of what it allocated, but glibc keeps freed pages mapped, so peak
  memory grew by the compiler's working set at every bucket. Measured on the text classifier
  (all-MiniLM-L6-v2, 6 buckets): the process's peak fell from 2.39 to 2.13 GB. Costs milliseconds.
  """
  libc = _glibc()
  if libc is not None:
    libc.malloc_trim(0)


@functools.cache
def _glibc():
  try:
    import ctypes  # noqa: PLC0415
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc
  except (OSError, AttributeError):  # not glibc: musl, macOS
    return None
