"""The persistent compilation cache: off by default (loaded executables hold more memory), on with a
folder in the config or the environment; the environment overrides the config."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import sys, jax
sys.path.insert(0, {root!r})
from configs import common
from mmer_jax.train import runtime
config = common.base_config()
if {value!r} is not None:
  config.compilation_cache_dir = {value!r}
runtime.setup_runtime(config)
print(jax.config.jax_compilation_cache_dir)
"""


def _cache_dir(value, env_value=None, home="/tmp/home"):
  env = {k: v for k, v in os.environ.items() if k != "MMER_JAX_COMPILATION_CACHE"}
  env["HOME"] = home
  if env_value is not None:
    env["MMER_JAX_COMPILATION_CACHE"] = env_value
  out = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(ROOT), value=value)], env=env,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("value,env_value,expected", [
    (None, None, "None"),                             # the default: off
    (None, "/tmp/c3", "/tmp/c3"),
    ("/tmp/c1", None, "/tmp/c1"),
    ("", None, "None"),                               # off
    ("", "/tmp/c2", "/tmp/c2"),                       # the environment wins
])
def test_cache_folder(value, env_value, expected):
  assert _cache_dir(value, env_value) == expected
