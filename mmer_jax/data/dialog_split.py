"""Validation as a seeded share of the training DIALOGS (IEMOCAP's usual protocol: Sessions 1-4 train
with some dialogs held out for model selection, Session 5 test).

Whole dialogs go to one side: utterances of one conversation share speakers, topic and often
wording, so splitting inside a dialog would let validation flatter the model.

Configs ask for it with
  config.input.splits.valid = HOLDOUT    # "dialog_holdout": no stored split has this name
  config.input.dialog_holdout = {"fraction": 0.1, "seed": 0, "key": "dialog"}
and the input pipeline, instead of reading a stored `valid` split, builds it from `train` with
`holdout_sources`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from ml_collections import ConfigDict

from mmer_jax.data.views import IndexedSource

HOLDOUT = "dialog_holdout"


def _text(value: Any) -> str:
  """TFDS Text features come back as bytes, in-memory fixtures may hold str. (Not imported from
  preprocess.base: configs import this module, and the preprocess package imports every preprocessor.)"""
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def held_out_dialogs(dialogs: Sequence[str], fraction: float, seed: int) -> list[str]:
  """round(fraction x number of distinct dialogs) of them (at least one, never all), drawn with `seed`
  from the sorted dialog names, so the draw does not depend on the order the examples are stored in."""
  unique = sorted(set(dialogs))
  if len(unique) < 2:
    raise ValueError(f"A dialog hold-out needs at least 2 dialogs in the training split, found {len(unique)}.")
  if not 0.0 < fraction < 1.0:
    raise ValueError(f"dialog_holdout.fraction={fraction}; use a share between 0 and 1.")
  count = min(len(unique) - 1, max(1, round(fraction * len(unique))))
  chosen = np.random.default_rng(seed).choice(len(unique), size=count, replace=False)
  return sorted(unique[i] for i in chosen)


def split_indices(source: Sequence[Mapping[str, Any]], fraction: float, seed: int,
                  key: str = "dialog") -> tuple[np.ndarray, np.ndarray]:
  """(train, valid) example indices of `source`; every example of a held-out dialog is in valid."""
  dialogs = [_text(source[i][key]) for i in range(len(source))]
  held = set(held_out_dialogs(dialogs, fraction, seed))
  in_valid = np.asarray([d in held for d in dialogs], bool)
  return np.flatnonzero(~in_valid), np.flatnonzero(in_valid)


def split_source(source: Sequence[Mapping[str, Any]], fraction: float = 0.1, seed: int = 0,
                 key: str = "dialog") -> tuple[Sequence[Any], Sequence[Any]]:
  """`source` as (train, valid) random-access views."""
  train, valid = split_indices(source, float(fraction), int(seed), key)
  return IndexedSource(source, train), IndexedSource(source, valid)


def holdout_sources(input_cfg: ConfigDict, raw: Mapping[str, Sequence[Any]]) -> dict[str, Sequence[Any]]:
  """The splits with `valid` carved out of `train` when the config asks for a dialog hold-out
  (`input.splits.valid == HOLDOUT`) and `raw` has no `valid` yet (in-memory sources may bring their
  own); otherwise `raw` unchanged. Call it before appending extra training sources (generated
  clips have no dialog)."""
  out = dict(raw)
  # `splits` maps split names to stored splits; a config may leave one out (pipeline.InputPipeline.splits).
  if dict(input_cfg.splits).get("valid") != HOLDOUT or "valid" in raw:
    return out
  options = dict(input_cfg.dialog_holdout or {})
  out["train"], out["valid"] = split_source(raw["train"], **options)
  return out
