r"""Kernel gradients of the project's 2-D convolutions: XLA's against GEMMs (`layers/conv_weight_grad`).

  python benchmarks/conv_weight_grad.py [--layers=mocap,mme2e] [--repeats=3]

For each layer shape (seed 004's MoCap head at batch 20, MME2E's CNNs at SAMSEMO's batch 16) times
one jitted forward + kernel gradient (the input gradient is not asked for) in three ways: XLA's
convolution in one call, XLA's in calls of 16 items (MME2E's `CONV_CHUNK`), and
`conv_weight_grad.conv_general_dilated` in one call. Prints GFLOP/s (forward + kernel gradient
counted as 2x the forward FLOPs) and the largest relative difference of the kernel gradients.

Measured 2026-11-30 on this 2-core host (quiet): on the MoCap layers GEMMs won (100x94 256->128:
166 against XLA's 102 in one call, 93 in chunks of 4), so seed 004's convolutions use them; on MME2E's
layers XLA in 16-item calls won on 5 of 7 shapes (e.g. 24x24 64->64: 125 against 77), so MME2E and
MESM keep XLA's convolutions in chunks. Nothing is asserted: timings depend on the host and its load.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

from benchmarks import timing  # noqa: E402

_LAYERS = flags.DEFINE_list("layers", ["mocap", "mme2e"], "Which layer sets to time.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls per variant (the median is printed).")

# (items, height, width, in channels, out channels, kernel size)
LAYERS = {
    "mocap": [(20, 200, 189, 1, 256, 3), (20, 100, 94, 256, 128, 3), (20, 50, 47, 128, 128, 3)],
    "mme2e": [(256, 48, 48, 3, 64, 5), (256, 24, 24, 64, 64, 3), (256, 24, 24, 64, 128, 3),
              (256, 12, 12, 128, 256, 3), (512, 128, 32, 1, 64, 5), (512, 64, 16, 64, 64, 3),
              (512, 32, 8, 128, 256, 3)],
}


def main(argv):
  del argv
  import jax
  import jax.numpy as jnp
  import numpy as np
  from jax import lax
  from mmer_jax.models.layers import conv_weight_grad
  from mmer_jax.models.mme2e import CONV_CHUNK, chunked

  numbers = ("NHWC", "HWIO", "NHWC")
  xla = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=numbers)
  gemm = lambda x, w: conv_weight_grad.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=numbers)
  variants = {"XLA, one call": xla, f"XLA, {CONV_CHUNK}-item calls": lambda x, w: chunked(lambda x: xla(x, w), x, CONV_CHUNK),
              "GEMM kernel gradient": gemm}

  def median_seconds(fn, *args):
    return timing.median_seconds(fn, *args, repeats=_REPEATS.value)

  rng = np.random.default_rng(0)
  for name in _LAYERS.value:
    for n, h, w, c_in, c_out, k in LAYERS[name]:
      x = jnp.asarray(rng.normal(size=(n, h, w, c_in)).astype(np.float32))
      kernel = jnp.asarray(rng.normal(size=(k, k, c_in, c_out)).astype(np.float32) * 0.05)
      gflop = 2 * 2 * k * k * n * h * w * c_in * c_out / 1e9
      rates, grads = [], []
      for conv in variants.values():
        grad = jax.jit(lambda kernel, x, conv=conv: jax.grad(lambda kernel: (conv(x, kernel) ** 2).sum())(kernel))
        rates.append(gflop / median_seconds(grad, kernel, x))
        grads.append(np.asarray(grad(kernel, x)))
      diff = max(float(np.abs(g - grads[0]).max() / np.abs(grads[0]).max()) for g in grads[1:])
      print(f"{name} {n}x{h}x{w} {c_in}->{c_out} {k}x{k}: "
            + ", ".join(f"{label} {rate:.0f}" for label, rate in zip(variants, rates))
            + f" GFLOP/s; max relative difference {diff:.1e}", flush=True)


if __name__ == "__main__":
  app.run(main)
