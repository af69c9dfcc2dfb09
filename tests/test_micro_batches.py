"""`config.max_tokens_per_pass`: long batches run as micro-batches whose gradients add up to the batch's."""

import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from mmer_jax.errors import ConfigError
from mmer_jax.train import losses, state as state_lib, step as step_lib, trainer
from mmer_jax.train.experiment import Experiment
from tests.helpers import tiny_williams_config, williams_sources


@pytest.mark.parametrize("rows,length,max_tokens,parts", [
    (32, 96, 1024, 4),    # 8 x 96 = 768 positions per pass
    (32, 48, 1024, 2),
    (32, 32, 1024, 1),    # fits: the batch runs whole
    (32, 96, None, 1),    # no budget
    (6, 1000, 512, 6),    # longer than the budget even alone: one row per pass
    (12, 100, 500, 3),    # 5 rows would fit, but the parts must be equal: 4 rows each
])
def test_micro_batches_are_the_fewest_equal_parts_within_the_budget(rows, length, max_tokens, parts):
  assert step_lib.micro_batches(rows, length, max_tokens) == parts


class _TokenModel(nn.Module):
  """Embedding, a position-wise layer, masked mean, a head: per-example work like a text encoder's."""

  @nn.compact
  def __call__(self, inputs, train: bool = False):
    x = nn.Embed(50, 16)(inputs["text"])
    x = nn.tanh(nn.Dense(16)(x))
    mask = inputs["text_mask"][..., None].astype(x.dtype)
    return nn.Dense(3)((x * mask).sum(1) / jnp.maximum(mask.sum(1), 1.0))


def _step(max_tokens):
  model, mesh = _TokenModel(), step_lib.make_mesh()
  tx = optax.sgd(0.5)  # not Adam: its first step is blind to the gradient's scale
  rng = np.random.default_rng(0)
  lengths = rng.integers(1, 24, size=32)
  batch = {"text": rng.integers(1, 50, size=(32, 24)).astype(np.int32),
           "text_mask": (np.arange(24)[None] < lengths[:, None]).astype(np.int32),
           "label": rng.integers(0, 3, size=32).astype(np.int32)}
  inputs = {k: v for k, v in batch.items() if k != "label"}
  state = step_lib.replicate(state_lib.create(model, tx, inputs, seed=0), mesh)
  step = step_lib.make_train_step(model, losses.make_loss(ml_collections.ConfigDict(dict(name="softmax_ce", double_softmax=False)), None), tx, mesh,
                                  return_outputs=True, max_tokens=max_tokens, length_key="text")
  before = jax.device_get(state.params)  # the step donates the state
  new_state, metrics = step(state, step_lib.to_global(batch, mesh))
  return before, new_state, jax.device_get(metrics)


def test_micro_batched_step_takes_the_whole_batch_update():
  before, whole, whole_metrics = _step(None)
  _, parts, parts_metrics = _step(8 * 24)  # 4 micro-batches of 8 rows
  moved = max(float(np.abs(a - b).max()) for a, b in zip(jax.tree_util.tree_leaves(before),
                                                         jax.tree_util.tree_leaves(whole.params)))
  assert moved > 1e-3  # the step really changed the parameters
  for a, b in zip(jax.tree_util.tree_leaves(whole), jax.tree_util.tree_leaves(parts)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
  for key in ("loss", "grad_norm"):
    np.testing.assert_allclose(parts_metrics[key], whole_metrics[key], rtol=1e-5)
  np.testing.assert_allclose(parts_metrics["outputs"], whole_metrics["outputs"], rtol=1e-5, atol=1e-6)


def test_models_with_batch_statistics_refuse_a_token_budget(tmp_path):
  """Williams' EF-BLSTM keeps BatchNorm statistics: micro-batches would change them."""
  config = tiny_williams_config()
  config.max_tokens_per_pass = 64
  experiment = Experiment.from_config(config, tmp_path, williams_sources())
  try:
    assert jax.tree_util.tree_leaves(experiment.template.batch_stats)
    with pytest.raises(ConfigError, match="max_tokens_per_pass=64: williams_ef_blstm keeps BatchNorm"):
      trainer.make_train_step(experiment)
    config.max_tokens_per_pass = None
    trainer.make_train_step(experiment)
  finally:
    experiment.close()


def test_the_compile_log_counts_every_micro_batch():
  """XLA counts a scan body once; the FLOPs the trainer logs for a micro-batched step scale with its passes."""
  experiment = types.SimpleNamespace(config=ml_collections.ConfigDict(dict(max_tokens_per_pass=8 * 24)),
                                     pipeline=types.SimpleNamespace(length_key="text"), mesh=step_lib.make_mesh())
  passes = trainer.passes_of(experiment)
  batch = {"label": np.zeros((32,), np.int32), "text": np.ones((32, 24), np.float32)}
  assert passes(batch) == 4
  step = jax.jit(lambda state, batch: state + batch["text"] @ batch["text"].T)
  whole = trainer._CompiledSteps(step)(jnp.zeros((32, 32)), batch)[2]
  counted = trainer._CompiledSteps(step, passes)(jnp.zeros((32, 32)), batch)[2]
  assert whole > 0 and counted == 4 * whole
  experiment.config.max_tokens_per_pass = None
  assert trainer.passes_of(experiment)(batch) == 1
