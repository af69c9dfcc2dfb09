"""Splits for a manifest without a split column: seeded, by group, with the given ratios.

Whole groups (dialogs or speakers) go to one split, so no conversation or voice is seen in training
and scored in test. Groups are shuffled with the seed from their sorted names (the draw does not
depend on the row order), then filled into train, validation and test in turn until each reaches
its share of the rows. Rows without a group value are groups of their own.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mmer_jax.errors import ConfigError


def check_ratios(ratios: Sequence[float], names: Sequence[str]) -> tuple[float, ...]:
  ratios = tuple(float(r) for r in ratios)
  if len(ratios) != len(names) or any(r < 0 for r in ratios) or not 0.999 <= sum(ratios) <= 1.001:
    raise ConfigError(f"--option split_ratios={ratios}: give {len(names)} non-negative shares for "
                      f"{', '.join(names)} that sum to 1, e.g. split_ratios=0.8,0.1,0.1.")
  return ratios


def assign(groups: Sequence[str], ratios: Sequence[float], seed: int, names: Sequence[str]) -> list[str]:
  """The split of each row, given the row's group key; every row of a group gets the same split."""
  sizes: dict[str, int] = {}
  for g in groups:
    sizes[g] = sizes.get(g, 0) + 1
  order = sorted(sizes)
  shuffled = [order[i] for i in np.random.default_rng(seed).permutation(len(order))]
  bounds = np.cumsum(ratios) * len(groups)
  split_of: dict[str, str] = {}
  filled = 0
  for group in shuffled:
    # The first split whose share is not yet full; a group never straddles two.
    index = min(int(np.searchsorted(bounds, filled, side="right")), len(names) - 1)
    split_of[group] = names[index]
    filled += sizes[group]
  empty = [name for name, r in zip(names, ratios) if r > 0 and name not in split_of.values()]
  if empty:
    raise ConfigError(f"split_ratios={tuple(ratios)} over {len(order)} groups leaves {', '.join(empty)} empty: "
                      "use more data, other ratios, or split_by=row.")
  return [split_of[g] for g in groups]
