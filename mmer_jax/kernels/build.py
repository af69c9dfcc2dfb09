"""Compiles the CPU kernels on first use and registers them with XLA as FFI targets.

The shared library is built with the machine's C++ compiler (`$CXX`, default `g++`) at `-O3
-march=native` into a cache folder keyed by the source, the compiler flags, the jaxlib FFI headers
and the CPU's feature flags, so a copy built on one CPU is never loaded on another.
`MMER_JAX_KERNEL_CACHE` moves the cache (default `~/.cache/mmer_jax/kernels`). Concurrent builders
(pytest-xdist workers, several hosts on a shared home) each compile to a private file and rename it
into place, so a reader never sees a half-written library.

When no compiler is found or the build fails, `load()` logs why once and returns False; callers
then keep the pure-XLA path, which computes the same function.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from absl import logging

SOURCE = Path(__file__).with_name("lstm_cpu.cc")
TARGETS = {"mmer_lstm_forward": "MmerLstmForward", "mmer_lstm_inference": "MmerLstmInference",
           "mmer_lstm_backward": "MmerLstmBackward"}
FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fno-math-errno", "-pthread")


def _cpu_signature() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith(("flags", "Features")):
        return line
  except OSError:
    pass
  return platform.processor()


def _library_path(compiler: str, include_dir: str) -> Path:
  digest = hashlib.sha256()
  for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), compiler.encode(), include_dir.encode(),
               _cpu_signature().encode(), platform.machine().encode()):
    digest.update(part)
  cache = Path(os.environ.get("MMER_JAX_KERNEL_CACHE", Path.home() / ".cache" / "mmer_jax" / "kernels"))
  return cache / f"lstm_cpu-{digest.hexdigest()[:16]}.so"


def _compile(compiler: str, include_dir: str, target: Path, flags: Sequence[str] = FLAGS) -> None:
  target.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
    private = Path(scratch) / target.name
    command = [compiler, *flags, f"-I{include_dir}", str(SOURCE), "-o", str(private)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
      raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-4000:]}")
    os.replace(private, target)


def build_library(compiler: str | None = None) -> Path | None:
  """The compiled kernel library for this machine (built now if not cached); None when it cannot be
  built, with the reason logged."""
  import jax
  compiler = compiler or os.environ.get("CXX", "g++")
  if shutil.which(compiler) is None:
    logging.warning("mmer_jax CPU kernels: no C++ compiler %r on PATH (set $CXX); using the XLA scan.",
                    compiler)
    return None
  include_dir = jax.ffi.include_dir()
  path = _library_path(compiler, include_dir)
  if path.exists():
    return path
  logging.info("mmer_jax: compiling %s -> %s", SOURCE.name, path)
  try:
    _compile(compiler, include_dir, path)
  except (OSError, RuntimeError) as error:
    logging.warning("mmer_jax CPU kernels unavailable, using the XLA scan: %s", error)
    return None
  return path


def register(path: Path, suffix: str = "") -> None:
  """Loads a kernel library and registers its handlers as the FFI targets `<name><suffix>` (the
  tests register builds for other instruction sets under their own suffixes); OSError when the
  library cannot be loaded."""
  import jax
  library = ctypes.cdll.LoadLibrary(str(path))
  for name, symbol in TARGETS.items():
    jax.ffi.register_ffi_target(name + suffix, jax.ffi.pycapsule(getattr(library, symbol)), platform="cpu")


@functools.cache
def load() -> bool:
  """Builds (once per machine) and registers the kernels with XLA; False when they cannot be built."""
  path = build_library()
  if path is None:
    return False
  try:
    register(path)
  except OSError as error:
    logging.warning("mmer_jax CPU kernels: cannot load %s (%s); using the XLA scan.", path, error)
    return False
  return True
