"""Examples of the `csd_aligned` and `csd_unaligned` configs, one labelled segment each.

csd_aligned reproduces the SDK recipe used by Williams et al. (seed 001):
    align('glove_vectors', collapse_functions=[average]); add labels; align('All Labels')
so every modality has one row per word of the segment. csd_unaligned skips the word step: each
modality keeps its own rows (COVAREP ~100 Hz, FACET/OpenFace ~30 Hz, one GloVe row per word) that
intersect the label segment, clipped to it, as MulT-style models consume them.

Segments are dropped or imputed as the seed does, and every decision is counted in the report:
  * a video absent (or broken) in a required sequence is dropped whole, as SDK unify() does;
  * a segment for which a sequence has no intersecting row is dropped (`missing=drop`, the seed's
    "does not appear in image, audio, or text dataset") or zero-filled (`missing=zeros`, SDK impute);
  * csd_aligned segments whose modalities have different step counts are dropped (seed);
  * NaN/inf values are kept by default (the seed applies nan_to_num after alignment) and counted.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from tfds_builders.cmu_mosei import align, csd, sequences
from tfds_builders.common import beam_units
from tfds_builders.cmu_mosei.config import CmuMoseiConfig
from tfds_builders.cmu_mosei.folds import TFDS_SPLIT, Folds
from tfds_builders.cmu_mosei.report import MoseiReport


def open_sequence(manual_dir: str, spec: sequences.SequenceSpec) -> csd.CsdFile:
  """Opens a standard sequence from `manual_dir`, failing clearly if it is absent."""
  path = csd.locate(manual_dir, spec.file_names, spec.root_names)
  if path is None:
    why = {"labels": "every config needs it", "words": "drop_sp=true needs it"}.get(
        spec.key, "or leave it out with --option modalities=...")
    raise csd.CsdError(
        f"No {spec.key} computational sequence in {manual_dir!r}: expected {spec.file_names[0]} "
        f"(or any .csd whose root group is one of {spec.root_names}). Download it from the "
        f"CMU-MultimodalSDK release; {why}.")
  seq = csd.CsdFile(path)
  _check_dimension(seq, spec)
  return seq


def _check_dimension(seq: csd.CsdFile, spec: sequences.SequenceSpec) -> None:
  """Fails fast when a whole file has the wrong dimension (every entry would be rejected)."""
  if spec.dim is None:
    return
  for vid in seq.video_ids()[:3]:
    try:
      _, features = seq.read(vid)
    except csd.CsdEntryError:
      continue
    if features.shape[1] != spec.dim:
      raise csd.CsdError(
          f"{seq.path}: features of {vid!r} have dimension {features.shape[1]}, but {spec.key} must be "
          f"{spec.dim}-d. Is this the right file for {spec.key}?")
    return


def _finite_rows(vid: str, name: str, intervals: np.ndarray, features: np.ndarray,
                 report: MoseiReport) -> tuple[np.ndarray, np.ndarray]:
  """Rows with NaN/inf interval bounds can never be aligned (the SDK never matches them): count, drop."""
  ok = np.isfinite(intervals).all(axis=1)
  if not ok.all():
    report.count("rows_with_nonfinite_interval_dropped", name, int((~ok).sum()))
    return intervals[ok], features[ok]
  return intervals, features


def _sp_mask(vid: str, glove_iv: np.ndarray, words: csd.CsdFile, report: MoseiReport) -> np.ndarray:
  """True for GloVe rows that are silence: their interval equals that of a b'sp' word."""
  try:
    w_iv, w_tok = words.read(vid)
  except csd.CsdEntryError as err:
    report.count("drop_sp_unavailable", err.reason)
    return np.zeros(len(glove_iv), dtype=bool)
  tokens = np.array([t.strip() if isinstance(t, bytes) else str(t).encode() for t in w_tok[:, 0]], dtype=object)
  sp_iv = w_iv[tokens == sequences.SILENCE_TOKEN]
  if len(sp_iv) == 0:
    return np.zeros(len(glove_iv), dtype=bool)
  # Compare on a microsecond grid: the two files were written from the same forced alignment.
  grid = lambda iv: np.round(iv * 1e6).astype(np.int64)  # noqa: E731
  sp_keys = grid(sp_iv).view([("s", np.int64), ("e", np.int64)]).ravel()
  g_keys = grid(glove_iv).view([("s", np.int64), ("e", np.int64)]).ravel()
  return np.isin(g_keys, sp_keys)


class CsdExamples:
  """Plans the build from the .csd files (driver) and turns one video into its examples (workers).

  One unit of work is one video: a worker opens the .csd files once (`CsdWorker.setup`) and reads
  only that video's rows."""

  def __init__(self, manual_dir: str, config: CmuMoseiConfig, folds: Folds, report: MoseiReport):
    self.manual_dir = manual_dir
    self._open(manual_dir, config, report)
    report.meta["inputs"] = {
        name: {"file": s.path, "root_name": s.root_name, "num_videos": len(s.video_ids()),
               "version": s.metadata.get("computational sequence version")}
        for name, s in [("labels", self.labels), *self.seqs.items()] + ([("words", self.words)] if self.words else [])
    }
    self.by_split = self._assign_videos(folds)

  def _open(self, manual_dir: str, config: CmuMoseiConfig, report) -> None:
    self.config = config
    self.report = report
    self.aligned = config.kind == "csd_aligned"
    self.labels = open_sequence(manual_dir, sequences.LABELS)
    self.seqs = {m: open_sequence(manual_dir, sequences.MODALITIES[m]) for m in config.modalities}
    self.words = open_sequence(manual_dir, sequences.WORDS) if config.drop_sp else None

  def units(self, split: str) -> list[tuple[str, str]]:
    return [(split, vid) for vid in self.by_split[split]]

  def worker(self) -> "CsdWorker":
    return CsdWorker(self.manual_dir, self.config)

  def _assign_videos(self, folds: Folds) -> dict[str, list[str]]:
    """Labelled videos per split, in the labels file's (HDF5 name) order."""
    by_split: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    label_vids = self.labels.video_ids()
    for vid in label_vids:
      split = folds.split_of(vid)
      if split is None:
        # With MME2E clip lists a video may span splits; the csd configs split by video.
        reason = "in_several_mme2e_splits" if vid in folds.ambiguous_videos else "not_in_any_fold"
        self.report.count("videos", reason)
        self.report.count("segments", reason, self.labels.num_rows(vid))
        continue
      by_split[split].append(vid)
    absent = sorted(set().union(*folds.videos.values()) - set(label_vids))
    self.report.count("videos", "in_folds_without_labels", len(absent))
    return by_split

  def num_videos(self, split: str) -> int:
    return len(self.by_split[split])

  # --- one video -------------------------------------------------------------------------------

  def _read_video(self, vid: str, split: str):
    """(label intervals, labels, {modality: Sequence}, {absent modality: reason}) or None."""
    try:
      label_iv, label_ft = self.labels.read(vid, dim=sequences.LABELS.dim)
    except csd.CsdEntryError as err:
      self.report.skip(vid, f"labels_entry_{err.reason}: {err}", split)
      self.report.count("videos", f"labels_entry_{err.reason}")
      return None
    seqs: dict[str, align.Sequence] = {}
    absent: dict[str, str] = {}
    for name, f in self.seqs.items():
      if vid not in f:
        absent[name] = f"video_missing_in_{name}"
        continue
      try:
        iv, ft = f.read(vid, dim=sequences.MODALITIES[name].dim)
      except csd.CsdEntryError as err:
        absent[name] = f"{name}_entry_{err.reason}: {err}"
        continue
      iv, ft = _finite_rows(vid, name, iv, ft, self.report)
      seqs[name] = align.Sequence(iv, ft.astype(np.float32, copy=False))
    for reason in absent.values():
      self.report.count("videos", reason.split(":")[0])
    return label_iv, label_ft.astype(np.float32, copy=False), seqs, absent

  def _video_examples(self, vid: str, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    read = self._read_video(vid, split)
    if read is None:
      return
    label_iv, label_ft, present, absent = read
    ref = sequences.WORD_REFERENCE
    # Like SDK unify(): a video missing from a sequence is removed, unless the config imputes;
    # the word reference itself can never be imputed in the aligned form.
    if absent and (self.config.missing == "drop" or (self.aligned and ref in absent)):
      reason = absent.get(ref) or next(iter(absent.values()))
      for j in range(len(label_iv)):
        self.report.skip(f"{vid}[{j}]", reason, split)
      return
    if self.words is not None and ref in present:
      sp = _sp_mask(vid, present[ref].intervals, self.words, self.report)
      self.report.count("words", "sp_dropped", int(sp.sum()))
      present[ref] = align.Sequence(present[ref].intervals[~sp], present[ref].features[~sp])
    if self.aligned:
      zero_len = int((~align.valid_reference_rows(present[ref].intervals)).sum())
      self.report.count("words", "zero_length_skipped", zero_len)
      present = align.align_to_words(ref, present)
    valid, hits = align.align_to_segments(label_iv, present)
    for j in range(len(label_iv)):
      seg_id = f"{vid}[{j}]"
      if not valid[j]:
        self.report.skip(seg_id, "zero_length_label_segment", split)
        continue
      example = self._segment_example(vid, j, split, label_iv[j], label_ft[j], hits, absent)
      if example is not None:
        self.report.count("examples", TFDS_SPLIT[split])
        yield seg_id, example

  def _segment_example(self, vid, j, split, interval, labels, hits, absent) -> dict[str, Any] | None:
    seg_id = f"{vid}[{j}]"
    feats: dict[str, np.ndarray] = {}
    for name, (seq, h) in hits.items():
      rows, _ = h.rows_of(j)
      if len(rows):
        feats[name] = seq.features[rows]
    missing = [m for m in self.config.modalities if m not in feats]
    if missing:
      if self.config.missing == "drop":
        self.report.skip(seg_id, f"segment_without_rows_{missing[0]}", split)
        return None
      if self.aligned and sequences.WORD_REFERENCE in missing:
        self.report.skip(seg_id, "segment_without_words", split)
        return None
      # SDK impute(ref, np.zeros): as many zero rows as the reference has for this segment
      # (the words when aligned; the single label row otherwise).
      steps = len(feats[sequences.WORD_REFERENCE]) if self.aligned else 1
      for m in missing:
        feats[m] = np.zeros((steps, sequences.MODALITIES[m].dim), np.float32)
        why = "video_absent" if m in absent else "no_rows_in_segment"
        self.report.degrade(seg_id, f"imputed_zeros_{m}: {why}", split)
    if self.aligned and len({len(f) for f in feats.values()}) > 1:
      counts = ", ".join(f"{m}={len(f)}" for m, f in feats.items())
      self.report.skip(seg_id, f"step_count_mismatch: {counts}", split)
      return None
    if not self._handle_nonfinite(seg_id, split, feats, labels):
      return None
    example = {
        "id": seg_id,
        "video_id": vid,
        "interval": np.asarray(interval, np.float64),
        "labels": np.asarray(labels, np.float32),
    }
    example.update({m: np.ascontiguousarray(feats[m], np.float32) for m in self.config.modalities})
    return example

  def _handle_nonfinite(self, seg_id: str, split: str, feats: dict[str, np.ndarray], labels: np.ndarray) -> bool:
    """Counts NaN/inf per modality and applies the `nonfinite` policy; False drops the segment."""
    if not np.isfinite(labels).all():
      # Labels are never repaired: a segment without a valid target cannot be trained on.
      self.report.skip(seg_id, "nonfinite_labels", split)
      return False
    bad = {m: int((~np.isfinite(f)).sum()) for m, f in feats.items()}
    for m, n in bad.items():
      if n:
        self.report.count("nonfinite_segments", m)
        self.report.count("nonfinite_values", m, n)
    policy = self.config.nonfinite
    if not any(bad.values()) or policy == "keep":
      return True
    if policy == "drop":
      self.report.skip(seg_id, "nonfinite_features: " + ", ".join(m for m, n in bad.items() if n), split)
      return False
    for m, n in bad.items():
      if n:
        feats[m] = np.where(np.isfinite(feats[m]), feats[m], 0.0).astype(np.float32)
        self.report.degrade(seg_id, f"nonfinite_zeroed_{m}: {n} values", split)
    return True

  def close(self) -> None:
    for f in [self.labels, *self.seqs.values(), self.words]:
      if f is not None:
        f.close()


class CsdWorker(beam_units.UnitWorker):
  """One worker's open .csd files; each unit (split, video id) gives that video's segments."""

  def __init__(self, manual_dir: str, config: CmuMoseiConfig):
    self.manual_dir, self.config = manual_dir, config

  def setup(self) -> None:
    self.files = CsdExamples.__new__(CsdExamples)
    self.files._open(self.manual_dir, self.config, report=None)

  def __call__(self, unit, report) -> Iterator[tuple[str, dict[str, Any]]]:
    split, vid = unit
    self.files.report = report  # this unit's recorder; a worker runs one unit at a time
    yield from self.files._video_examples(vid, split)
