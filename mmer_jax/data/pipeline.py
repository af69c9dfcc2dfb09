"""Host-side input pipeline: sources -> keep/fit -> grain (seeded shuffle, map, batch, prefetch).

Design choices and why:
- Each epoch is one grain MapDataset: a seeded shuffle of the kept examples (same permutation on every
  host), a strided per-host shard, preprocess, batch with drop_remainder. Its position is simply
  (epoch, batch index), so resuming slices the dataset and nothing is replayed or lost.
- Every host runs the same number of steps: steps per epoch = kept // global batch.
- Variable-length inputs are padded to the smallest length bucket that fits the batch: the step
  compiles once per bucket. Buckets come from `input.buckets` ({group: [lengths]}) when the config
  names them; otherwise they are chosen from the TRAIN split's lengths of the preprocessor's first
  `length_groups()` input (at most `input.max_buckets` for training, minimising padded steps:
  length_buckets.py; 0 = the preprocessor's fixed maximum). Every host computes them from the same
  data, process 0's are broadcast, and the run records them (`input_spec.json`) so resume, evaluate
  and predict reuse them. Lengths come from the preprocessor's `lengths` hook in the `keep` pass
  (one read of each example), not from the full transform.
- With buckets, training batches are length-grouped (`input.group_by_length`, key "auto" = the
  bucketed input) and evaluation batches hold examples sorted by length; the trainer puts the
  scores back in the split's order (`eval_positions`), so reports and prediction files are unchanged.
- `input.pack_items` ({key: bucket fractions}) packs per-utterance items (MME2E's faces and mel
  pieces) so only real ones reach the model's CNN; see item_packing.py.
- Evaluation pads the last batch with copies of a real example flagged `_valid = False`, so shapes stay
  static (one compile) and every example is scored exactly once.
- Statistics (normalisers, TF-IDF, scalers) are fitted on the train split only, before anything else.
- `input.cache=True` keeps each split's preprocessed examples in memory after their first read, so
  later epochs only gather and stack arrays. Preprocessors are deterministic, so this changes speed,
  not results; it suits feature-level datasets that fit in RAM.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, Iterator, Mapping, Optional, Sequence

import grain
import jax
import numpy as np
from ml_collections import ConfigDict

from mmer_jax import progress
from mmer_jax.batch import VALID_KEY
from mmer_jax.data import dialog_context, dialog_split, item_packing, length_buckets, sources as sources_lib
from mmer_jax.data.views import IndexedSource
from mmer_jax.data.preprocess import options as preprocess_options
from mmer_jax.data.preprocess.base import Preprocessor

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


def _main() -> bool:
  return jax.process_index() == 0


class _Gather:
  """Random access to `dataset[order[i]]` (eval order with padding repeats)."""

  def __init__(self, dataset, order: np.ndarray):
    self.dataset, self.order = dataset, order

  def __len__(self) -> int:
    return len(self.order)

  def __getitem__(self, i: int):
    return self.dataset[int(self.order[i])]


class ConcatSource:
  """Several random-access sources seen as one (extra training sources are appended to train)."""

  def __init__(self, parts: Sequence[Sequence[Any]]):
    self.parts = list(parts)
    self.offsets = np.cumsum([0] + [len(p) for p in self.parts])

  def __len__(self) -> int:
    return int(self.offsets[-1])

  def __getitem__(self, i: int) -> Any:
    part = int(np.searchsorted(self.offsets, i, side="right") - 1)
    return self.parts[part][i - int(self.offsets[part])]


def bucket_length(length: int, buckets: Sequence[int]) -> int:
  """The smallest bucket that holds `length` steps (the largest bucket caps longer sequences)."""
  for bucket in sorted(buckets):
    if length <= bucket:
      return int(bucket)
  return int(max(buckets))


def length_grouped_batches(lengths: np.ndarray, batch_size: int, steps: int, window_batches: int,
                           rng: np.random.Generator) -> np.ndarray:
  """(steps, batch_size) example indices in which each batch holds similar lengths: a shuffle, windows
  of `window_batches` batches sorted by length (stable), then the batch order shuffled by `rng`."""
  lengths = np.asarray(lengths)
  order = rng.permutation(len(lengths))[:steps * batch_size]
  window = window_batches * batch_size
  for begin in range(0, len(order), window):
    chunk = order[begin:begin + window]
    order[begin:begin + window] = chunk[np.argsort(lengths[chunk], kind="stable")]
  return order.reshape(steps, batch_size)[rng.permutation(steps)]


def eval_plan(n: int, eval_batch_size: int, batches: int, lengths: Optional[np.ndarray] = None) -> np.ndarray:
  """(batches, eval_batch_size) positions of `n` examples, -1 = padding; in length order when
  `lengths` are given, so each batch is padded to about its own examples' length."""
  order = np.argsort(np.asarray(lengths), kind="stable") if lengths is not None and n else np.arange(n)
  plan = np.full(batches * eval_batch_size, -1, np.int64)
  plan[:n] = order
  return plan.reshape(-1, eval_batch_size)


