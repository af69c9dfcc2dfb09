"""Host-side packing of per-utterance items (faces, mel pieces) so the model encodes only real ones.

MME2E encodes every face and every 0.4 s mel piece with a CNN, then a transformer reads the
sequence. A batch holds each utterance's items padded to a fixed count: on SAMSEMO about 68% of
face slots and 51% of mel-piece slots are real, so padded slots would take ~40% of the CNN work.
The originals encode only the real items; this does the same before the step, on the host:

  batch[key]             (B, S, ...)  ->  (shards * P, ...)  the valid items of each device's share
                                          of the batch, in order, then zero padding up to P
  batch[key_index]       (B, S) int32     where each slot's item sits within its device's P items
                                          (P - 1 for padded slots, which the mask hides)
  batch[key_item_valid]  (shards * P,)    which packed rows are real (BatchNorm statistics use these)

`batch[key_mask]` keeps its meaning. P is the smallest bucket `ceil(f * per-shard slots)` over
`fractions` that holds the fullest shard, so every device gets the same shape and a handful of
shapes get compiled. The data-parallel step splits every input along axis 0, so packing is done
per device share of the batch: each device's indices point into its own P rows.
Multi-host runs keep the full size (P = per-shard slots): hosts pack their batches independently,
and buckets chosen per host could disagree in shape.
"""

from __future__ import annotations

from typing import Mapping, MutableMapping, Sequence

import numpy as np

from mmer_jax.batch import INDEX_SUFFIX, ITEM_VALID_SUFFIX, MASK_SUFFIX, bucket_sizes


def packed_size(valid_counts: Sequence[int], slots_per_shard: int, fractions: Sequence[float]) -> int:
  """The smallest bucket holding every shard's valid items."""
  need = max(valid_counts, default=0)
  return next(size for size in bucket_sizes(slots_per_shard, fractions) if size >= need)


def pack_items(batch: MutableMapping[str, np.ndarray], key: str, shards: int,
               fractions: Sequence[float]) -> MutableMapping[str, np.ndarray]:
  """Packs `batch[key]` (B, S, ...) by `batch[key + '_mask']` in place; see the module docstring."""
  mask_key = key + MASK_SUFFIX
  if key not in batch or mask_key not in batch:
    raise KeyError(f"input.pack_items names {key!r}, but the batch has no {key!r} with {mask_key!r} "
                   f"(keys: {sorted(batch)}).")
  items, mask = np.asarray(batch[key]), np.asarray(batch[mask_key]).astype(bool)
  batch_size, slots = mask.shape
  if batch_size % shards:
    raise ValueError(f"Batch of {batch_size} does not split over {shards} devices.")
  per_shard = batch_size // shards
  shard_masks = mask.reshape(shards, per_shard * slots)
  size = packed_size(shard_masks.sum(1).tolist(), per_shard * slots, fractions)
  packed = np.zeros((shards, size) + items.shape[2:], items.dtype)
  item_valid = np.zeros((shards, size), bool)
  index = np.full((shards, per_shard * slots), size - 1, np.int32)
  shard_items = items.reshape((shards, per_shard * slots) + items.shape[2:])
  for shard in range(shards):
    (real,) = np.nonzero(shard_masks[shard])
    packed[shard, :len(real)] = shard_items[shard, real]
    item_valid[shard, :len(real)] = True
    index[shard, real] = np.arange(len(real), dtype=np.int32)
  batch[key] = packed.reshape((shards * size,) + items.shape[2:])
  batch[key + INDEX_SUFFIX] = index.reshape(batch_size, slots)
  batch[key + ITEM_VALID_SUFFIX] = item_valid.reshape(-1)
  return batch


def pack_batch(batch: MutableMapping[str, np.ndarray], pack: Mapping[str, Sequence[float]], shards: int,
               hosts: int = 1) -> MutableMapping[str, np.ndarray]:
  """Applies `pack_items` to every key of `input.pack_items` ({key: bucket fractions})."""
  for key, fractions in pack.items():
    pack_items(batch, key, shards, fractions if hosts == 1 else (1.0,))
  return batch
