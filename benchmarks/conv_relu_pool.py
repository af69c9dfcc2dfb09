r"""Seed 004's MoCap stem (3x3 Conv2D(256) on one channel, ReLU, 2x2 max-pool): fused or not.

  python benchmarks/conv_relu_pool.py [--batch=100] [--repeats=3]

Times, at the MoCap head's shapes ((batch, 200, 189, 1) -> (batch, 100, 94, 256)), the jitted
forward and the forward + kernel and bias gradients (what a training step asks of a first layer)
two ways: `layers/conv_relu_pool.conv_relu_pool`, and XLA's convolution (with the project's GEMM
kernel gradient, as the unfused head ran it) -> ReLU -> `layers/pooling.max_pool`. Prints seconds
(median) and the largest differences between the two. Runs with mmer_jax's malloc tunables, as
launch.py does. Nothing is asserted: timings depend on the host and its load.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

from benchmarks import timing  # noqa: E402

_BATCH = flags.DEFINE_integer("batch", 100, "Items per call (the seed trains at 100).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls per variant (the median is printed).")


def main(argv):
  del argv
  import jax
  import jax.numpy as jnp
  import numpy as np
  from mmer_jax.models.layers import conv_relu_pool, conv_weight_grad, pooling

  def unfused(x, kernel, bias):
    conv = conv_weight_grad.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return pooling.max_pool(jax.nn.relu(conv + bias), 2)

  def median_seconds(fn, *args):
    return timing.median_seconds(fn, *args, repeats=_REPEATS.value)

  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(_BATCH.value, 200, 189, 1)).astype(np.float32))
  kernel = jnp.asarray(rng.normal(0, 0.3, size=(3, 3, 1, 256)).astype(np.float32))
  bias = jnp.zeros(256)
  cotangent = jnp.asarray(rng.normal(size=(_BATCH.value, 100, 94, 256)).astype(np.float32))
  results = {}
  for name, block in (("fused", conv_relu_pool.conv_relu_pool), ("conv, relu, max_pool", unfused)):
    forward = jax.jit(block)
    gradients = jax.jit(lambda k, b, block=block: jax.grad(
        lambda k, b: (block(x, k, b) * cotangent).sum(), argnums=(0, 1))(k, b))
    results[name] = (forward(x, kernel, bias), gradients(kernel, bias))
    print(f"{name}: forward {median_seconds(forward, x, kernel, bias):.3f} s, forward + kernel and bias "
          f"gradients {median_seconds(gradients, kernel, bias):.3f} s", flush=True)
  (y0, (k0, b0)), (y1, (k1, b1)) = results.values()
  print(f"largest difference: output {float(jnp.abs(y0 - y1).max()):.1e}, kernel gradient "
        f"{float(jnp.abs(k0 - k1).max() / jnp.abs(k1).max()):.1e} (relative), bias gradient "
        f"{float(jnp.abs(b0 - b1).max() / jnp.abs(b1).max()):.1e} (relative)")


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  app.run(main)
