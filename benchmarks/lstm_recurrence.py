r"""The fused BiLSTM's cost per step on this CPU: forward and gradient of seed 002's 2-layer BiLSTM(128).

  python benchmarks/lstm_recurrence.py                     # batch 32, T = 128 / 500 / 1000, 65 inputs
  python benchmarks/lstm_recurrence.py --steps=256 --features=768

Prints milliseconds per call and microseconds per sequential step (layers x T). On CPU the scans are
replaced by the FFI kernel (mmer_jax/kernels); `MMER_JAX_CPU_KERNELS=0` times the XLA scans instead.
Measured 2026-11-25, batch 32, 65 features:
- gradient at T=1000: 1,605 ms with the stacked (T, D, B, X) scan layout, 1,122 ms with
  per-direction buffers, 831 ms with 2-D projection GEMMs, 533 ms with the kernel;
- gradient at T=500: 429 ms with the scans (~120 us per layer-step in each scan: XLA:CPU runs a step
  as ~20 small thunks on one core), 288 ms with the kernel (each direction on its own thread; since
  2026-11-30 each direction is a task on XLA's intra-op pool).
Measured 2026-12-06, AMD EPYC (AVX-512), T=451: forward 139-141 -> 106-108 ms and gradient 329-353
-> 318-324 ms after the kernel's aligned buffers, 8 x 3 matmul blocks, two-pass gates and in-place
reading of the backward direction (benchmarks/README.md, "The LSTM kernel, again").
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

from benchmarks import timing  # noqa: E402

_STEPS = flags.DEFINE_list("steps", ["128", "500", "1000"], "Sequence lengths to time.")
_FEATURES = flags.DEFINE_integer("features", 65, "Input features per step (ComParE LLDs: 65).")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Batch size (seed 002: 32).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls; the best is printed.")


def _best_seconds(fn, *args) -> float:
  return min(timing.call_seconds(fn, *args, repeats=_REPEATS.value))


def main(argv):
  del argv
  import jax
  import jax.numpy as jnp
  import numpy as np

  from mmer_jax.models.layers.rnn import StackedBiLSTM
  rng = np.random.default_rng(0)
  model = StackedBiLSTM(128, num_layers=2)
  for steps in map(int, _STEPS.value):
    x = jnp.asarray(rng.normal(size=(_BATCH.value, steps, _FEATURES.value)), jnp.float32)
    mask = jnp.arange(steps)[None] < jnp.asarray(rng.integers(steps // 4, steps + 1, _BATCH.value))[:, None]
    params = model.init(jax.random.PRNGKey(0), x, mask)
    loss = lambda p, x, mask: model.apply(p, x, mask)[0].sum()
    forward = _best_seconds(jax.jit(loss), params, x, mask)
    gradient = _best_seconds(jax.jit(jax.grad(loss)), params, x, mask)
    print(f"T={steps:5d} x {_FEATURES.value} features, batch {_BATCH.value}: forward {forward * 1e3:7.1f} ms "
          f"({forward / (2 * steps) * 1e6:5.1f} us/layer-step), gradient {gradient * 1e3:7.1f} ms "
          f"({gradient / (2 * steps) * 1e6:5.1f} us/layer-step)", flush=True)


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  app.run(main)
