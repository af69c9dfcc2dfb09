r"""The mmer_jax side of benchmarks/vs_pytorch_text.py: configs/text_classifier.py as launch.py runs it, on MELD.

  .venv/bin/python benchmarks/originals/text_jax_side.py --data=<meld.json> --checkpoint=<folder> --warmup=3

Runs in the project virtualenv; spoken to like originals/worker.py (MARKER lines out, one JSON
command per stdin line). The run is assembled by `Experiment.from_config` from
`text_classifier.get_config("text=finetune")` with the utterances as in-memory sources, so the real
InputPipeline chooses and pads to its length buckets, groups training batches by length, and sorts
evaluation batches, exactly as for a built dataset. Changed for MELD only: 7 classes (the rows carry
the index of their emotion, read by a subclass of the text classifier's preprocessor, since no
MELD label scheme exists), train and test splits, no dialog hold-out or slices.

A round is the trainer's own loop body over the next N batches of one continuing run (the pipeline's
epochs one after another): `runtime.agree_shapes` -> `step_lib.to_global` -> the trainer's
per-shape compiled train step (`trainer._CompiledSteps`), with the loss read one step late
(`trainer._LossWatch`) and the last one read at the end, so the time covers every step's work. Then
`trainer.evaluate_split` scores the test split. Before the rounds every training shape of the first
epoch is compiled and --warmup steps and one evaluation run, so compile time is reported apart.
"""

from __future__ import annotations

if __name__ == "__main__":  # before jax loads: glibc reads its tunables at process start only
  import sys as _sys
  from pathlib import Path as _Path
  _sys.path.insert(0, str(_Path(__file__).resolve().parents[2]))
  from mmer_jax.process_env import reexec_with_malloc_tunables
  reexec_with_malloc_tunables()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Iterator, Sequence  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import ml_collections  # noqa: E402

from mmer_jax import batch as batch_keys, registry  # noqa: E402
from mmer_jax.data.preprocess.text_classifier import TextClassifierOptions, TextClassifierPreprocessor  # noqa: E402
from mmer_jax.models import pretrained  # noqa: E402
from mmer_jax.models.text_classifier import classifier_dropout  # noqa: E402
from mmer_jax.train import optim, runtime, step as step_lib, trainer  # noqa: E402
from mmer_jax.train import experiment as experiment_lib  # noqa: E402
from mmer_jax.train.experiment import Experiment  # noqa: E402

MELD_PREPROCESSOR = "vs_pytorch_text_meld"
ENCODER_GROUP = "^text_encoder/"  # configs/text_classifier.py's param_group_lr key for the encoder


class MeldTextPreprocessor(TextClassifierPreprocessor):
  """The text classifier's preprocessor (tokenizer, lengths, buckets) with each row's `label`
  taken as its class index: the driver has already mapped MELD's emotion names to indices."""

  def label(self, example):
    return np.int32(example["label"])


@registry.PREPROCESSORS.register(MELD_PREPROCESSOR)
def make_meld(options: TextClassifierOptions) -> MeldTextPreprocessor:
  return MeldTextPreprocessor(options)


def meld_config(checkpoint: str, classes: Sequence[str]) -> ml_collections.ConfigDict:
  """configs/text_classifier.py's fine-tuning recipe, pointed at in-memory MELD rows."""
  from configs import text_classifier  # noqa: PLC0415
  c = text_classifier.get_config("text=finetune")
  c.text.checkpoint = checkpoint
  c.model.num_classes = len(classes)
  c.task.class_names = list(classes)
  c.input.tfds_name = ""  # in-memory sources
  c.input.splits = ml_collections.ConfigDict(dict(train="train", test="test"))
  c.input.dialog_holdout = None  # in-memory splits: no dialog hold-out, no dialogue context
  c.input.context = None
  c.input.preprocessor = MELD_PREPROCESSOR
  c.input.preprocess.meta_keys = ["id"]
  c.evaluation.slice_by = []
  return c


def recipe(experiment: Experiment) -> dict:
  """What the PyTorch peer must do alike, read from the run this side assembled. A recipe the
  peer does not replicate (another optimiser, schedule or parameter group) stops the benchmark."""
  config, pipeline, model = experiment.config, experiment.pipeline, experiment.model
  experiment_lib.resolve_encoder_lr(config)  # the encoder's default rate follows the checkpoint's width
  opt = config.optimizer
  for key, value in (("name", "adamw"), ("schedule", "warmup_linear")):
    if opt[key] != value:
      raise ValueError(f"config.optimizer.{key}={opt[key]!r}: the PyTorch peer replicates {value!r} only "
                       "(benchmarks/originals/text_torch_side.py).")
  groups = dict(opt.param_group_lr or {})
  if set(groups) - {ENCODER_GROUP}:
    raise ValueError(f"config.optimizer.param_group_lr {sorted(groups)}: the PyTorch peer knows {ENCODER_GROUP!r} only.")
  checkpoint = str(config.text.checkpoint)
  dropout = model.dropout if model.dropout is not None else classifier_dropout(pretrained.load_config(checkpoint))
  return {"checkpoint": checkpoint, "checkpoint_name": "/".join(Path(checkpoint).parts[-2:]),
          "num_classes": int(config.model.num_classes),
          "max_length": int(experiment.preprocessor.max_length), "pooling": model.resolved_pooling(),
          "dropout": float(dropout), "batch_size": int(config.input.batch_size),
          "eval_batch_size": int(pipeline.eval_batch_size), "num_epochs": int(config.num_epochs),
          "steps_per_epoch": int(pipeline.steps_per_epoch), "learning_rate": float(opt.learning_rate),
          "encoder_lr_factor": float(groups.get(ENCODER_GROUP, 1.0)), "weight_decay": float(opt.weight_decay),
          "weight_decay_exclude": opt.weight_decay_exclude, "clip_norm": float(opt.clip_norm),
          "warmup_fraction": float(opt.warmup_fraction), "seed": int(config.seed),
          "b1": float(opt.b1), "b2": float(opt.b2), "eps": float(optim.eps(opt))}


