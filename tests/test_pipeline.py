"""Padding/masks, per-host sharding, exact resume positions and once-only evaluation."""

import numpy as np
import pytest

from mmer_jax.batch import VALID_KEY
from mmer_jax.data import pipeline as pipeline_lib
from mmer_jax.data.preprocess.base import pad_or_truncate
from mmer_jax.data.preprocess.williams import fixed_length, znorm_over_time
from tests.helpers import tiny_williams_config, williams_examples


def test_pad_or_truncate_masks():
  x = np.arange(6).reshape(3, 2)
  padded, mask = pad_or_truncate(x, 5)
  assert padded.shape == (5, 2) and mask.tolist() == [1, 1, 1, 0, 0] and padded[3:].sum() == 0
  first, mask = pad_or_truncate(x, 2)
  last, _ = pad_or_truncate(x, 2, keep="last")
  assert first.tolist() == [[0, 1], [2, 3]] and last.tolist() == [[2, 3], [4, 5]] and mask.all()


def test_williams_fixed_length_keeps_last_steps_and_pads_end_or_front():
  x = np.arange(10, dtype=np.float32)[:, None]
  kept, mask = fixed_length(x, 4)
  assert kept.ravel().tolist() == [6, 7, 8, 9] and mask.all()
  end, mask_end = fixed_length(x[:2], 4, pad="end")
  front, mask_front = fixed_length(x[:2], 4, pad="front")
  assert end.ravel().tolist() == [0, 1, 0, 0] and mask_end.tolist() == [1, 1, 0, 0]
  assert front.ravel().tolist() == [0, 0, 0, 1] and mask_front.tolist() == [0, 0, 1, 1]
  with pytest.raises(ValueError, match="input.preprocess.pad"):
    fixed_length(x, 4, pad="middle")


def test_znorm_over_time_zeroes_constant_features():
  x = np.stack([np.arange(5.0), np.full(5, 3.0)], axis=1)
  z = znorm_over_time(x)
  assert abs(z[:, 0].mean()) < 1e-6 and np.allclose(z[:, 0].std(), 1) and (z[:, 1] == 0).all()


def _pipeline(n=37, batch=8, eval_batch=16, host=None):
  config = tiny_williams_config(batch_size=batch)
  config.input.eval_batch_size = eval_batch
  sources = {"train": williams_examples(n, 0), "valid": williams_examples(n, 1), "test": williams_examples(n, 2)}
  return pipeline_lib.InputPipeline(config, sources, host=host)


def test_train_batches_drop_remainder_and_shapes_are_static():
  pipe = _pipeline(n=37, batch=8)
  batches = list(pipe.train_epoch(0))
  assert len(batches) == pipe.steps_per_epoch == 4
  assert {b["features"].shape for b in batches} == {(8, 8, 409)}
  assert {b["features_mask"].dtype for b in batches} == {np.dtype(bool)}
  ids = np.concatenate([b["meta/id"] for b in batches])
  assert len(set(ids)) == 32  # no duplicates within an epoch


def test_shuffling_is_seeded_and_differs_between_epochs():
  pipe = _pipeline()
  ids = lambda e: np.concatenate([b["meta/id"] for b in pipe.train_epoch(e)]).tolist()
  assert ids(0) == ids(0) and ids(0) != ids(1)


def test_resume_position_yields_exactly_the_remaining_batches():
  pipe = _pipeline()
  full = [b["meta/id"].tolist() for b in pipe.train_epoch(2)]
  resumed = [b["meta/id"].tolist() for b in pipe.train_epoch(2, start_batch=3)]
  assert resumed == full[3:]


def test_eval_pads_and_scores_every_example_exactly_once():
  pipe = _pipeline(n=37, eval_batch=16)
  batches = list(pipe.eval_batches("valid"))
  assert len(batches) == pipe.num_eval_batches("valid") == 3
  assert {b["features"].shape[0] for b in batches} == {16}
  valid_ids = np.concatenate([b["meta/id"][b[VALID_KEY]] for b in batches])
  assert sorted(valid_ids.tolist()) == sorted(f"vid{i}[0]" for i in range(37))


def test_hosts_read_disjoint_shards_and_run_the_same_number_of_steps():
  hosts = [_pipeline(n=37, batch=8, eval_batch=16, host=pipeline_lib.HostInfo(i, 2)) for i in range(2)]
  train = [np.concatenate([b["meta/id"] for b in h.train_epoch(0)]) for h in hosts]
  assert len(train[0]) == len(train[1]) == 16 and not set(train[0]) & set(train[1])
  evals = [list(h.eval_batches("test")) for h in hosts]
  assert len(evals[0]) == len(evals[1])
  seen = np.concatenate([b["meta/id"][b[VALID_KEY]] for e in evals for b in e])
  assert sorted(seen.tolist()) == sorted(f"vid{i}[0]" for i in range(37))


def test_batch_size_must_divide_across_hosts():
  with pytest.raises(ValueError, match="divisible by the number of hosts"):
    _pipeline(batch=7, host=pipeline_lib.HostInfo(0, 2))


def test_concat_source_spans_parts():
  src = pipeline_lib.ConcatSource([[1, 2], [], [3]])
  assert len(src) == 3 and [src[i] for i in range(3)] == [1, 2, 3]


def test_buckets_pad_each_batch_to_the_smallest_fitting_length():
  from mmer_jax.data.pipeline import bucket_length, collate
  assert [bucket_length(n, [16, 4, 8]) for n in (1, 4, 5, 9, 40)] == [4, 4, 8, 16, 16]
  examples = [{"audio": np.ones((n, 2)), "audio_mask": np.ones(n, bool), "audio_len": np.int32(n)} for n in (3, 6)]
  batch = collate(examples, {"audio": [4, 8, 16]})
  assert batch["audio"].shape == (2, 8, 2) and batch["audio_mask"].sum(axis=1).tolist() == [3, 6]
  assert batch["audio_len"].tolist() == [3, 6]
  with pytest.raises(KeyError, match="input.buckets names 'video'"):
    collate(examples, {"video": [4]})


