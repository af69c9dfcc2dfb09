r"""Williams EF-BLSTM throughput on this machine: train step, input pipeline, compile time, FLOP share.

  python benchmarks/williams_throughput.py [--batch_size=32] [--steps=45]

Builds the synthetic sample (cmu_mosei/csd_aligned shapes) in a temp folder, then prints:
- compile time of the train step, FLOP per step (XLA cost analysis) and share of the 98 GFLOP/s peak;
- train-step samples/s on a fixed device batch (no input pipeline);
- input-pipeline samples/s alone (read + preprocess + batch), with and without the in-memory cache;
- end-to-end samples/s of real epochs and the fraction of time spent waiting for input.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

_BATCH = flags.DEFINE_integer("batch_size", 32, "Global batch (seed 001: 32).")
_STEPS = flags.DEFINE_integer("steps", 45, "Words per segment (seed 001: 45).")
_REPEATS = flags.DEFINE_integer("repeats", 50, "Timed train steps.")

PEAK = 98e9


def main(argv):
  del argv
  import jax
  import numpy as np

  from configs import williams_sample
  from mmer_jax import batch as batch_keys
  from mmer_jax.data import pipeline as pipeline_lib
  from mmer_jax.train import losses, optim, state as state_lib, step as step_lib, trainer
  from tfds_builders import build

  data_dir = tempfile.mkdtemp()
  build.build("synthetic_mosei/aligned", data_dir)
  config = williams_sample.get_config()
  config.input.data_dir = data_dir
  config.input.batch_size = _BATCH.value
  config.input.preprocess.steps = _STEPS.value
  for cache in (False, True):
    config.input.cache = cache
    pipe = pipeline_lib.InputPipeline(config)
    next(pipe.train_epoch(0))  # warm-up (fills the cache when on)
    t0 = time.perf_counter()
    n = sum(len(b["label"]) for e in range(3) for b in pipe.train_epoch(e))
    print(f"input pipeline (cache={cache}): {n / (time.perf_counter() - t0):8.0f} samples/s")

  mesh = step_lib.make_mesh()
  model = trainer.build_model(config)
  tx = optim.make_optimizer(config.optimizer, pipe.steps_per_epoch, 1)
  loss_fn = losses.make_loss(config.loss)
  batch, _ = batch_keys.split_host_meta(next(pipe.train_epoch(0)))
  inputs = {k: v for k, v in batch.items() if k != "label"}
  state = step_lib.replicate(state_lib.create(model, tx, inputs, 0), mesh)
  device_batch = step_lib.to_global(batch, mesh)
  t0 = time.perf_counter()
  compiled = step_lib.make_train_step(model, loss_fn, tx, mesh).lower(state, device_batch).compile()
  print(f"compile: {time.perf_counter() - t0:.2f} s")
  flops = trainer._flops(compiled)
  for _ in range(3):
    state, m = compiled(state, device_batch)
  jax.block_until_ready(m)
  t0 = time.perf_counter()
  for _ in range(_REPEATS.value):
    state, m = compiled(state, device_batch)
  jax.block_until_ready(m)
  dt = (time.perf_counter() - t0) / _REPEATS.value
  print(f"train step: {dt * 1e3:.2f} ms = {_BATCH.value / dt:.0f} samples/s at batch {_BATCH.value}; "
        f"{flops / 1e6:.1f} MFLOP/step -> {flops / dt / 1e9:.1f} GFLOP/s = {100 * flops / dt / PEAK:.1f}% of peak")

  t0, wait, n = time.perf_counter(), 0.0, 0
  for epoch in range(3):
    it = pipe.train_epoch(epoch)
    for _ in range(pipe.steps_per_epoch):
      tw = time.perf_counter()
      b, _ = batch_keys.split_host_meta(next(it))
      wait += time.perf_counter() - tw
      state, m = compiled(state, step_lib.to_global(b, mesh))
      float(m["loss"])
      n += len(b["label"])
  total = time.perf_counter() - t0
  print(f"end to end (cache=True): {n / total:.0f} samples/s, waiting for input {100 * wait / total:.1f}% of the time")


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  app.run(main)
