"""`base_config()`: every config field the code reads, each with its one default.

Experiment configs (configs/*.py) start from it and fill in the rest; the code reads the fields as
attributes (`config.optimizer.b1`), never with a default of its own, so a default is stated here and
nowhere else (tests/test_config_fields.py checks that every field read is declared). A run's saved
config.json is completed from it when the run is restored (`complete`), so a run trained before a
field was declared restores with the value that field had then.

Fields that are None and take another type from the command line are placeholders
(`ml_collections.config_dict.placeholder(type)`); optional sections (`input.random_split`,
`input.context`, ...) are None until a config sets them.
"""

from __future__ import annotations

from typing import Any, Mapping

import ml_collections
from ml_collections.config_dict import placeholder

from mmer_jax.train import host_watch

MAX_BUCKETS = 6  # training compiles per run, at most (see base_config's input.buckets)

# Epoch-end actions every run has, in the order they run (mmer_jax/train/epoch_actions.py).
DEFAULT_EVALS = ("validate", "select_best", "early_stop")


def base_config() -> ml_collections.ConfigDict:
  """Every section the trainer reads, with defaults; experiment configs fill in the rest."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.num_epochs = 10
  # Multi-host (README "Multi-host runs"): jax.distributed discovers TPU pods and SLURM by itself;
  # elsewhere give the coordinator, the number of processes and this process's index.
  c.distributed = False
  c.coordinator_address = placeholder(str)
  c.num_processes = placeholder(int)
  c.process_id = placeholder(int)
  # A host silent this long is lost: the others stop, name it and the last complete checkpoint in one
  # line, and exit 69 (README "Multi-host runs"; mmer_jax/train/host_watch.py).
  c.distributed_timeout_s = host_watch.DEFAULT_TIMEOUT_S
  # XLA's persistent compilation cache, off by default: with a folder (e.g. ~/.cache/mmer_jax/xla) a
  # later run with the same shapes loads its compiled steps instead of compiling them (MELD text
  # classifier, 6 buckets: 44 s -> 13 s), but each loaded executable holds more memory than a freshly
  # compiled one (that run's peak 1.88 -> 2.16 GB). MMER_JAX_COMPILATION_CACHE=<folder> sets it too.
  c.compilation_cache_dir = placeholder(str)
  c.stop_after_steps = placeholder(int)
  # A training batch holding more positions of its bucketed input per device (rows x padded length)
  # runs as equal micro-batches with summed gradients: the same update, with the activations of one
  # micro-batch alive instead of the whole batch's (mmer_jax/train/step.py). None: whole batches.
  c.max_tokens_per_pass = placeholder(int)
  c.model_name = ""
  c.model = ml_collections.ConfigDict()
  # "bfloat16": matmuls, convolutions and activations in bfloat16 (for GPU/TPU); parameters, optimiser
  # state, BatchNorm statistics, losses and metrics stay float32 (mmer_jax/models/precision.py).
  c.compute_dtype = "float32"
  c.input = ml_collections.ConfigDict(dict(
      tfds_name="", data_dir="~/tensorflow_datasets", splits=dict(train="train", valid="validation", test="test"),
      preprocessor="", preprocess=ml_collections.ConfigDict(), batch_size=32, eval_batch_size=64,
      num_threads=2, prefetch=4, cache=False, extra_train_sources=[],
      # launch.py builds a missing dataset itself (only samples that need no downloaded release).
      build_if_missing=False,
      # Length buckets (mmer_jax/data/pipeline.py): None = chosen from the training split's lengths
      # of the preprocessor's variable-length input (token ids, waveform, LLD frames), at most
      # `max_buckets` training shapes (compiles) minimising the padded steps; 0 = no buckets (the
      # preprocessor's fixed maximum). On the real transcript lengths (shared spec §7) a training
      # epoch's batches with 6 buckets hold ~1.4x the real tokens, 4 ~1.6x, 2 ~2.3x, against 6.8x at
      # 128 tokens (tests/test_length_buckets.py). A config may name them: {input key: [lengths]}.
      buckets=None, max_buckets=MAX_BUCKETS,
      # Batches of similar lengths ("auto": by the bucketed input, only when there are buckets);
      # None turns it off. Each window of `window_batches` batches is sorted, the batches shuffled.
      group_by_length=ml_collections.ConfigDict(dict(key="auto", window_batches=50)),
      # Several items of a batch row in one shape ({input key: [fractions]}; mmer_jax/data/pipeline.py).
      pack_items=None,
      # The seeds' random protocols instead of the stored splits (pipeline.py `_init_random_split`).
      random_split=None,
      # Seed 003's leak: the scaler / TF-IDF are fitted on every split, test included.
      fit_on_all_splits=False,
      # `splits.valid = "dialog_holdout"`: {fraction, seed, key} of the dialogs carved out of train
      # (mmer_jax/data/dialog_split.py); None = its defaults.
      dialog_holdout=None,
      # Previous turns of the dialog beside each utterance (mmer_jax/data/dialog_context.py).
      context=None,
      # A built manifest's label column and roles (configs/common.py manifest_input).
      manifest=None))
  c.task = ml_collections.ConfigDict(dict(
      type="single_label", class_names=[],
      # multi_label: the grid validation tunes the per-class thresholds on.
      threshold_step=0.005,
      # regression: the first column scored (seed 001 drops its sentiment column), and whether the
      # scores add a "no emotion" column.
      eval_from_column=0, neutral_class=True))
  c.loss = ml_collections.ConfigDict(dict(name="softmax_ce", pos_weight=None, double_softmax=False))
  c.optimizer = ml_collections.ConfigDict(dict(
      name="adam", learning_rate=1e-3, weight_decay=0.0, clip_norm=None, schedule="constant", param_group_lr={},
      # Adam / AdamW moments, SGD momentum (0: none), RMSprop decay; eps None: the optimiser's usual
      # (mmer_jax/train/optim.py DEFAULT_EPS).
      b1=0.9, b2=0.999, eps=placeholder(float), momentum=0.0, rho=0.9,
      # Warm-up of the warmup_* schedules: `warmup_fraction` of all steps when set, else `warmup_epochs`.
      warmup_fraction=placeholder(float), warmup_epochs=1.0,
      # schedule="step": the rate times `decay_factor` every `decay_epochs` epochs.
      decay_epochs=20, decay_factor=0.1,
      # Regex of the parameters without weight decay (BERT practice: biases and norm scales).
      weight_decay_exclude=placeholder(str)))
  # selection_metric / mode / early_stopping_patience are the user's knobs of the default epoch-end
  # actions below (they refer to these fields).
  c.evaluation = ml_collections.ConfigDict(dict(
      selection_metric="loss", mode="min", early_stopping_patience=placeholder(int), slice_by=[]))
  # restart=True discards a run in the workdir that cannot be resumed, instead of refusing to start.
  c.checkpoint = ml_collections.ConfigDict(dict(keep_best=1, every_steps=0, also_best=[], restart=False))
  # Epoch-end actions, {name: dict(type=..., options)} (mmer_jax/train/epoch_actions.py): validate,
  # select the best checkpoint, stop early, and whatever a config adds.
  c.evals = ml_collections.ConfigDict()
  default_evals(c)
  c.init_from = []
  return c


def default_evals(config: ml_collections.ConfigDict) -> None:
  """Adds validate / select_best / early_stop to `config.evals`, referring to `config.evaluation`'s
  fields, so `--config.evaluation.selection_metric=...` (or a run-time change of it) reaches them."""
  for name, spec in _default_specs(config.evaluation.get_ref).items():
    config.evals[name] = spec


def _default_specs(field) -> dict[str, dict]:
  """The default actions' specs, each option `field(<evaluation field name>)`."""
  return dict(validate=dict(type="validate", split="valid"),
              select_best=dict(type="select_best", split="valid", metric=field("selection_metric"),
                               mode=field("mode")),
              early_stop=dict(type="early_stop", metric=field("selection_metric"),
                              patience=field("early_stopping_patience")))


def complete(saved: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """A run's saved config with the fields it lacks (declared since it was written) at their defaults;
  the default epoch-end actions it lacks follow its own `evaluation` section."""
  defaults = base_config().to_dict()
  del defaults["evals"]
  config = ml_collections.ConfigDict(_merged(defaults, saved))
  declared = dict(saved.get("evals") or {})  # a saved config's own actions win over the defaults
  config.evals = ml_collections.ConfigDict({**_default_specs(config.evaluation.get), **declared})
  return config


def _merged(defaults: Mapping[str, Any], saved: Mapping[str, Any]) -> dict:
  merged = dict(saved)
  for key, default in defaults.items():
    if key not in merged:
      merged[key] = default
    elif isinstance(default, Mapping) and isinstance(merged[key], Mapping):
      merged[key] = _merged(default, merged[key])
  return merged
