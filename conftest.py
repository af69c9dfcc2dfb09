"""Test-wide settings: fast compiles on CPU and absl flags marked parsed (grain reads them)."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The share-of-peak column needs this host's f32 matmul peak; tests must not spend seconds measuring it
# (mmer_jax/perf.py; tests/test_perf.py covers the measurement and its cache).
os.environ.setdefault("MMER_JAX_PEAK_FLOPS", "1e11")

import jax  # noqa: E402
from absl import flags  # noqa: E402

# Tests run tiny models for a few steps: XLA's optimisation passes cost more than they save.
jax.config.update("jax_disable_most_optimizations", True)
if not flags.FLAGS.is_parsed():
  flags.FLAGS.mark_as_parsed()
