"""launch.py and the benchmarks re-execute themselves once with glibc's huge-page malloc tunable."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {repo!r})
    print("start", os.environ.get("GLIBC_TUNABLES", ""), flush=True)
    from mmer_jax.process_env import reexec_with_malloc_tunables
    reexec_with_malloc_tunables()
    print("ran with", os.environ.get("GLIBC_TUNABLES", ""), flush=True)
""")


def _run(tmp_path, env_extra):
  script = tmp_path / "script.py"
  script.write_text(SCRIPT.format(repo=str(REPO)))
  env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "MMER_JAX_NO_REEXEC")}
  env.update(env_extra)
  out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=True)
  return out.stdout.splitlines()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tunables are Linux-only")
def test_reexecs_once_and_keeps_existing_tunables(tmp_path):
  lines = _run(tmp_path, {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1048576"})
  assert lines == ["start glibc.malloc.trim_threshold=1048576",
                   "start glibc.malloc.trim_threshold=1048576:glibc.malloc.hugetlb=1",
                   "ran with glibc.malloc.trim_threshold=1048576:glibc.malloc.hugetlb=1"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tunables are Linux-only")
def test_no_reexec_when_set_or_opted_out(tmp_path):
  assert _run(tmp_path, {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}) == [
      "start glibc.malloc.hugetlb=1", "ran with glibc.malloc.hugetlb=1"]
  assert _run(tmp_path, {"MMER_JAX_NO_REEXEC": "1"}) == ["start ", "ran with "]


FREED_HEAP_SCRIPT = textwrap.dedent("""
    import ctypes, sys
    sys.path.insert(0, {repo!r})
    from mmer_jax.process_env import release_free_heap
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    def rss_mb():
      return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) / 1024
    blocks = [libc.malloc(64 * 1024) for _ in range(3000)]  # under the mmap threshold: on the heap
    for b in blocks:
      ctypes.memset(b, 1, 64 * 1024)
    for b in blocks[:-1]:  # the last one pins the top, so glibc's own trimming cannot help
      libc.free(b)
    before = rss_mb()
    release_free_heap()
    print(before - rss_mb())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_free_heap_returns_freed_pages(tmp_path):
  """~190 MB freed inside the heap stay resident until release_free_heap hands them back."""
  script = tmp_path / "heap.py"
  script.write_text(FREED_HEAP_SCRIPT.format(repo=str(REPO)))
  out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
  assert float(out.stdout) > 150, out.stdout