class Runner:
  """One continuing training run of the text classifier and its evaluation on the test split."""

  def __init__(self, data: dict, checkpoint: str, workdir: Path):
    self.config = meld_config(checkpoint, data["classes"])
    self.experiment = exp = Experiment.from_config(self.config, workdir, {"train": data["train"], "test": data["test"]})
    state = trainer.load_pretrained_weights(exp.model, exp.initial_state(), exp.tx)  # a fresh run, as _resume_or_start
    self.state = step_lib.replicate(state, exp.mesh)
    self.compiled = trainer._CompiledSteps(trainer.make_train_step(exp), trainer.passes_of(exp))
    self.eval_step = step_lib.make_eval_step(exp.model, exp.loss_fn, exp.mesh)
    self.batches = self._stream()
    self.step = 0

  def _stream(self) -> Iterator[tuple[int, int, dict]]:
    epoch = 0
    while True:
      for index, batch in enumerate(self.experiment.pipeline.train_epoch(epoch)):
        yield epoch, index, batch
      epoch += 1

  def _device_batch(self, batch: dict) -> dict:
    return step_lib.to_global(runtime.agree_shapes(batch_keys.split_host_meta(batch)[0]), self.experiment.mesh)

  def compile_first_epoch(self) -> None:
    """Compiles the train step for every batch shape of epoch 1 (what training compiles on first sight)."""
    for batch in self.experiment.pipeline.train_epoch(0):
      self.compiled(self.state, self._device_batch(batch))

  def train(self, steps: int) -> dict:
    watch = trainer._LossWatch(self.experiment)
    compile_before, widths = self.compiled.compile_seconds(), []
    t0 = time.perf_counter()
    for _ in range(steps):
      epoch, index, batch = next(self.batches)
      device_batch = self._device_batch(batch)
      widths.append(device_batch["text"].shape[1])
      executable, _, _ = self.compiled(self.state, device_batch)
      self.state, metrics = executable(self.state, device_batch)
      self.step += 1
      watch.push(self.step, epoch + 1, index + 1, metrics["loss"])
    watch.flush()  # the last step's loss: every step has finished
    compile_s = self.compiled.compile_seconds() - compile_before
    return {"train_s": time.perf_counter() - t0 - compile_s, "steps": steps,
            "samples": steps * int(self.config.input.batch_size), "compile_s": compile_s, "loss": watch.mean,
            "padded_length": float(np.mean(widths))}

  def evaluate(self) -> dict:
    t0 = time.perf_counter()
    result = trainer.evaluate_split(self.experiment, "test", self.eval_step, self.state.variables())
    seconds = time.perf_counter() - t0
    return {"eval_s": seconds, "eval_examples": int(result.scalars["num_examples"]),
            "eval_metrics": {k: float(result.scalars[k]) for k in ("accuracy", "f1_weighted", "loss")}}

  def info(self) -> dict:
    pipeline = self.experiment.pipeline
    buckets = getattr(pipeline, "buckets", None)
    if buckets is None:  # a pipeline without data-derived buckets: the config's, if any
      buckets = dict(self.config.input.buckets or {})
    grouping = pipeline.grouping if hasattr(type(pipeline), "grouping") else self.config.input.group_by_length
    shapes = sorted({dict(sig)["text"][1] for sig in self.compiled.by_shape})
    params = sum(x.size for x in jax.tree_util.tree_leaves(self.state.params))
    return {"framework": f"mmer_jax (jax {jax.__version__})", "devices": jax.device_count(), "params": int(params),
            "buckets": {k: [int(x) for x in v] for k, v in dict(buckets).items()},
            "group_by_length": dict(grouping) if grouping else None,
            "train_widths_compiled": [int(x) for x in shapes],
            "compile_s": self.compiled.compile_seconds()}


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--data", required=True, help="JSON {classes, train, test} written by vs_pytorch_text.py.")
  parser.add_argument("--checkpoint", required=True)
  parser.add_argument("--warmup", type=int, default=3)
  args = parser.parse_args()
  from originals.worker import peak_memory_mb, reply  # noqa: PLC0415
  workdir = Path(tempfile.mkdtemp(prefix="vs_pytorch_text_jax_"))
  try:
    t0 = time.perf_counter()
    try:
      runner = Runner(json.loads(Path(args.data).read_text()), args.checkpoint, workdir)
      setup_s = time.perf_counter() - t0
      t0 = time.perf_counter()
      runner.compile_first_epoch()
      runner.train(args.warmup)
      runner.evaluate()
      warmup_s = time.perf_counter() - t0
      ready = {"ready": True, "setup_s": setup_s, "warmup_s": warmup_s, "info": runner.info(),
               "recipe": recipe(runner.experiment), "pid": os.getpid()}
    except Exception as e:  # reported to the driver, which says so and stops
      reply({"error": f"{type(e).__name__}: {e}"})
      raise
    reply(ready)
    for line in sys.stdin:
      cmd = json.loads(line)
      if cmd["cmd"] == "round":
        reply({**runner.train(cmd["steps"]), **runner.evaluate(), "loadavg": os.getloadavg()})
      elif cmd["cmd"] == "quit":
        reply(peak_memory_mb())
        return
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
  main()