def test_unknown_dataset_name_lists_known_datasets(tmp_path):
  from mmer_jax.data import sources
  from mmer_jax.registry import UnknownNameError
  with pytest.raises(UnknownNameError, match="Known datasets: .*synthetic_mosei"):
    sources.tfds_source("synthetic_mosie/aligned", "train", str(tmp_path))


def _labelled(n):
  examples = williams_examples(n, 5)
  for i, ex in enumerate(examples):
    ex["labels"][-1] = float(i % 4 == 0)  # "fear" present in a quarter of them
  return examples


def test_random_split_protocol_and_oversampling_before_split_leaks():
  from ml_collections import ConfigDict
  config = tiny_williams_config(batch_size=4)
  config.input.random_split = ConfigDict(dict(source="all", test_fraction=0.25, valid_fraction=0.0, seed=42,
                                              valid_is_test=True, oversample={}, oversample_before_split=False))
  pipe = pipeline_lib.InputPipeline(config, {"all": _labelled(40)})
  assert len(pipe.kept["test"]) == 10 and len(pipe.kept["train"]) == 30
  assert pipe.kept["valid"].tolist() == pipe.kept["test"].tolist()          # the seeds' selection on test
  assert not set(pipe.kept["train"]) & set(pipe.kept["test"])
  config.input.random_split.valid_is_test = False
  with pytest.raises(ValueError, match="valid_fraction"):
    pipeline_lib.InputPipeline(config, {"all": _labelled(40)})


def test_fit_uses_train_only_unless_the_leaky_flag_is_set():
  from mmer_jax.data.preprocess.base import Preprocessor
  seen = []

  class Recorder(Preprocessor):
    def needs_fit(self):
      return True

    def fit(self, examples):
      seen.append([str(ex["id"]) for ex in examples])

  sources = {"train": williams_examples(6, 0), "valid": williams_examples(3, 1), "test": williams_examples(3, 2)}
  for i, ex in enumerate(sources["test"]):
    ex["id"] = f"test{i}"
  config = tiny_williams_config()
  pipe = pipeline_lib.InputPipeline(config, sources)
  pipe.preprocessor = Recorder()
  pipe.fit_preprocessor()
  config.input.fit_on_all_splits = True
  pipe.fit_preprocessor()
  assert len(seen[0]) == 6 and not any("test" in str(i) for i in seen[0])
  assert len(seen[1]) == 12 and sum("test" in str(i) for i in seen[1]) == 3


def test_williams_2018_max_abs_scaling_is_fitted_on_train_and_reorders_features():
  from mmer_jax.data.preprocess.williams import WilliamsEarlyFusion
  pre = WilliamsEarlyFusion(steps=3, visual="facet", pad="front", num_outputs=6, normalize="train_max_abs",
                            order="visual_audio_text")
  train = williams_examples(4, 0)
  pre.fit(train)
  expected = np.max([np.abs(ex["facet"]).max(axis=0) for ex in train], axis=0)
  np.testing.assert_allclose(pre.max_abs["visual"], expected)
  out = pre(train[0])
  assert out["features"].shape == (3, 409) and out["label"].shape == (6,)
  np.testing.assert_allclose(out["features"][-1, :35], train[0]["facet"][-1] / expected, rtol=1e-6)
  np.testing.assert_allclose(out["features"][-1, -300:], train[0]["glove"][-1])
  restored = WilliamsEarlyFusion(3, "facet", "front", 6, "train_max_abs", "visual_audio_text")
  restored.load_state_dict(pre.state_dict())
  np.testing.assert_allclose(restored(train[1])["features"], pre(train[1])["features"])


def test_length_grouping_makes_batches_of_similar_length_and_still_covers_the_epoch():
  from ml_collections import ConfigDict
  config = tiny_williams_config(batch_size=4)
  config.input.preprocess.steps = 40
  config.input.group_by_length = ConfigDict(dict(key="features", window_batches=100))
  sources = {"train": williams_examples(64, 0, min_words=2, max_words=40),
             "valid": williams_examples(8, 1), "test": williams_examples(8, 2)}
  grouped = pipeline_lib.InputPipeline(config, sources)
  plain_config = config.copy_and_resolve_references()
  plain_config.input.group_by_length = None
  plain = pipeline_lib.InputPipeline(plain_config, sources)
  spread = lambda pipe: np.mean([np.ptp(b["features_mask"].sum(1)) for b in pipe.train_epoch(0)])
  assert spread(grouped) < 0.25 * spread(plain)
  ids = lambda pipe, e: sorted(np.concatenate([b["meta/id"] for b in pipe.train_epoch(e)]).tolist())
  assert ids(grouped, 0) == ids(plain, 0)   # all 64 examples, each once
  full = [b["meta/id"].tolist() for b in grouped.train_epoch(1)]
  assert [b["meta/id"].tolist() for b in grouped.train_epoch(1, start_batch=5)] == full[5:]
  assert full != [b["meta/id"].tolist() for b in grouped.train_epoch(2)]


def test_buckets_use_the_mask_when_the_preprocessor_already_padded():
  from mmer_jax.data.pipeline import collate
  examples = [{"audio": np.ones((10, 2)), "audio_mask": np.arange(10) < n} for n in (3, 5)]
  batch = collate(examples, {"audio": [4, 8]})
  assert batch["audio"].shape == (2, 8, 2) and batch["audio_mask"].sum(1).tolist() == [3, 5]
