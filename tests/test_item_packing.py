"""Host-side item packing: buckets, per-device shares, indices that restore every real item."""

import numpy as np
import pytest

from mmer_jax.data import item_packing


def _batch(rng, counts, slots=4):
  items = rng.normal(size=(len(counts), slots, 3, 2)).astype(np.float32)
  mask = np.arange(slots)[None] < np.asarray(counts)[:, None]
  return {"vision": items, "vision_mask": mask, "label": np.arange(len(counts))}


def test_packed_size_is_the_smallest_bucket_that_holds_the_fullest_shard():
  assert item_packing.packed_size([5, 3], 16, (0.25, 0.5, 1.0)) == 8
  assert item_packing.packed_size([4], 16, (0.25, 0.5, 1.0)) == 4
  assert item_packing.packed_size([9], 16, (0.25, 0.5)) == 16     # the full size always fits
  assert item_packing.packed_size([0], 16, (0.25,)) == 4


@pytest.mark.parametrize("shards", [1, 2])
def test_indices_restore_every_real_item_within_its_shard(shards):
  rng = np.random.default_rng(0)
  batch = _batch(rng, [1, 4, 0, 2])
  original = {k: v.copy() for k, v in batch.items()}
  item_packing.pack_items(batch, "vision", shards, (0.25, 0.5, 0.75, 1.0))
  per_shard = 4 // shards * 4
  size = batch["vision"].shape[0] // shards
  # shards=1: 7 real of 16 slots -> the 0.5 bucket (8); shards=2: 5 and 2 real of 8 -> 0.75 (6)
  assert size == {1: 8, 2: 6}[shards] and size <= per_shard
  assert batch["vision_item_valid"].sum() == 7 and batch["vision_item_valid"].shape == (shards * size,)
  packed = batch["vision"].reshape((shards, size) + batch["vision"].shape[1:])
  index = batch["vision_index"].reshape(shards, -1, 4)
  mask = original["vision_mask"].reshape(shards, -1, 4)
  for s in range(shards):
    restored = packed[s][index[s]]                       # what the model's gather does per device
    np.testing.assert_array_equal(restored[mask[s]], original["vision"].reshape((shards, -1, 4, 3, 2))[s][mask[s]])
    assert (index[s][~mask[s]] == size - 1).all()
  np.testing.assert_array_equal(batch["vision_mask"], original["vision_mask"])  # unchanged
  np.testing.assert_array_equal(batch["label"], original["label"])


def test_multi_host_keeps_the_full_size_and_missing_keys_are_named():
  batch = _batch(np.random.default_rng(1), [1, 1])
  item_packing.pack_batch(batch, {"vision": (0.25,)}, shards=1, hosts=2)
  assert batch["vision"].shape[0] == 8                   # 2 utterances x 4 slots, not the 0.25 bucket
  with pytest.raises(KeyError, match="'audio'.*'audio_mask'"):
    item_packing.pack_items(_batch(np.random.default_rng(1), [1]), "audio", 1, (1.0,))
  with pytest.raises(ValueError, match="does not split over 2 devices"):
    item_packing.pack_items(_batch(np.random.default_rng(1), [1, 2, 3]), "vision", 2, (1.0,))
