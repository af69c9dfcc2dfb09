"""Shared config pieces: the default sections and the `get_config(arg)` argument parser."""

from __future__ import annotations

import ml_collections


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses 'smoke,variant=a,steps=10' into typed fields, like big_vision's configs."""
  parsed = ml_collections.ConfigDict(defaults)
  for token in filter(None, (arg or "").split(",")):
    key, eq, value = token.partition("=")
    if key not in defaults:
      raise ValueError(f"Unknown config argument {key!r}; known: {', '.join(sorted(defaults))}.")
    if not eq:
      parsed[key] = True
    else:
      parsed[key] = type(defaults[key])(value) if not isinstance(defaults[key], bool) else value.lower() in (
          "1", "true", "yes")
  return parsed


def base_config() -> ml_collections.ConfigDict:
  """Every section the trainer reads, with defaults; experiment configs fill in the rest."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.num_epochs = 10
  # Multi-host (README "Multi-host runs"): jax.distributed discovers TPU pods and SLURM by itself;
  # elsewhere give the coordinator, the number of processes and this process's index.
  c.distributed = False
  c.coordinator_address = ml_collections.config_dict.placeholder(str)
  c.num_processes = ml_collections.config_dict.placeholder(int)
  c.process_id = ml_collections.config_dict.placeholder(int)
  c.compilation_cache_dir = ml_collections.config_dict.placeholder(str)
  c.stop_after_steps = ml_collections.config_dict.placeholder(int)
  c.model_name = ""
  c.model = ml_collections.ConfigDict()
  c.input = ml_collections.ConfigDict(dict(
      tfds_name="", data_dir="~/tensorflow_datasets", splits=dict(train="train", valid="validation", test="test"),
      preprocessor="", preprocess=ml_collections.ConfigDict(), batch_size=32, eval_batch_size=64,
      num_threads=2, prefetch=4, cache=False, extra_train_sources=[]))
  c.task = ml_collections.ConfigDict(dict(type="single_label", class_names=[]))
  c.loss = ml_collections.ConfigDict(dict(name="softmax_ce", pos_weight=None, double_softmax=False))
  c.optimizer = ml_collections.ConfigDict(dict(
      name="adam", learning_rate=1e-3, weight_decay=0.0, clip_norm=None, schedule="constant", param_group_lr={}))
  c.evaluation = ml_collections.ConfigDict(dict(
      selection_metric="loss", mode="min", early_stopping_patience=None, slice_by=[]))
  # restart=True discards a run in the workdir that cannot be resumed, instead of refusing to start.
  c.checkpoint = ml_collections.ConfigDict(dict(keep_best=1, every_steps=0, also_best=[], restart=False))
  # Epoch-end actions beyond validate / select best / early stop: {name: dict(type=...)}
  # (mmer_jax/train/epoch_actions.py).
  c.evals = ml_collections.ConfigDict()
  c.init_from = []
  return c
