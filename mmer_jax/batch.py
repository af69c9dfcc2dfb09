"""The batch contract: the keys and shapes a preprocessed batch carries between data, models and train.

A leaf module (imports nothing of mmer_jax), so `models`, `data`, `train` and `predict` agree on one
definition instead of repeating literals:

- model inputs by modality (`text`, `audio`, `vision`, `mocap`, `features`, ...) with `<key>_mask`
  (bool, True = valid) where lengths vary;
- `label`: int32 class id (single-label) or float32 (C,) (multi-label, regression);
- `_valid`: bool per example; evaluation pads its last batch with copies flagged False;
- `meta/<name>`: host-only strings (ids, slices), never sent to a device;
- packed items (MME2E's faces and mel pieces, see mmer_jax/data/item_packing.py):
  `<key>` (P, ...) real items, `<key>_index` (B, S) slot -> row, `<key>_item_valid` (P,).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

LABEL_KEY = "label"
VALID_KEY = "_valid"
META_PREFIX = "meta/"
MASK_SUFFIX = "_mask"
INDEX_SUFFIX = "_index"
ITEM_VALID_SUFFIX = "_item_valid"


def largest_part(total: int, unit: int, limit: int) -> int:
  """The largest divisor d of `total` with d x `unit` <= `limit`; 1 when none fits. Splits `total`
  items (rows, sequences) into equal parts that each hold at most `limit` values of `unit` each."""
  return max(d for d in range(1, total + 1) if total % d == 0 and (d == 1 or d * unit <= limit))


def bucket_sizes(total: int, fractions: Sequence[float]) -> list[int]:
  """`ceil(f * total)` for each fraction, plus `total` itself, ascending (the full size always fits)."""
  return sorted({min(total, max(1, math.ceil(f * total))) for f in fractions} | {total})


def split_host_meta(batch: Mapping) -> tuple[dict, dict]:
  """(device arrays: model inputs + label + _valid, host-only `meta/*` values)."""
  device = {k: v for k, v in batch.items() if not k.startswith(META_PREFIX)}
  meta = {k: v for k, v in batch.items() if k.startswith(META_PREFIX)}
  return device, meta


def model_inputs(batch: Mapping) -> dict:
  """What the model's `__call__` receives: everything but the label, the valid flags and metadata."""
  return {k: v for k, v in batch.items()
          if k not in (LABEL_KEY, VALID_KEY) and not k.startswith(META_PREFIX)}