def _pad_to_buckets(examples: Sequence[Mapping[str, np.ndarray]], buckets: Mapping[str, Sequence[int]]):
  """Pads the group keys (`<group>` and `<group>_*` arrays, e.g. `audio` and `audio_mask`) along axis 0
  to the batch's bucket, so a batch of short utterances is not padded to the longest possible one."""
  out = [dict(ex) for ex in examples]
  for group, lengths in buckets.items():
    keys = [k for k in examples[0] if (k == group or k.startswith(group + "_")) and np.ndim(examples[0][k]) >= 1]
    if not keys:
      raise KeyError(f"input.buckets names {group!r}, but the preprocessor outputs no such key "
                     f"(outputs: {sorted(examples[0])}).")
    # Preprocessors may already pad to a maximum length; then the mask says how much is real.
    mask_key = f"{group}_mask"
    longest = max(int(np.asarray(ex[mask_key]).sum()) if mask_key in ex else len(ex[keys[0]]) for ex in examples)
    target = bucket_length(longest, lengths)
    for ex in out:
      for key in keys:
        value = np.asarray(ex[key])[:target]
        padded = np.zeros((target,) + value.shape[1:], value.dtype)
        padded[:len(value)] = value
        ex[key] = padded
  return out


def collate(examples: Sequence[Mapping[str, np.ndarray]],
            buckets: Optional[Mapping[str, Sequence[int]]] = None) -> dict[str, np.ndarray]:
  keys = examples[0].keys()
  for ex in examples[1:]:
    if ex.keys() != keys:
      raise ValueError(f"Preprocessor returned different keys across examples: {sorted(keys)} vs {sorted(ex.keys())}.")
  if buckets:
    examples = _pad_to_buckets(examples, buckets)
  try:
    return {k: np.stack([np.asarray(ex[k]) for ex in examples]) for k in keys}
  except ValueError as error:
    shapes = {k: sorted({np.shape(ex[k]) for ex in examples}, key=str) for k in keys}
    bad = {k: s for k, s in shapes.items() if len(s) > 1}
    raise ValueError(f"Preprocessor outputs must have fixed shapes; varying: {bad}. Pad them "
                     "to configured lengths, or list them in input.buckets.") from error


def _from_process_zero(values: Sequence[int], size: int) -> list[int]:
  """Process 0's list on every process (hosts compute buckets from the same data; this makes them
  agree even if, say, a tokenizer version differed). Fixed size, so the collective's shapes match."""
  if jax.process_count() == 1:
    return [int(v) for v in values]
  from jax.experimental import multihost_utils  # noqa: PLC0415
  padded = np.zeros(size, np.int64)
  padded[:len(values)] = values
  agreed = np.asarray(multihost_utils.broadcast_one_to_all(padded))
  return [int(v) for v in agreed if v > 0]


@dataclasses.dataclass
class HostInfo:
  index: int = 0
  count: int = 1

  @classmethod
  def current(cls) -> "HostInfo":
    return cls(jax.process_index(), jax.process_count())


