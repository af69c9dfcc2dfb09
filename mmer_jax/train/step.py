"""Data-parallel train and eval steps: `jax.shard_map` over mesh axis `data` inside `jax.jit`.

The global batch is split along `data`; each device computes gradients on its shard and they are
averaged with `lax.pmean`, as pmap-style data parallelism does. Parameters and optimiser state are
replicated. The same code runs on 1 CPU, N devices and several hosts.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from mmer_jax.train.losses import LossFn
from mmer_jax.train.state import TrainState

AXIS = "data"
LABEL_KEY = "label"
VALID_KEY = "_valid"


def make_mesh() -> Mesh:
  return Mesh(np.asarray(jax.devices()), (AXIS,))


def with_axis_name(model):
  """Models with BatchNorm declare `axis_name`; setting it syncs BN statistics across devices."""
  return model.clone(axis_name=AXIS) if hasattr(model, "axis_name") else model


def to_global(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Host-local numpy batch -> global arrays sharded along `data` (works for any number of hosts)."""
  sharding = NamedSharding(mesh, P(AXIS))
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()}


def float32_outputs(outputs: Any) -> Any:
  """Model outputs in float32: under `config.compute_dtype=bfloat16` the logits leave the model in
  bfloat16, and losses and metrics are computed in float32."""
  return jax.tree_util.tree_map(
      lambda x: x.astype(jnp.float32) if jnp.issubdtype(x.dtype, jnp.floating) else x, outputs)


def _split(batch: Mapping[str, jax.Array]):
  inputs = {k: v for k, v in batch.items() if k not in (LABEL_KEY, VALID_KEY)}
  return inputs, batch[LABEL_KEY]


def make_train_step(model, loss_fn: LossFn, tx: optax.GradientTransformation, mesh: Mesh, *,
                    return_outputs: bool = False) -> Callable:
  """`return_outputs` adds the training-mode outputs (sharded like the batch) to the step's metrics:
  SAMSEMO tunes its test thresholds on them (the `samsemo_train_thresholds` epoch action)."""
  model = with_axis_name(model)
  # One device: XLA:CPU still copies every gradient through an all-reduce of one (3% of a
  # MiniLM fine-tuning step), so the mean over one device is skipped.
  averaged = mesh.shape[AXIS] > 1

  def step(state: TrainState, batch: Mapping[str, jax.Array]):
    inputs, labels = _split(batch)
    # Different dropout masks per device and step, all derived from the checkpointed key.
    rng = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), jax.lax.axis_index(AXIS))
    mutable = ["batch_stats"] if state.batch_stats else []

    def loss_of(params):
      variables = {"params": params, **({"batch_stats": state.batch_stats} if state.batch_stats else {})}
      outputs, updates = model.apply(variables, inputs, train=True, rngs={"dropout": rng}, mutable=mutable)
      outputs = float32_outputs(outputs)
      return loss_fn(outputs, labels).mean(), (updates, outputs)

    (loss, (updates, outputs)), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
    if averaged:
      grads = jax.lax.pmean(grads, AXIS)
      loss = jax.lax.pmean(loss, AXIS)
    param_updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, param_updates),
        opt_state=opt_state,
        batch_stats=updates.get("batch_stats", state.batch_stats) if mutable else state.batch_stats)
    metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads)}
    return new_state, {**metrics, "outputs": outputs} if return_outputs else metrics

  metric_specs = {"loss": P(), "grad_norm": P(), **({"outputs": P(AXIS)} if return_outputs else {})}
  sharded = jax.shard_map(step, mesh=mesh, in_specs=(P(), P(AXIS)), out_specs=(P(), metric_specs),
                          check_vma=False)
  return jax.jit(sharded, donate_argnums=0)


def make_eval_step(model, loss_fn: LossFn, mesh: Mesh) -> Callable:
  """Returns per-example outputs and losses, sharded like the batch (gathered on the host later)."""

  def step(variables: dict[str, Any], batch: Mapping[str, jax.Array]):
    inputs, labels = _split(batch)
    outputs = float32_outputs(model.apply(variables, inputs, train=False))
    return {"outputs": outputs, "loss": loss_fn(outputs, labels)}

  sharded = jax.shard_map(step, mesh=mesh, in_specs=(P(), P(AXIS)), out_specs=P(AXIS), check_vma=False)
  return jax.jit(sharded)


def gather(tree: Any) -> Any:
  """Global sharded arrays -> host numpy (all hosts get everything)."""
  if jax.process_count() == 1:
    return jax.tree_util.tree_map(np.asarray, tree)
  from jax.experimental import multihost_utils
  return multihost_utils.process_allgather(tree, tiled=True)


def replicate(tree: Any, mesh: Mesh) -> Any:
  return jax.device_put(tree, NamedSharding(mesh, P()))
