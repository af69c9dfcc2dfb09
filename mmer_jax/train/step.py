"""Data-parallel train and eval steps: `jax.shard_map` over mesh axis `data` inside `jax.jit`.

The global batch is split along `data`; each device computes gradients on its shard and they are
averaged with `lax.pmean`, as pmap-style data parallelism does. Parameters and optimiser state are
replicated. The same code runs on 1 CPU, N devices and several hosts.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from mmer_jax import batch as batch_lib
from mmer_jax.batch import LABEL_KEY, VALID_KEY  # noqa: F401  (the batch contract's keys, used here and by callers)
from mmer_jax.train.losses import LossFn
from mmer_jax.train.state import TrainState

AXIS = "data"


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


def micro_batches(rows: int, length: int, max_tokens: Optional[int]) -> int:
  """How many equal passes a device's batch of `rows` x `length` positions takes so that each holds
  at most `max_tokens` (the fewest that divide `rows`; one row per pass at worst)."""
  if not max_tokens or rows * length <= max_tokens:
    return 1
  return rows // batch_lib.largest_part(rows, length, max_tokens)


def passes(batch: Mapping[str, Any], rows: int, max_tokens: Optional[int], length_key: Optional[str]) -> int:
  """Micro-batches a train step runs a device's `rows` of `batch` in: by the bucketed input's padded
  length (`length_key`); a batch without that input runs whole."""
  return micro_batches(rows, batch[length_key].shape[1], max_tokens) if length_key in batch else 1


def make_train_step(model, loss_fn: LossFn, tx: optax.GradientTransformation, mesh: Mesh, *,
                    return_outputs: bool = False, max_tokens: Optional[int] = None,
                    length_key: Optional[str] = None) -> Callable:
  """`return_outputs` adds the training-mode outputs (sharded like the batch) to the step's metrics:
  SAMSEMO tunes its test thresholds on them (the `samsemo_train_thresholds` epoch action).

  `max_tokens` (`config.max_tokens_per_pass`) with `length_key` (the bucketed input): a device's
  batch of more positions than that (rows x the input's padded length) runs as equal micro-batches
  in a `lax.scan` whose gradients add up to the whole batch's (the loss is a mean over equal
  parts). The update is the same; the backward pass keeps one micro-batch's activations instead of
  the whole batch's, so the longest bucket no longer sets the run's peak memory (all-MiniLM-L6-v2 at
  32 x 96 tokens: 1.33 GB of XLA temporaries). Not for BatchNorm models: their statistics are per pass.
  """
  model = with_axis_name(model)
  # One device: XLA:CPU still copies every gradient through an all-reduce of one (3% of a
  # MiniLM fine-tuning step), so the mean over one device is skipped.
  averaged = mesh.shape[AXIS] > 1

  def step(state: TrainState, batch: Mapping[str, jax.Array]):
    inputs, labels = _split(batch)
    # Different dropout masks per device and step, all derived from the checkpointed key.
    rng = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), jax.lax.axis_index(AXIS))
    mutable = ["batch_stats"] if state.batch_stats else []

    def loss_of(params, inputs, labels, rng):
      variables = {"params": params, **({"batch_stats": state.batch_stats} if state.batch_stats else {})}
      outputs, updates = model.apply(variables, inputs, train=True, rngs={"dropout": rng}, mutable=mutable)
      outputs = float32_outputs(outputs)
      return loss_fn(outputs, labels).mean(), (updates, outputs)

    rows = labels.shape[0]
    parts = 1 if mutable else passes(inputs, rows, max_tokens, length_key)
    if parts == 1:
      (loss, (updates, outputs)), grads = jax.value_and_grad(loss_of, has_aux=True)(
          state.params, inputs, labels, rng)
    else:
      split = lambda x: x.reshape((parts, rows // parts) + x.shape[1:])  # noqa: E731

      def one_part(carry, part):
        index, part_inputs, part_labels = part
        (part_loss, (_, part_outputs)), part_grads = jax.value_and_grad(loss_of, has_aux=True)(
            state.params, part_inputs, part_labels, jax.random.fold_in(rng, index))
        grad_sum, loss_sum = carry
        return (jax.tree_util.tree_map(jnp.add, grad_sum, part_grads), loss_sum + part_loss), part_outputs

      zeros = jax.tree_util.tree_map(jnp.zeros_like, state.params)
      (grads, loss), outputs = jax.lax.scan(
          one_part, (zeros, jnp.zeros((), jnp.float32)),
          (jnp.arange(parts), jax.tree_util.tree_map(split, inputs), jax.tree_util.tree_map(split, labels)))
      grads = jax.tree_util.tree_map(lambda g: g / parts, grads)
      loss = loss / parts
      outputs = jax.tree_util.tree_map(lambda x: x.reshape((rows,) + x.shape[2:]), outputs)
      updates = {}
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
