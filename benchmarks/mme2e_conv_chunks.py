r"""Why MME2E/MESM convolve faces and mel pieces in chunks of 16 (`mmer_jax.models.mme2e.CONV_CHUNK`).

  python benchmarks/mme2e_conv_chunks.py [--items=256] [--chunks=0,16,32]

Times forward + backward (input and kernel gradients) of the MME2E CNN's 3x3 convolutions on
`items` feature maps, as one call (chunk 0) and as unrolled calls of `chunk` items, and prints
ms/step and GFLOP/s. At SAMSEMO's batch 16 the visual CNN sees 256 faces and the audio CNN 512
pieces per step; on this 2-core CPU one big call falls out of cache and runs at about half the
speed of 16-item calls. Nothing is asserted: timings depend on the machine and its load.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

_ITEMS = flags.DEFINE_integer("items", 256, "Items (faces/pieces) per step.")
_CHUNKS = flags.DEFINE_list("chunks", ["0", "16", "32"], "Chunk sizes to compare; 0 = one call.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed steps (the best is printed).")

# (spatial size, in channels, out channels) of MME2E's 3x3 convolutions on a 48x48 face.
LAYERS = ((24, 64, 64), (24, 64, 128), (12, 128, 256), (6, 256, 512))


def main(argv):
  del argv
  import jax
  import jax.numpy as jnp
  import numpy as np
  from jax import lax
  from mmer_jax.models.mme2e import chunked

  def conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

  rng = np.random.default_rng(0)
  n = _ITEMS.value
  print(f"devices: {jax.devices()}; {n} items per step")
  for size, cin, cout in LAYERS:
    x = jnp.asarray(rng.normal(size=(n, size, size, cin)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(3, 3, cin, cout)) * 0.05, jnp.float32)
    flop = 3 * 2 * n * size * size * 9 * cin * cout  # forward + input grad + kernel grad
    for chunk in (int(c) for c in _CHUNKS.value):
      grad = jax.jit(jax.grad(lambda w, x, c=chunk: jnp.sum(jnp.tanh(chunked(lambda y: conv(y, w), x, c))),
                              argnums=(0, 1)))
      jax.block_until_ready(grad(w, x))
      best = float("inf")
      for _ in range(_REPEATS.value):
        t0 = time.perf_counter()
        jax.block_until_ready(grad(w, x))
        best = min(best, time.perf_counter() - t0)
      print(f"  {size}x{size} {cin:>3}->{cout:<3} chunk {chunk or 'none':>4}: {best * 1e3:7.1f} ms  "
            f"{flop / best / 1e9:6.1f} GFLOP/s", flush=True)


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  app.run(main)
