"""The mmer_jax side: the trainer's own jitted shard_map train and eval steps on the spec's shapes.

Runs in the project virtualenv. Model, loss and optimiser come from each model's config as the
trainer builds them (`trainer.build_model`, `losses.make_loss`, `optim.make_optimizer`); a train
step is `make_train_step` + `float(loss)` (the trainer reads the loss every step, like the
originals' `.item()`), an eval step is `make_eval_step` + `gather` to host numpy, as
`trainer.evaluate_split` does per batch. Inputs are random, every sequence at full length, and
packed (faces / mel pieces) exactly when the config's input pipeline packs them. `build_real` runs
a real-shape plan (real_shapes.py) batched and padded as the config's input pipeline would.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from originals import real_shapes


@dataclasses.dataclass
class Runner:
  train_step: Callable[[], float]
  eval_step: Callable[[], Any]
  info: dict
  # The compiled program per phase, whose HLO text benchmarks/profile_step.py reads.
  compiled: dict = dataclasses.field(default_factory=dict)


def _seq(rng, b, length, dim, name, batch):
  batch[name] = rng.normal(size=(b, length, dim)).astype(np.float32)
  batch[f"{name}_mask"] = np.ones((b, length), bool)


def _labels(config, rng, b, batch):
  classes = len(config.task.class_names) if config.task.get("class_names", None) else config.model.num_classes
  if config.task.type in ("multi_label", "regression"):
    kind = config.task.type
    batch["label"] = ((rng.uniform(size=(b, classes)) < 0.3) if kind == "multi_label"
                      else rng.normal(size=(b, classes))).astype(np.float32)
  else:
    batch["label"] = rng.integers(0, classes, b).astype(np.int32)


def _config_and_batch(spec, rng, tmp: Path):
  d, b = spec.dims, spec.batch
  batch: dict = {}
  if spec.key in ("lf_rnn", "lf_transformer"):
    from configs import lf_mme2e
    config = lf_mme2e.get_config(f"model={'rnn' if spec.key == 'lf_rnn' else 'transformer'},data=cmu_mosei")
    for m in ("text", "audio", "vision"):
      _seq(rng, b, d[m], d[f"{m}_dim"], m, batch)
  elif spec.key in ("mmmla", "mmb", "unimodal_audio", "unimodal_text"):
    from configs import multifocus_mmb, multifocus_mmmla, multifocus_unimodal
    config = {"mmmla": multifocus_mmmla.get_config, "mmb": multifocus_mmb.get_config,
              "unimodal_audio": lambda: multifocus_unimodal.get_config("modality=audio,pooling=attention"),
              "unimodal_text": lambda: multifocus_unimodal.get_config("modality=text,pooling=last")}[spec.key]()
    if spec.key != "unimodal_text":
      _seq(rng, b, d["audio"], d["audio_dim"], "audio", batch)
    if spec.key != "unimodal_audio":
      _seq(rng, b, d["text"], d["text_dim"], "text", batch)
  elif spec.key == "resnet1d":
    from configs import resnet1d_iemocap
    config = resnet1d_iemocap.get_config()
    batch["features"] = rng.normal(size=(b, d["features"])).astype(np.float32)
  elif spec.key == "williams":
    from configs import williams_sample
    config = williams_sample.get_config()
    _seq(rng, b, d["steps"], d["features"], "features", batch)
  elif spec.key == "semor_mocap_cnn":
    from configs import ssl_fusion_iemocap
    config = ssl_fusion_iemocap.get_config("mods=m,mocap_head=cnn")
    batch["mocap"] = rng.normal(size=(b, d["frames"], d["features"])).astype(np.float32)
  elif spec.key == "samsemo_mme2e":
    from configs import mme2e_samsemo
    config = mme2e_samsemo.get_config()
    batch["text"] = rng.normal(size=(b, d["text_dim"])).astype(np.float32)  # the precomputed CLS
    _items(rng, b, d, batch)
  elif spec.key in ("mme2e_upstream", "mesm"):
    from configs import mesm_upstream, mme2e_upstream
    folder = _albert_folder(tmp, d["tokens"])
    config = (mesm_upstream if spec.key == "mesm" else mme2e_upstream).get_config(f"albert={folder}")
    batch["text"] = rng.integers(5, 30000, (b, d["tokens"])).astype(np.int32)
    batch["text_mask"] = np.ones((b, d["tokens"]), bool)
    _items(rng, b, d, batch)
  else:
    raise KeyError(f"no mmer_jax side for {spec.key!r}")
  _labels(config, rng, b, batch)
  pack = config.input.get("pack_items", None)
  if pack:  # as the input pipeline's collate does (mmer_jax/data/pipeline.py)
    from mmer_jax.data import item_packing
    batch = item_packing.pack_batch(batch, dict(pack), jax.local_device_count())
  return config, batch


def _items(rng, b, d, batch):
  batch["vision"] = rng.uniform(0, 255, (b, d["faces"], 48, 48, 3)).astype(np.float32)
  batch["vision_mask"] = np.ones((b, d["faces"]), bool)
  batch["audio"] = rng.normal(size=(b, d["pieces"], 128, 32)).astype(np.float32)
  batch["audio_mask"] = np.ones((b, d["pieces"]), bool)


def _albert_folder(tmp: Path, tokens: int) -> str:
  """A randomly initialised Flax ALBERT-base, the same architecture the torch side builds."""
  from transformers import AlbertConfig, FlaxAlbertModel
  config = AlbertConfig(hidden_size=768, num_attention_heads=12, intermediate_size=3072, embedding_size=128,
                        num_hidden_layers=12, max_position_embeddings=max(512, tokens))
  FlaxAlbertModel(config, seed=0).save_pretrained(tmp / "albert-base-v2")
  return str(tmp / "albert-base-v2")


def build(spec, originals, threads: int) -> Runner:
  del originals, threads  # XLA:CPU uses every core this process may run on
  from mmer_jax.train import losses, optim, state as state_lib, step as step_lib, trainer
  rng = np.random.default_rng(0)
  tmp = Path(tempfile.mkdtemp(prefix="vs_originals_jax_"))
  atexit.register(shutil.rmtree, tmp, ignore_errors=True)
  config, batch = _config_and_batch(spec, rng, tmp)
  mesh = step_lib.make_mesh()
  model = trainer.build_model(config)
  tx = optim.make_optimizer(config.optimizer, 100, int(config.num_epochs))
  classes = batch["label"].shape[-1] if batch["label"].ndim == 2 else None
  pos_weight = [1.0] * classes if config.loss.get("pos_weight", None) == "auto" and classes else None
  loss_fn = losses.make_loss(config.loss, pos_weight)
  inputs = {k: v for k, v in batch.items() if k != "label"}
  state = step_lib.replicate(state_lib.create_for_run(model, tx, inputs, 0), mesh)
  device_batch = step_lib.to_global(batch, mesh)
  # Compiled ahead of time (the same programs the jitted steps run) so that their FLOPs can be
  # read without compiling twice (except for models with GEMM kernel gradients, below).
  train, train_flops = _compile(step_lib.make_train_step(model, loss_fn, tx, mesh), state, device_batch)
  if getattr(model, "gemm_kernel_gradient", False):
    # Those kernel gradients loop over taps, which XLA's cost analysis counts once; the same
    # step with XLA's own kernel gradients does the same arithmetic and is counted in full.
    xla_grads = model.clone(gemm_kernel_gradient=False)
    train_flops = _compile(step_lib.make_train_step(xla_grads, loss_fn, tx, mesh), state, device_batch)[1]
    jax.clear_caches()  # JAX's caches would keep that counting-only executable alive: not the run's memory
  evaluate, eval_flops = _compile(step_lib.make_eval_step(model, loss_fn, mesh), state.variables(), device_batch)
  box = {"state": state}

  def train_step() -> float:
    box["state"], metrics = train(box["state"], device_batch)
    return float(metrics["loss"])

  def eval_step():
    return step_lib.gather(evaluate(box["state"].variables(), device_batch))

  params = sum(x.size for x in jax.tree_util.tree_leaves(state.params))
  return Runner(train_step, eval_step, {"framework": f"jax {jax.__version__}", "devices": jax.device_count(),
                                        "params": int(params), "model": config.model_name,
                                        "flops": {"train": train_flops, "eval": eval_flops}},
                {"train": train, "eval": evaluate})


def _compile(jitted, *args):
  """(compiled step, FLOPs per call): XLA's cost analysis of the compiled program plus the LSTM
  kernels' step matmuls, which it cannot see (`lstm_recurrence.kernel_flops`). Loops XLA keeps as
  while loops are counted once by the cost analysis, so for such models the figure is a lower bound."""
  from mmer_jax import process_env
  from mmer_jax.models.layers import lstm_recurrence
  lowered = jitted.lower(*args)
  compiled = lowered.compile()
  process_env.release_free_heap()  # as the trainer does after each compile
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return compiled, float((cost or {}).get("flops", 0.0)) + lstm_recurrence.kernel_flops(lowered.as_text())


# --- real-shape mode (real_shapes.py) -------------------------------------------------------------

# Real-mode models whose variable inputs are MME2E's: faces and mel pieces (plus token ids upstream).
_MME2E_KEYS = ("mme2e_upstream", "samsemo_mme2e")


def _real_config(spec, tmp: Path):
  if spec.key in ("lf_rnn", "lf_transformer"):
    from configs import lf_mme2e
    return lf_mme2e.get_config(f"model={'rnn' if spec.key == 'lf_rnn' else 'transformer'},data=cmu_mosei")
  if spec.key in ("mmmla", "mmb", "unimodal_audio", "unimodal_text", *_MME2E_KEYS):
    return _config_and_batch(spec, np.random.default_rng(0), tmp)[0]
  raise KeyError(f"no real-shape mode for {spec.key!r}")


def _config_limits(spec, config) -> tuple[dict, dict]:
  """(caps per input, {input: (max_buckets, multiple)} the pipeline would choose buckets for)."""
  pre = config.input.preprocess
  named = bool(config.input.buckets)
  max_buckets = int(config.input.max_buckets or 0)
  if spec.key in _MME2E_KEYS:
    from mmer_jax.data.length_buckets import DEFAULT_MULTIPLE
    from mmer_jax.data.preprocess.mme2e import Mme2eOptions
    caps = {"vision": int(pre.get("max_faces", Mme2eOptions.max_faces)),
            "audio": int(pre.get("max_pieces", Mme2eOptions.max_pieces))}
    if pre.text_input == "ids":  # SAMSEMO's default reads the precomputed CLS vector: no length
      caps["text"] = int(config.text.max_length)
    # mme2e.py length_groups: token ids (text_input="ids") are the one length group.
    groups = {"text": DEFAULT_MULTIPLE} if pre.text_input == "ids" else {}
  else:
    from mmer_jax.data.preprocess import options as preprocess_options
    caps = (dict(pre.max_lengths) if spec.key.startswith("lf_")
            else {"audio": int(pre.max_audio_frames), "text": int(pre.max_text_tokens)})
    groups = {k: g.multiple for k, g in preprocess_options.build(config).length_groups().items()}
  auto = {} if named or max_buckets < 1 else {k: (max_buckets, m) for k, m in list(groups.items())[:1]}
  return caps, auto


def check_real_spec(spec, config) -> None:
  """real_shapes.REAL's copy of the config's batching (caps, buckets, grouping, eval batch, packing)
  must be the config's: launch.py runs the config, the plan's padding rules read the copy."""
  real = real_shapes.REAL[spec.key]
  caps, auto = _config_limits(spec, config)
  buckets = {k: [int(x) for x in v] for k, v in dict(config.input.buckets or {}).items()}
  grouping = config.input.group_by_length
  key = grouping.key if grouping else None
  if key == "auto":  # InputPipeline.grouping: the bucketed input, none without buckets
    key = next(iter(auto), next(iter(buckets), None))
  found = {"caps": {i.name: caps[i.name] for i in real.inputs}, "buckets": buckets, "auto": auto, "group_key": key,
           "eval_batch": int(config.input.eval_batch_size), "pack": sorted(dict(config.input.get("pack_items") or {}))}
  want = {"caps": {i.name: i.cap for i in real.inputs}, "buckets": real.buckets, "auto": real.auto_buckets,
          "group_key": real.group_key, "eval_batch": real.eval_batch, "pack": sorted(real.pack)}
  if found != want:
    raise ValueError(f"real_shapes.REAL[{spec.key!r}] no longer matches its config: {want} vs the config's {found}")


def _real_example(spec, sample: dict, buckets: dict, rng) -> dict:
  """One example as the preprocessor hands it to the pipeline's collate: bucketed inputs at their
  own length, the others padded to the preprocessor's maximum (late_fusion.py pad_or_truncate,
  mme2e.py items_with_mask for faces and mel pieces)."""
  real, d = real_shapes.REAL[spec.key], spec.dims
  ex = {}
  for inp in real.inputs:
    rows = sample[inp.name] if inp.name in buckets else inp.cap
    if spec.key in _MME2E_KEYS:
      item = {"text": (), "vision": (48, 48, 3), "audio": (128, 32)}[inp.name]
      ex[inp.name] = (rng.integers(5, 30000, rows).astype(np.int32) if inp.name == "text"
                      else rng.normal(size=(rows,) + item).astype(np.float32))
    else:
      ex[inp.name] = rng.normal(size=(rows, d[f"{inp.name}_dim"])).astype(np.float32)
    ex[f"{inp.name}_mask"] = np.arange(rows) < sample[inp.name]
  if spec.key == "samsemo_mme2e":  # the precomputed CLS vector: one per scene, whatever its length
    ex["text"] = rng.normal(size=(d["text_dim"],)).astype(np.float32)
  return ex


def _computed_rows(batch: dict, name: str, packed: bool) -> int:
  """Rows the step computes for one input: the packed rows, or batch x padded length."""
  return int(batch[name].shape[0]) if packed else int(np.prod(batch[f"{name}_mask"].shape))


def _compiling_step(step) -> None:
  """A warm-up step, which compiles its shape; then the heap's freed pages go back, as the trainer
  hands them back after each compile (process_env.release_free_heap)."""
  from mmer_jax import process_env
  step()
  process_env.release_free_heap()


def build_real(spec, originals, threads: int, plan: dict) -> real_shapes.RealRunner:
  """The trainer's jitted steps on the plan's samples, batched as launch.py batches them
  (real_shapes.mmer_jax_batches) and padded by the pipeline's own collate. Each distinct shape
  compiles once, in warm-up."""
  del originals, threads
  from mmer_jax.data import item_packing, pipeline
  from mmer_jax.train import losses, optim, state as state_lib, step as step_lib, trainer
  tmp = Path(tempfile.mkdtemp(prefix="vs_originals_jax_"))
  atexit.register(shutil.rmtree, tmp, ignore_errors=True)
  config = _real_config(spec, tmp)
  check_real_spec(spec, config)
  rng = np.random.default_rng(0)
  buckets = real_shapes.buckets_of(spec.key, plan)
  mesh = step_lib.make_mesh()
  model = trainer.build_model(config)
  tx = optim.make_optimizer(config.optimizer, 100, int(config.num_epochs))
  real = real_shapes.REAL[spec.key]
  pack = dict(config.input.get("pack_items") or {})
  device_batches, shapes, rows = {}, {}, {}
  for phase in ("train", "eval"):
    device_batches[phase], real_rows, done = [], 0, 0
    # Only the round's batches are held, once each, on the device (as the torch side holds its
    # tensors): examples are made for the samples a batch uses, and the host copies are dropped. A
    # plan's pool is far larger than a round (real_shapes' docstring), and holding it as examples
    # plus collated batches plus device arrays tripled the data and raised the peak (LF-RNN: ~0.45 GB).
    for b in real_shapes.mmer_jax_batches(spec.key, plan, phase, seed=int(config.seed)):
      batch = pipeline.collate([_real_example(spec, plan[phase][i], buckets, rng) for i in b["indices"]], buckets)
      for name, length in b["shapes"].items():  # the plan's padding is the pipeline's
        if batch[name].shape[1] != length:
          raise AssertionError(f"{phase} {name}: collate padded to {batch[name].shape[1]}, plan says {length}")
      real_rows += sum(plan[phase][i][n] for i, ok in zip(b["indices"], b["valid"]) if ok for n in b["shapes"])
      if pack:  # as InputPipeline._collate
        batch = item_packing.pack_batch(batch, pack, jax.local_device_count())
      done += sum(_computed_rows(batch, n, n in pack) for n in b["shapes"])
      _labels(config, rng, len(b["indices"]), batch)
      device_batches[phase].append(step_lib.to_global(batch, mesh))
    shapes[phase] = sorted({tuple((k, v.shape) for k, v in sorted(b.items()) if k != "label")
                            for b in device_batches[phase]})
    rows[phase] = real_rows / max(done, 1)
  first = device_batches["train"][0]
  classes = first["label"].shape[-1] if first["label"].ndim == 2 else None
  pos_weight = [1.0] * classes if config.loss.get("pos_weight", None) == "auto" and classes else None
  loss_fn = losses.make_loss(config.loss, pos_weight)
  inputs = {k: v for k, v in first.items() if k != "label"}
  state = step_lib.replicate(state_lib.create_for_run(model, tx, inputs, 0), mesh)
  train = step_lib.make_train_step(model, loss_fn, tx, mesh)
  evaluate = step_lib.make_eval_step(model, loss_fn, mesh)
  box = {"state": state}

  # The trainer's own per-shape executables: compiled ahead of time, the heap trimmed after each
  # compile, before the step allocates (a jitted call compiles and runs at once: LF-RNN's first
  # train step then peaked 0.9 GB instead of 0.66).
  compiled = trainer._CompiledSteps(train)  # noqa: SLF001

  def train_step(batch):
    box["state"], metrics = compiled(box["state"], batch)[0](box["state"], batch)
    return float(metrics["loss"])

  def eval_step(batch):
    return step_lib.gather(evaluate(box["state"].variables(), batch))

  steps = {"train": [lambda b=b: train_step(b) for b in device_batches["train"]],
           "eval": [lambda b=b: eval_step(b) for b in device_batches["eval"]]}
  warm = []  # one step per distinct shape and phase: every compile happens before the rounds
  for phase in ("train", "eval"):
    seen = set()
    for b, fn in zip(device_batches[phase], steps[phase]):
      key = tuple((k, v.shape) for k, v in sorted(b.items()))
      if key not in seen:
        seen.add(key)
        warm.append(functools.partial(_compiling_step, fn))
  params = sum(x.size for x in jax.tree_util.tree_leaves(state.params))
  info = {"framework": f"jax {jax.__version__}", "devices": jax.device_count(), "params": int(params),
          "model": config.model_name, "compiles": {p: len(s) for p, s in shapes.items()},
          "shapes": {p: [{k: list(v) for k, v in s} for s in ss] for p, ss in shapes.items()},
          "buckets": buckets, "eval_batch": real.eval_batch, "steps": {p: len(v) for p, v in steps.items()},
          "padding": rows}
  return real_shapes.RealRunner(steps["train"], steps["eval"], warm, {p: len(plan[p]) for p in ("train", "eval")}, info)
