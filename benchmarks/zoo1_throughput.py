r"""Model zoo I training throughput on this machine: ResNet1D (seed 003), MMMLA (seed 002), LF-RNN (MME2E).

  python benchmarks/zoo1_throughput.py                      # every case
  python benchmarks/zoo1_throughput.py --cases=mmmla,mmmla_t500 --repeats=5

Each case builds the model, loss and optimiser from its config, times the real data-parallel train
step (`mmer_jax.train.step.make_train_step`) on a fixed device batch of the seed's batch size, and
prints samples/s and the share of the CPU's ~98 GFLOP/s f32 matmul peak (anchors.md D.2).

FLOP per step: XLA's `cost_analysis()` counts the body of a loop ONCE, so for the recurrent models
it misses almost all of the LSTM work. The script therefore also counts matmul/conv FLOPs from the
step's jaxpr, multiplying scan bodies by their length ("jaxpr FLOP"); the share of peak uses that.
Elementwise work is not counted by either. Nothing here is asserted: timings depend on the load.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

_CASES = flags.DEFINE_list("cases", ["resnet1d", "mmmla", "mmmla_t500", "lf_rnn", "lf_transformer"],
                           "Which cases to run.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed steps per case (the best and the median are printed).")

PEAK = 98e9
TARGETS = {"resnet1d": 34, "mmmla": 65, "mmmla_t500": 65, "lf_rnn": 126}  # samples/s, 1.5x the originals


def _cases():
  from configs import lf_mme2e, multifocus_mmmla, resnet1d_iemocap
  mmmla = multifocus_mmmla.get_config()
  pre = mmmla.input.preprocess
  lf = lf_mme2e.get_config("model=rnn,data=cmu_mosei")
  lengths = lf.input.preprocess.max_lengths
  lf_shapes = {"text": (lengths.text, 300), "audio": (lengths.audio, 74), "vision": (lengths.vision, 35)}
  lf_shape_text = f"text {lengths.text}x300 audio {lengths.audio}x74 vision {lengths.vision}x35"
  return {
      # name: (config, {input: (steps, features) or (features,)}, description)
      "resnet1d": (resnet1d_iemocap.get_config(), {"features": (2740,)}, "seed 003 ResNet1D, input 2740"),
      "mmmla": (mmmla, {"audio": (pre.max_audio_frames, 65), "text": (pre.max_text_tokens, 768)},
                f"seed 002 MMMLA, audio {pre.max_audio_frames} x 65, text {pre.max_text_tokens} x 768 (config)"),
      "mmmla_t500": (multifocus_mmmla.get_config(), {"audio": (500, 65), "text": (64, 768)},
                     "seed 002 MMMLA, audio 500 x 65, text 64 x 768"),
      "lf_rnn": (lf, lf_shapes, f"MME2E LF-RNN on MOSEI, {lf_shape_text}"),
      "lf_transformer": (lf_mme2e.get_config("model=transformer,data=cmu_mosei"), lf_shapes,
                         f"MME2E LF-TRANSFORMER on MOSEI, {lf_shape_text} (no original figure)"),
  }


def _batch(config, shapes, rng):
  import numpy as np
  batch_size = int(config.input.batch_size)
  batch = {}
  for name, shape in shapes.items():
    batch[name] = rng.normal(size=(batch_size,) + tuple(shape)).astype(np.float32)
    if len(shape) == 2:  # a sequence: random valid lengths, padding after
      lengths = rng.integers(max(1, shape[0] // 4), shape[0] + 1, batch_size)
      batch[f"{name}_mask"] = np.arange(shape[0])[None] < lengths[:, None]
  classes = len(config.task.class_names)
  if config.task.type == "multi_label":
    batch["label"] = (rng.uniform(size=(batch_size, classes)) < 0.3).astype(np.float32)
  else:
    batch["label"] = rng.integers(0, classes, batch_size).astype(np.int32)
  return batch


def jaxpr_flops(jaxpr) -> float:
  """2 x multiply-adds of every dot_general / conv in a (closed) jaxpr, scan bodies x their length."""
  import numpy as np
  jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
  total = 0.0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "dot_general":
      (lhs_contract, _), _ = eqn.params["dimension_numbers"]
      contracted = np.prod([eqn.invars[0].aval.shape[d] for d in lhs_contract])
      total += 2.0 * np.prod(eqn.outvars[0].aval.shape) * contracted
    elif name == "conv_general_dilated":
      rhs = eqn.invars[1].aval.shape  # kernel; output feature dim is counted in the output size
      spec = eqn.params["dimension_numbers"].rhs_spec
      per_output = np.prod(rhs) / rhs[spec[0]]  # in_features/groups x kernel window
      total += 2.0 * np.prod(eqn.outvars[0].aval.shape) * per_output
    for sub in _subjaxprs(eqn):
      total += jaxpr_flops(sub) * (eqn.params["length"] if name == "scan" else 1)
  return total


def _subjaxprs(eqn):
  for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
    if key in eqn.params:
      yield eqn.params[key]
  for branch in eqn.params.get("branches", ()):
    yield branch


def run_case(name, config, shapes, description):
  import jax
  import numpy as np

  from mmer_jax.train import losses, optim, state as state_lib, step as step_lib, trainer
  rng = np.random.default_rng(0)
  batch = _batch(config, shapes, rng)
  mesh = step_lib.make_mesh()
  model = trainer.build_model(config)
  tx = optim.make_optimizer(config.optimizer, 100, int(config.num_epochs))
  pos_weight = [1.0] * len(config.task.class_names) if config.loss.get("pos_weight", None) == "auto" else None
  loss_fn = losses.make_loss(config.loss, pos_weight)
  inputs = {k: v for k, v in batch.items() if k != "label"}
  state = step_lib.replicate(state_lib.create(model, tx, inputs, 0), mesh)
  device_batch = step_lib.to_global(batch, mesh)
  train_step = step_lib.make_train_step(model, loss_fn, tx, mesh)
  t0 = time.perf_counter()
  compiled = train_step.lower(state, device_batch).compile()
  compile_s = time.perf_counter() - t0
  xla_flops = trainer._flops(compiled) or 0.0
  flops = jaxpr_flops(jax.make_jaxpr(train_step)(state, device_batch))
  for _ in range(2):
    state, metrics = compiled(state, device_batch)
  jax.block_until_ready(metrics)
  times = []
  for _ in range(_REPEATS.value):
    t0 = time.perf_counter()
    state, metrics = compiled(state, device_batch)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t0)
  best, median = min(times), float(np.median(times))
  size = int(config.input.batch_size)
  print(f"{name:11s} {description}")
  print(f"{'':11s} batch {size}: {size / best:6.1f} samples/s best, {size / median:6.1f} median "
        f"(target >= {TARGETS.get(name, 0)}); compile {compile_s:.1f} s")
  print(f"{'':11s} jaxpr {flops / 1e9:7.2f} GFLOP/step -> {flops / best / 1e9:6.1f} GFLOP/s = "
        f"{100 * flops / best / PEAK:5.1f}% of {PEAK / 1e9:.0f}; XLA cost_analysis {xla_flops / 1e9:.2f} GFLOP/step",
        flush=True)


def main(argv):
  del argv
  import jax
  print(f"devices: {jax.devices()}")
  cases = _cases()
  for name in _CASES.value:
    if name not in cases:
      raise app.UsageError(f"Unknown case {name!r}; known: {', '.join(cases)}.")
    run_case(name, *cases[name])


if __name__ == "__main__":
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()
  app.run(main)
