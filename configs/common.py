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
  c.distributed = False
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
  # threshold_protocol (multi-label): "valid" (clean) or "samsemo"; see mmer_jax/metrics/evaluate.py.
  c.evaluation = ml_collections.ConfigDict(dict(
      selection_metric="loss", mode="min", early_stopping_patience=None, slice_by=[],
      threshold_protocol="valid"))
  c.checkpoint = ml_collections.ConfigDict(dict(keep_best=1, every_steps=0, also_best=[]))
  c.init_from = []
  return c
