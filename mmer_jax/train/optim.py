"""Optimisers from `config.optimizer`: schedules, weight decay as the original framework applies it,
gradient clipping, and per-parameter-group learning rates (e.g. MME2E's text encoder at lr/10).

Fields beyond name / learning_rate / weight_decay / clip_norm / schedule:
- `param_group_lr` {regex searched in the '/'-joined parameter path: lr factor}, disjoint regexes;
  factor 0 freezes. A regex that matches no parameter is an error: a misspelt group would otherwise
  silently leave the layers it meant at the default rate.
- `warmup_fraction` (share of all steps) or `warmup_epochs`: linear warm-up of the warmup_* schedules.
- `weight_decay_exclude`: regex of parameters without weight decay (BERT practice: biases and
  LayerNorm scales).
"""

from __future__ import annotations

import re
from typing import Any

import flax.traverse_util
import jax
import optax
from ml_collections import ConfigDict

from mmer_jax import checkpoint_folder

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "warmup_linear", "step")
# `optimizer.eps` None: the optimiser's usual epsilon (RMSprop's as Keras sets it).
DEFAULT_EPS = {"adam": 1e-8, "adamw": 1e-8, "rmsprop": 1e-7}


# The encoder learning rate fine-tunes usually use by width: small encoders (MiniLM's 384, BERT-small)
# take larger steps than BERT-base (768: 2e-5..5e-5 in BERT's own grid) or large models (1024+).
FINETUNE_LEARNING_RATES = ((512, 5e-5), (768, 3e-5), (None, 1.5e-5))


def finetune_learning_rate(checkpoint: str) -> float:
  """The learning rate to fine-tune this checkpoint's encoder with (`config.text.encoder_lr_factor`
  None): FINETUNE_LEARNING_RATES by its hidden size. MELD, all-MiniLM-L6-v2: 5e-5 reached a test
  weighted F1 of 61.0 in 4 epochs (configs/text_classifier.py)."""
  width = checkpoint_folder.hidden_size(checkpoint)
  return next(rate for limit, rate in FINETUNE_LEARNING_RATES if limit is None or width <= limit)


def warmup_steps(cfg: ConfigDict, steps_per_epoch: int, total: int) -> int:
  """Warm-up length: `warmup_fraction` of all steps when set, else `warmup_epochs`."""
  fraction = cfg.warmup_fraction
  steps = round(float(fraction) * total) if fraction is not None else int(cfg.warmup_epochs * steps_per_epoch)
  return max(1, int(steps))


def make_schedule(cfg: ConfigDict, steps_per_epoch: int, num_epochs: int) -> optax.Schedule:
  lr = float(cfg.learning_rate)
  name = cfg.schedule
  total = max(1, steps_per_epoch * num_epochs)
  if name == "constant":
    return optax.constant_schedule(lr)
  if name == "cosine":
    return optax.cosine_decay_schedule(lr, total)
  if name == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps(cfg, steps_per_epoch, total), total)
  if name == "warmup_linear":  # BERT's schedule: 0 -> lr over the warm-up, then linearly to 0 at the end
    warmup = warmup_steps(cfg, steps_per_epoch, total)
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup),
                                 optax.linear_schedule(lr, 0.0, max(1, total - warmup))], [warmup])
  if name == "step":  # multiply by `decay_factor` every `decay_epochs` (MME2E's `when`).
    every = int(cfg.decay_epochs) * steps_per_epoch
    return optax.exponential_decay(lr, every, float(cfg.decay_factor), staircase=True)
  raise ValueError(f"config.optimizer.schedule={name!r}; known schedules: {', '.join(SCHEDULES)}.")


def _path(key_path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in key_path)


def _decay_mask(cfg: ConfigDict):
  """None (decay everything), or a function marking the parameters that get weight decay."""
  exclude = cfg.weight_decay_exclude
  if not exclude:
    return None
  rx = re.compile(exclude)
  return lambda params: jax.tree_util.tree_map_with_path(lambda p, _: not rx.search(_path(p)), params)


def eps(cfg: ConfigDict) -> float:
  """The optimiser's epsilon: `optimizer.eps`, or its usual one when None."""
  return DEFAULT_EPS[cfg.name] if cfg.eps is None else cfg.eps


def _base(cfg: ConfigDict, lr: Any) -> optax.GradientTransformation:
  name = cfg.name
  wd = float(cfg.weight_decay)
  mask = _decay_mask(cfg)
  # PyTorch's Adam/SGD/RMSprop `weight_decay` is an L2 term added to the gradient (coupled);
  # `adamw` is the decoupled variant.
  coupled = [optax.add_decayed_weights(wd, mask=mask)] if wd and name != "adamw" else []
  if name == "adam":
    opt = optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=eps(cfg))
  elif name == "adamw":
    opt = optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=eps(cfg), weight_decay=wd, mask=mask)
  elif name == "sgd":
    opt = optax.sgd(lr, momentum=cfg.momentum or None)
  elif name == "rmsprop":
    opt = optax.rmsprop(lr, decay=cfg.rho, eps=eps(cfg))
  else:
    raise ValueError(f"config.optimizer.name={name!r}; known optimizers: {', '.join(OPTIMIZERS)}.")
  return optax.chain(*coupled, opt)


def _scaled(schedule: optax.Schedule, factor: float) -> optax.Schedule:
  return lambda step: schedule(step) * factor


class ParamGroupError(ValueError):
  """A `param_group_lr` regex selects no parameter of the model."""


def param_group_labels(params: Any, groups: dict[str, float]) -> Any:
  """Labels each parameter with the regex (searched in its '/'-joined path) that matches, else 'default'.

  Raises ParamGroupError when a regex labels nothing, naming it and the model's top-level parameter
  names, or when a parameter matches two regexes: ConfigDict keeps keys sorted, so "the first
  match" would be an accident of spelling; the groups must be disjoint.
  """
  patterns = [(re.compile(p), p) for p in groups]
  flat = flax.traverse_util.flatten_dict(params, sep="/")
  labels = {}
  for path in flat:
    hits = [name for rx, name in patterns if rx.search(path)]
    if len(hits) > 1:
      raise ParamGroupError(f"config.optimizer.param_group_lr: parameter {path!r} matches several groups "
                            f"{hits}; make the regexes disjoint.")
    labels[path] = hits[0] if hits else "default"
  unused = [name for _, name in patterns if name not in set(labels.values())]
  if unused:
    raise ParamGroupError(
        f"config.optimizer.param_group_lr: group {unused[0]!r} matches no parameter. The model's top-level "
        f"parameters are {sorted(params)}; regexes are searched in the '/'-joined paths, e.g. "
        f"{next(iter(flat), '')!r}.")
  return flax.traverse_util.unflatten_dict(labels, sep="/")


def make_optimizer(cfg: ConfigDict, steps_per_epoch: int, num_epochs: int) -> optax.GradientTransformation:
  schedule = make_schedule(cfg, steps_per_epoch, num_epochs)
  groups = dict(cfg.param_group_lr or {})
  if groups:
    transforms = {"default": _base(cfg, schedule)}
    for pattern, factor in groups.items():
      # A factor of 0 freezes the group (e.g. a frozen pretrained encoder).
      transforms[pattern] = optax.set_to_zero() if factor == 0 else _base(cfg, _scaled(schedule, factor))
    tx = optax.multi_transform(transforms, lambda params: param_group_labels(params, groups))
  else:
    tx = _base(cfg, schedule)
  clip = cfg.clip_norm
  if clip:
    tx = optax.chain(optax.clip_by_global_norm(float(clip)), tx)
  return tx
