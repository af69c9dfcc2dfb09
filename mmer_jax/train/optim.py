"""Optimisers from `config.optimizer`: schedules, weight decay as the original framework applies it,
gradient clipping, and per-parameter-group learning rates (e.g. MME2E's text encoder at lr/10)."""

from __future__ import annotations

import re
from typing import Any

import flax.traverse_util
import jax
import optax
from ml_collections import ConfigDict

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "step")


def make_schedule(cfg: ConfigDict, steps_per_epoch: int, num_epochs: int) -> optax.Schedule:
  lr = float(cfg.learning_rate)
  name = cfg.get("schedule", "constant")
  total = max(1, steps_per_epoch * num_epochs)
  if name == "constant":
    return optax.constant_schedule(lr)
  if name == "cosine":
    return optax.cosine_decay_schedule(lr, total)
  if name == "warmup_cosine":
    warmup = int(cfg.get("warmup_epochs", 1) * steps_per_epoch)
    return optax.warmup_cosine_decay_schedule(0.0, lr, max(1, warmup), total)
  if name == "step":  # multiply by `decay_factor` every `decay_epochs` (MME2E's `when`).
    every = int(cfg.get("decay_epochs", 20)) * steps_per_epoch
    return optax.exponential_decay(lr, every, float(cfg.get("decay_factor", 0.1)), staircase=True)
  raise ValueError(f"config.optimizer.schedule={name!r}; known schedules: {', '.join(SCHEDULES)}.")


def _base(cfg: ConfigDict, lr: Any) -> optax.GradientTransformation:
  name = cfg.name
  wd = float(cfg.get("weight_decay", 0.0))
  # PyTorch's Adam/SGD/RMSprop `weight_decay` is an L2 term added to the gradient (coupled);
  # `adamw` is the decoupled variant.
  coupled = [optax.add_decayed_weights(wd)] if wd and name != "adamw" else []
  if name == "adam":
    opt = optax.adam(lr, b1=cfg.get("b1", 0.9), b2=cfg.get("b2", 0.999), eps=cfg.get("eps", 1e-8))
  elif name == "adamw":
    opt = optax.adamw(lr, weight_decay=wd)
  elif name == "sgd":
    opt = optax.sgd(lr, momentum=cfg.get("momentum", 0.0) or None)
  elif name == "rmsprop":
    opt = optax.rmsprop(lr, decay=cfg.get("rho", 0.9), eps=cfg.get("eps", 1e-7))
  else:
    raise ValueError(f"config.optimizer.name={name!r}; known optimizers: {', '.join(OPTIMIZERS)}.")
  return optax.chain(*coupled, opt)


def _scaled(schedule: optax.Schedule, factor: float) -> optax.Schedule:
  return lambda step: schedule(step) * factor


def param_group_labels(params: Any, groups: dict[str, float]) -> Any:
  """Labels each parameter with the first regex (on its '/'-joined path) that matches, else 'default'."""
  patterns = [(re.compile(p), p) for p in groups]
  flat = flax.traverse_util.flatten_dict(params, sep="/")
  labels = {path: next((name for rx, name in patterns if rx.search(path)), "default") for path in flat}
  return flax.traverse_util.unflatten_dict(labels, sep="/")


def make_optimizer(cfg: ConfigDict, steps_per_epoch: int, num_epochs: int) -> optax.GradientTransformation:
  schedule = make_schedule(cfg, steps_per_epoch, num_epochs)
  groups = dict(cfg.get("param_group_lr", None) or {})
  if groups:
    transforms = {"default": _base(cfg, schedule)}
    for pattern, factor in groups.items():
      # A factor of 0 freezes the group (e.g. a frozen pretrained encoder).
      transforms[pattern] = optax.set_to_zero() if factor == 0 else _base(cfg, _scaled(schedule, factor))
    tx = optax.multi_transform(transforms, lambda params: param_group_labels(params, groups))
  else:
    tx = _base(cfg, schedule)
  clip = cfg.get("clip_norm", None)
  if clip:
    tx = optax.chain(optax.clip_by_global_norm(float(clip)), tx)
  return tx


def learning_rate_at(cfg: ConfigDict, steps_per_epoch: int, num_epochs: int, step: int) -> float:
  return float(jax.device_get(make_schedule(cfg, steps_per_epoch, num_epochs)(step)))
