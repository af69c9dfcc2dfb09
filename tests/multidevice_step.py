"""Run in a subprocess with 8 forced CPU devices: one train step on a 1-device mesh and on an
8-device mesh from the same state and global batch. Prints the max differences as JSON."""

import json
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh  # noqa: E402

from mmer_jax import batch as batch_keys  # noqa: E402
from mmer_jax.data import pipeline as pipeline_lib  # noqa: E402
from mmer_jax.train import losses, optim, state as state_lib, step as step_lib, trainer  # noqa: E402
from tests.helpers import tiny_williams_config, williams_sources  # noqa: E402


def main():
  assert jax.device_count() == 8, jax.devices()
  config = tiny_williams_config(batch_size=16, dropout=0.0)  # dropout masks differ by device layout
  # SGD: the update is proportional to the gradient. Adam's first step is ~lr*sign(g), which turns
  # float-rounding differences of near-zero gradients into lr-sized parameter differences.
  config.optimizer.name = "sgd"
  config.optimizer.learning_rate = 0.5
  pipe = pipeline_lib.InputPipeline(config, williams_sources(n_train=32))
  batch, _ = batch_keys.split_host_meta(next(pipe.train_epoch(0)))
  model = trainer.build_model(config)
  tx = optim.make_optimizer(config.optimizer, pipe.steps_per_epoch, 1)
  loss_fn = losses.make_loss(config.loss)
  inputs = {k: v for k, v in batch.items() if k != "label"}
  results = {}
  for n in (1, 8):
    mesh = Mesh(np.asarray(jax.devices()[:n]), (step_lib.AXIS,))
    state = step_lib.replicate(state_lib.create(model, tx, inputs, seed=0), mesh)
    train_step = step_lib.make_train_step(model, loss_fn, tx, mesh)
    new_state, metrics = train_step(state, step_lib.to_global(batch, mesh))
    results[n] = (float(metrics["loss"]), jax.device_get(new_state.params), jax.device_get(new_state.batch_stats))
  loss_diff = abs(results[1][0] - results[8][0])
  param_diff = max(float(np.abs(a - b).max()) for a, b in
                   zip(jax.tree_util.tree_leaves(results[1][1]), jax.tree_util.tree_leaves(results[8][1])))
  stats_diff = max(float(np.abs(a - b).max()) for a, b in
                   zip(jax.tree_util.tree_leaves(results[1][2]), jax.tree_util.tree_leaves(results[8][2])))
  param_change = max(float(np.abs(a - b).max()) for a, b in zip(
      jax.tree_util.tree_leaves(results[1][1]),
      jax.tree_util.tree_leaves(jax.device_get(state_lib.create(model, tx, inputs, seed=0).params))))
  print(json.dumps({"loss": results[1][0], "loss_diff": loss_diff, "param_diff": param_diff,
                    "stats_diff": stats_diff, "param_change": param_change}))


if __name__ == "__main__":
  main()