class InputPipeline:
  """Builds train/valid/test iterators of host-local numpy batches from `config.input`."""

  def __init__(self, config: ConfigDict, sources: Optional[Mapping[str, Sequence[Any]]] = None,
               host: Optional[HostInfo] = None, recorded_buckets: Optional[Mapping[str, Any]] = None):
    """`recorded_buckets`: the `bucket_record()` a run wrote before (resume, evaluate); reused while
    its settings match this config's."""
    self.cfg = config.input
    self.seed = int(config.seed)
    self.host = host or HostInfo.current()
    self.preprocessor: Preprocessor = preprocess_options.build(config)
    self._recorded = dict(recorded_buckets or {})
    self._buckets: Optional[dict[str, list[int]]] = None
    self._lengths: dict[str, dict[str, np.ndarray]] = {}  # split -> group -> per kept example
    for name, size in (("batch_size", self.cfg.batch_size), ("eval_batch_size", self.eval_batch_size)):
      if size % self.host.count:
        raise ValueError(f"input.{name}={size} must be divisible by the number of hosts ({self.host.count}).")
    self._cache: dict[str, list] = {}
    if self.cfg.random_split and self.cfg.random_split.source:
      self._init_random_split(sources)
      return
    # A `valid` split named dialog_split.HOLDOUT is carved out of train, not read from storage.
    raw = {split: (sources[split] if sources is not None else self._tfds(split)) for split in self.splits
           if (sources is not None and split in sources) or self.cfg.splits[split] != dialog_split.HOLDOUT}
    raw = dialog_split.holdout_sources(self.cfg, raw)
    raw = dialog_context.with_context(self.cfg, raw, _main())  # input.context: each split's own dialogs
    if "train" in raw:
      extras = [self._tfds_extra(extra) for extra in self.cfg.extra_train_sources or []]
      raw["train"] = ConcatSource([raw["train"], *extras]) if extras else raw["train"]
    self.raw = raw
    self.kept = {split: self._kept_indices(split, source) for split, source in raw.items()}

  def _init_random_split(self, sources: Optional[Mapping[str, Sequence[Any]]]) -> None:
    """The seeds' random protocols (seed 002: random 80/20; seed 003: oversample, then split).

    `input.random_split`: source (TFDS split expression, or the key "all" of `sources`), test_fraction,
    valid_fraction, seed, oversample ({class index: total copies}), oversample_before_split (seed 003's
    leak: copies of one utterance land in train and test), valid_is_test (select epochs on test, as
    seeds 002 and 004 did). Not leakage-free; offered to reproduce the papers' numbers.
    """
    rs = self.cfg.random_split
    source = sources["all"] if sources is not None else self._tfds_split_expr(rs.source)
    kept = self._kept_indices("all", source)
    all_lengths = self._lengths.pop("all", None)
    oversample = {int(k): int(v) for k, v in (rs.oversample or {}).items()}
    if oversample and rs.oversample_before_split:
      kept = self._oversampled(source, kept, oversample)
    order = np.random.default_rng(int(rs.seed)).permutation(kept)
    n_test = int(round(len(order) * float(rs.test_fraction)))
    n_valid = int(round(len(order) * float(rs.valid_fraction)))
    test, valid, train = order[:n_test], order[n_test:n_test + n_valid], order[n_test + n_valid:]
    if oversample and not rs.oversample_before_split:
      train = self._oversampled(source, train, oversample)
    if rs.valid_is_test:
      valid = test
    elif n_valid == 0:
      raise ValueError("input.random_split: set valid_fraction > 0, or valid_is_test=True to reproduce a "
                       "seed that selected epochs on its test set.")
    self.raw = {split: source for split in SPLITS}
    self.kept = {"train": np.asarray(train), "valid": np.asarray(valid), "test": np.asarray(test)}
    if all_lengths is not None:  # rows of `kept` (ascending source indices) -> each split's rows
      for split, indices in self.kept.items():
        rows = np.searchsorted(kept, indices)
        self._lengths[split] = {key: values[rows] for key, values in all_lengths.items()}

  def _oversampled(self, source, indices: np.ndarray, copies: Mapping[int, int]) -> np.ndarray:
    # `label`, not the full transform: oversampling happens before `fit` (seed 003 oversampled first).
    labels = np.asarray([int(self.preprocessor.label(source[int(i)])) for i in
                         progress.iterate(indices, desc="labels for oversampling", leave=False, unit="examples", enabled=_main())])
    extra = [np.repeat(indices[labels == cls], total - 1) for cls, total in copies.items()]
    return np.concatenate([indices, *extra]) if extra else indices

  def _tfds_split_expr(self, split_expr: str) -> Sequence[Any]:
    return sources_lib.tfds_source(self.cfg.tfds_name, split_expr, self.cfg.data_dir)

  # --- construction helpers -------------------------------------------------------------------
  @property
  def splits(self) -> list[str]:
    if self.cfg.random_split and self.cfg.random_split.source:
      return list(SPLITS)
    return [s for s in SPLITS if self.cfg.splits.get(s)]

  @property
  def eval_batch_size(self) -> int:
    return int(self.cfg.eval_batch_size or self.cfg.batch_size)

  def _tfds(self, split: str) -> Sequence[Any]:
    return sources_lib.tfds_source(self.cfg.tfds_name, self.cfg.splits[split], self.cfg.data_dir)

  def _tfds_extra(self, extra: Mapping[str, str]) -> Sequence[Any]:
    return sources_lib.tfds_source(extra["tfds_name"], extra.get("split", "train"),
                                   extra.get("data_dir", self.cfg.data_dir))

  def _kept_indices(self, split: str, source: Sequence[Any]) -> np.ndarray:
    """The examples the task keeps; their lengths too, in the same read, when the preprocessor has a
    `lengths` hook of its own (it needs no fitted statistics) and buckets or grouping may use them."""
    if type(self.preprocessor).keep is Preprocessor.keep:
      return np.arange(len(source))
    keep = self.preprocessor.keep
    groups = list(self.preprocessor.length_groups()) if self._lengths_wanted() else []
    measure = groups and type(self.preprocessor).lengths is not Preprocessor.lengths
    kept, lengths = [], []
    for i in progress.iterate(range(len(source)), desc=f"select {split}", leave=False, unit="examples", enabled=_main()):
      example = source[i]
      if keep(example):
        kept.append(i)
        if measure:
          lengths.append(self.preprocessor.lengths(example))
    log.info("%s: kept %d of %d examples", split, len(kept), len(source))
    if measure:
      self._lengths[split] = {key: np.asarray([row[key] for row in lengths], np.int64) for key in groups}
    return np.asarray(kept, np.int64)

  def _lengths_wanted(self) -> bool:
    grouping = self.cfg.group_by_length
    return bool(self.cfg.buckets or int(self.cfg.max_buckets or 0) > 0 or (grouping and grouping.key))

  # --- length buckets ----------------------------------------------------------------------------
  @property
  def buckets(self) -> dict[str, list[int]]:
    """{group: ascending lengths} each batch's group is padded to (see the module docstring)."""
    if self._buckets is None:
      self._buckets = self._resolve_buckets()
    return self._buckets

  def _auto_group(self) -> Optional[tuple[str, length_buckets.LengthGroup]]:
    if self.cfg.buckets or int(self.cfg.max_buckets or 0) < 1:
      return None
    return next(iter(self.preprocessor.length_groups().items()), None)

  def bucket_settings(self) -> dict:
    """What the buckets depend on besides the training data (recorded beside them)."""
    named = self.cfg.buckets
    if named:
      return {"named": {k: [int(x) for x in v] for k, v in dict(named).items()}}
    auto = self._auto_group()
    return length_buckets.settings(dict([auto]) if auto else {}, int(self.cfg.max_buckets or 0))

  def bucket_record(self) -> dict:
    """The buckets and their settings, for `input_spec.json` (reused on resume, evaluate, predict)."""
    return {"lengths": self.buckets, "settings": self.bucket_settings()}

  def _resolve_buckets(self) -> dict[str, list[int]]:
    named = self.cfg.buckets
    if named:
      return {k: sorted(int(x) for x in v) for k, v in dict(named).items()}
    auto = self._auto_group()
    if auto is None:
      return {}
    if self._recorded.get("settings") == self.bucket_settings() and self._recorded.get("lengths"):
      return {k: [int(x) for x in v] for k, v in self._recorded["lengths"].items()}
    if "train" not in self.kept:
      return {}
    key, group = auto
    max_buckets = int(self.cfg.max_buckets)
    chosen = length_buckets.choose(self.split_lengths("train", key), group, max_buckets)
    chosen = _from_process_zero(chosen, max_buckets + 1)
    log.info("Length buckets for %r from the %d training examples: %s (max %d).", key,
             self.num_examples("train"), chosen, group.cap)
    return {key: chosen}

  @property
  def length_key(self) -> Optional[str]:
    """The bucketed input that orders batches: the preprocessor's first bucketed group, else the
    first the config names; None without buckets."""
    if not self.buckets:
      return None
    return next((k for k in self.preprocessor.length_groups() if k in self.buckets), next(iter(self.buckets)))

  def split_lengths(self, split: str, key: str) -> np.ndarray:
    """Real steps of `key` per kept example of `split`: from the `keep` pass when it measured them,
    else from the `lengths` hook, or from the transform's `<key>_mask` (for a key that is no length
    group, or when `input.cache` holds the transformed examples anyway). Computed once."""
    store = self._lengths.setdefault(split, {})
    if key not in store:
      desc = dict(desc=f"lengths {split}", leave=False, unit="examples", enabled=_main())
      if key in self.preprocessor.length_groups() and not self.cfg.cache:
        source = IndexedSource(self.raw[split], self.kept[split])
        store[key] = np.asarray([self.preprocessor.lengths(source[i])[key]
                                 for i in progress.iterate(range(len(source)), **desc)], np.int64)
      else:
        examples = self._examples(split)
        store[key] = np.asarray([int(np.asarray(examples[i][f"{key}_mask"]).sum())
                                 for i in progress.iterate(range(len(examples)), **desc)], np.int64)
    return store[key]

  def fit_preprocessor(self) -> None:
    """Fits data statistics on the train split only (never valid/test)."""
    if not self.preprocessor.needs_fit():
      return
    fit_splits = ["train"]
    if self.cfg.fit_on_all_splits:  # seed 003's leak: scaler/TF-IDF see test rows
      fit_splits = self.splits
    # Every kept row counts, oversampled copies too (seed 003 fitted on its 9,797 oversampled rows);
    # a split that is another split again (valid_is_test) is not fed twice.
    parts, seen = [], []
    for split in fit_splits:
      if any(self.raw[split] is self.raw[s] and np.array_equal(self.kept[split], self.kept[s]) for s in seen):
        continue
      seen.append(split)
      parts.append(IndexedSource(self.raw[split], self.kept[split]))
    rows = ConcatSource(parts)
    self.preprocessor.fit(rows[i] for i in progress.iterate(range(len(rows)), desc="fit preprocessor", unit="examples", enabled=_main()))

  # --- iteration ------------------------------------------------------------------------------
  def num_examples(self, split: str) -> int:
    return len(self.kept[split])

  @property
  def steps_per_epoch(self) -> int:
    steps = self.num_examples("train") // self.cfg.batch_size
    if steps == 0:
      raise ValueError(f"input.batch_size={self.cfg.batch_size} exceeds the {self.num_examples('train')} "
                       "training examples; lower the batch size.")
    return steps

  def _examples(self, split: str) -> grain.MapDataset:
    """The kept examples of `split`, preprocessed (from the in-memory cache when enabled)."""
    source = IndexedSource(self.raw[split], self.kept[split])
    if not self.cfg.cache:
      return grain.MapDataset.source(source).map(self.preprocessor)
    if split not in self._cache:
      loaded = grain.MapDataset.source(source).map(self.preprocessor).to_iter_dataset(self._read_options())
      self._cache[split] = list(progress.iterate(loaded, total=len(source), desc=f"cache {split}", leave=False, unit="examples",
                                                       enabled=_main()))
    return grain.MapDataset.source(self._cache[split])

  def _collate(self, examples):
    batch = collate(examples, self.buckets)
    pack = self.cfg.pack_items
    if pack:  # encode only real faces / mel pieces (item_packing.py)
      batch = item_packing.pack_batch(batch, dict(pack), jax.local_device_count(), self.host.count)
    return batch

  def _read_options(self) -> grain.ReadOptions:
    return grain.ReadOptions(num_threads=int(self.cfg.num_threads),
                             prefetch_buffer_size=int(self.cfg.prefetch))

  def train_epoch(self, epoch: int, start_batch: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Host-local batches of epoch `epoch`, starting at `start_batch` (exact resume)."""
    local_bs = self.cfg.batch_size // self.host.count
    steps = self.steps_per_epoch
    grouping = self.grouping
    if grouping:
      order = self._length_grouped_order(epoch, grouping)
      ds = grain.MapDataset.source(_Gather(self._examples("train"), order))
    else:
      ds = self._examples("train").shuffle(seed=self.seed + epoch)
      ds = ds[self.host.index::self.host.count][:steps * local_bs]
    ds = ds.batch(local_bs, drop_remainder=True, batch_fn=self._collate)
    return iter(ds[start_batch:].to_iter_dataset(self._read_options()))

  @property
  def grouping(self) -> Optional[dict[str, Any]]:
    """`input.group_by_length` resolved: key "auto" groups by the bucketed input (none without
    buckets); None, {} or an empty key turn grouping off."""
    grouping = self.cfg.group_by_length
    key = grouping.key if grouping else None
    if key == "auto":
      key = self.length_key
    if not key:
      return None
    return {"key": key, "window_batches": int(grouping.window_batches)}

  def _length_grouped_order(self, epoch: int, grouping: Mapping[str, Any]) -> np.ndarray:
    """This host's example order for an epoch in which each batch holds similar lengths.

    Seeded shuffle -> windows of `window_batches` global batches sorted by length -> global batches
    -> seeded shuffle of the batch order. With `input.buckets`, a batch of short utterances is then
    padded to a short bucket, so the step does proportionally less work (seed 002's LLD sequences
    run from 54 to over 1,000 frames). The same on every host; each takes its slice of every batch.
    """
    global_bs, local_bs = self.cfg.batch_size, self.cfg.batch_size // self.host.count
    batches = length_grouped_batches(self.split_lengths("train", grouping["key"]), global_bs, self.steps_per_epoch,
                                     int(grouping["window_batches"]), np.random.default_rng(self.seed + epoch))
    mine = batches[:, self.host.index * local_bs:(self.host.index + 1) * local_bs]
    return mine.reshape(-1)

  def _eval_plan(self, split: str) -> np.ndarray:
    """(batches, global eval batch) positions in the split's kept examples, -1 = padding. Sorted by
    length when there are buckets, so each batch is padded to about its own examples' length."""
    n = len(self.kept[split])
    lengths = self.split_lengths(split, self.length_key) if self.length_key is not None and n else None
    return eval_plan(n, self.eval_batch_size, self.num_eval_batches(split), lengths)

  def eval_positions(self, split: str) -> np.ndarray:
    """The split position of every row `eval_batches` yields, in the order the trainer gathers them
    (batch after batch, hosts in process order within a batch); -1 = padding. `argsort` of the valid
    ones puts scores back in the split's order."""
    return self._eval_plan(split).reshape(-1)

  def eval_batches(self, split: str) -> Iterator[dict[str, np.ndarray]]:
    """Host-local padded batches with a `_valid` mask; every host yields the same number of batches.

    Host h takes columns [h * local, (h + 1) * local) of each global batch. Padding rows (flagged
    invalid) repeat the global batch's first example, its shortest, so they never raise its bucket;
    a host with no examples left still runs the steps on them."""
    local_bs = self.eval_batch_size // self.host.count
    plan = self._eval_plan(split)
    mine = plan[:, self.host.index * local_bs:(self.host.index + 1) * local_bs]
    valid = mine >= 0
    order = np.maximum(np.where(valid, mine, plan[:, :1]), 0).reshape(-1)
    ds = self._examples(split)
    ds = grain.MapDataset.source(_Gather(ds, order)).batch(local_bs, batch_fn=self._collate)
    for i, batch in enumerate(ds.to_iter_dataset(self._read_options())):
      batch[VALID_KEY] = valid[i]
      yield batch

  def num_eval_batches(self, split: str) -> int:
    per_host = math.ceil(len(self.kept[split]) / self.host.count)
    return max(1, math.ceil(per_host / (self.eval_batch_size // self.host.count)))

  def example_batch(self) -> dict[str, np.ndarray]:
    """One host-local training batch (shapes for init and compile)."""
    return next(self.train_epoch(0))

