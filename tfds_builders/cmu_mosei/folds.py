"""Where the train/valid/test partition of CMU-MOSEI comes from.

Sources, in order of precedence:
  1. a folds file the user passes (`folds_file=...`): JSON `{"train": [...], "valid": [...],
     "test": [...]}` of video-id strings (e.g. the SDK's standard folds written out once);
  2. `cmu_mosei_folds.json` in the manual dir (same format), so the default configs build
     without options, under their plain names;
  3. the standard folds of an installed CMU-MultimodalSDK (`mmsdk`), imported only if present;
  4. otherwise a `FoldsError` explaining the options.
A file wins over an installed SDK because providing it is the user's deliberate choice.

`split_source="williams2018"` re-splits the standard train/valid folds as Williams et al. (2018)
did (see `williams2018`). Alternatively the MME2E clip lists (`{train,valid,test}_split.txt`,
one `<vid>_<clip>` per line) define the partition (`split_source="mme2e"`): clip-level for the raw
release, video-level for the .csd configs (their segments are CSD rows, whose raw clip number is
not known; a video whose clips span several lists is skipped there and counted).

Video ids are always strings: numeric ids such as '81406' and ids starting with '-' or '_' are
real, so nothing here casts or strips them.
"""

from __future__ import annotations

import dataclasses
import json
import os

from mmer_jax.datasets import cmu_mosei
from mmer_jax.errors import UserError

SPLITS = cmu_mosei.FOLDS
TFDS_SPLIT = cmu_mosei.TFDS_SPLIT
# Picked up from the manual dir when no folds_file option is given.
DEFAULT_FOLDS_FILE = "cmu_mosei_folds.json"
# The SDK's standard fold sizes; a different count is reported (e.g. the PyPI copy has 2250 train ids).
STANDARD_SIZES = {"train": 2249, "valid": 300, "test": 678}


class FoldsError(UserError, RuntimeError):  # build.py exits 2 on it
  """No usable split definition; the message says how to provide one."""


@dataclasses.dataclass(frozen=True)
class Folds:
  """Video-level partition (and, for MME2E lists, the clip ids of each split)."""
  videos: dict[str, frozenset[str]]
  source: str
  clips: dict[str, frozenset[str]] | None = None
  order: dict[str, tuple[str, ...]] | None = None   # ids in source order (custom splits slice it)

  def __post_init__(self):
    seen: dict[str, str] = {}
    ambiguous: set[str] = set()
    if self.clips is not None:
      _no_overlap(self.clips, f"{self.source}: clip")
    for split in SPLITS:
      for vid in self.videos[split]:
        if vid in seen and seen[vid] != split:
          if self.clips is None:
            raise FoldsError(f"{self.source}: video {vid!r} is in both {seen[vid]!r} and {split!r}.")
          ambiguous.add(vid)  # clip lists may split a video; it then has no video-level split
        seen[vid] = split
    object.__setattr__(self, "_split_of", {v: s for v, s in seen.items() if v not in ambiguous})
    object.__setattr__(self, "ambiguous_videos", frozenset(ambiguous))

  def split_of(self, vid: str) -> str | None:
    """Video-level split; None for videos in no split (or, with clip lists, in several)."""
    return self._split_of.get(vid)  # type: ignore[attr-defined]

  def split_of_clip(self, vid: str, clip: int) -> str | None:
    """Clip-level lookup for MME2E lists; video-level for standard folds."""
    if self.clips is None:
      return self.split_of(vid)
    key = f"{vid}_{clip}"
    for split in SPLITS:
      if key in self.clips[split]:
        return split
    return None

  def sizes(self) -> dict[str, int]:
    return {s: len(self.videos[s]) for s in SPLITS}


def _no_overlap(ids_by_split: dict[str, frozenset[str]], what: str) -> None:
  for i, a in enumerate(SPLITS):
    for b in SPLITS[i + 1:]:
      both = ids_by_split[a] & ids_by_split[b]
      if both:
        raise FoldsError(f"{what} {sorted(both)[0]!r} is in both {a!r} and {b!r}.")


def _check_ids(ids: object, where: str) -> list[str]:
  if not isinstance(ids, list):
    raise FoldsError(f"{where} must be a list of video-id strings, got {type(ids).__name__}.")
  bad = [x for x in ids if not isinstance(x, str)]
  if bad:
    raise FoldsError(
        f"{where} holds non-string ids such as {bad[0]!r}. Quote every id in the JSON "
        "(numeric ids like \"81406\" are strings; casting could lose leading zeros).")
  dup = len(ids) - len(set(ids))
  if dup:
    raise FoldsError(f"{where} lists {dup} duplicate ids.")
  return ids


def from_json(path: str | os.PathLike) -> Folds:
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FoldsError(f"folds_file {path!r} does not exist.")
  try:
    with open(path) as f:
      data = json.load(f)
  except json.JSONDecodeError as err:
    raise FoldsError(f"folds_file {path!r} is not valid JSON: {err}") from err
  if not isinstance(data, dict) or any(s not in data for s in SPLITS):
    raise FoldsError(f"folds_file {path!r} must be a JSON object with keys 'train', 'valid' and 'test'.")
  order = {s: tuple(_check_ids(data[s], f"{path}[{s!r}]")) for s in SPLITS}
  return Folds({s: frozenset(ids) for s, ids in order.items()}, source=f"folds_file:{path}", order=order)


def from_mmsdk() -> Folds | None:
  """Standard folds of an installed SDK, or None when `mmsdk` is not importable."""
  try:
    from mmsdk.mmdatasdk.dataset.standard_datasets.CMU_MOSEI import cmu_mosei_std_folds as std  # type: ignore
  except ImportError:
    try:
      from mmsdk.mmdatasdk import cmu_mosei  # type: ignore
      std = cmu_mosei.standard_folds
    except (ImportError, AttributeError):
      return None
  try:
    lists = {"train": std.standard_train_fold, "valid": std.standard_valid_fold, "test": std.standard_test_fold}
  except AttributeError:
    return None
  order = {s: tuple(_check_ids(list(ids), f"mmsdk standard_{s}_fold")) for s, ids in lists.items()}
  return Folds({s: frozenset(ids) for s, ids in order.items()}, source="mmsdk", order=order)


def from_mme2e_lists(directory: str | os.PathLike) -> Folds:
  """MME2E's `{train,valid,test}_split.txt` clip lists (`<vid>_<clip>`, split on the LAST '_')."""
  directory = os.fspath(directory)
  clips: dict[str, frozenset[str]] = {}
  videos: dict[str, frozenset[str]] = {}
  for split in SPLITS:
    path = os.path.join(directory, f"{split}_split.txt")
    if not os.path.isfile(path):
      raise FoldsError(f"MME2E split list {path!r} is missing; expected {', '.join(f'{s}_split.txt' for s in SPLITS)}.")
    with open(path) as f:
      ids = [line.strip() for line in f.read().splitlines() if line.strip()]
    vids = set()
    for line_no, clip_id in enumerate(ids, 1):
      vid, sep, clip = clip_id.rpartition("_")
      if not sep or not vid or not clip.isdigit():
        raise FoldsError(f"{path}:{line_no}: {clip_id!r} is not a '<video id>_<clip number>' id.")
      vids.add(vid)
    clips[split] = frozenset(ids)
    videos[split] = frozenset(vids)
  return Folds(videos, source=f"mme2e:{directory}", clips=clips)


def williams2018(standard: Folds) -> Folds:
  """Williams et al. (2018)'s video-level re-split of the standard train and valid folds.

  The challenge test labels were not public then, so test = second half of valid + the last 5% of
  train; valid = first half of valid + the last 10% of what remains of train; the standard test fold
  is unused. Order matters, so the folds must come from an ordered source (JSON file or SDK).
  Quirks of the original `custom_split`: the valid video at index len(valid)//2 ends up in no split
  (reproduced); the 10% slice for valid is taken after train was already cut, so those videos stay
  in train as well (NOT reproduced: we keep the intended disjoint partition, since a video cannot
  be in two splits of one build).
  """
  if standard.order is None:
    raise FoldsError(f"{standard.source} has no id order; williams2018 needs an ordered folds file or the SDK.")
  train, valid = list(standard.order["train"]), list(standard.order["valid"])
  half = len(valid) // 2
  # Cut points written as lengths, so a 0% slice stays empty (x[:-0] would empty the list).
  cut = len(train) - int(len(train) * 0.05)
  rest, test_tail = train[:cut], train[cut:]
  cut = len(rest) - int(len(rest) * 0.1)
  order = {"train": tuple(rest[:cut]), "valid": tuple(valid[:half] + rest[cut:]),
           "test": tuple(valid[half + 1:] + test_tail)}
  return Folds({s: frozenset(ids) for s, ids in order.items()}, source=f"williams2018({standard.source})",
               order=order)


def resolve(folds_file: str | None, split_source: str = "standard", mme2e_split_dir: str | None = None,
            base_dir: str | None = None) -> Folds:
  """Picks the split definition as documented above. Relative paths are taken from `base_dir`."""
  def _abs(p: str) -> str:
    return p if os.path.isabs(p) or base_dir is None else os.path.join(base_dir, p)

  if split_source == "mme2e":
    if not mme2e_split_dir:
      raise FoldsError("split_source=mme2e needs mme2e_split_dir=<folder with train/valid/test_split.txt>.")
    return from_mme2e_lists(_abs(mme2e_split_dir))
  if split_source not in ("standard", "williams2018"):
    raise FoldsError(f"Unknown split_source {split_source!r}; use 'standard', 'williams2018' or 'mme2e'.")
  custom = williams2018 if split_source == "williams2018" else (lambda f: f)
  if folds_file:
    return custom(from_json(_abs(folds_file)))
  if base_dir is not None and os.path.isfile(os.path.join(base_dir, DEFAULT_FOLDS_FILE)):
    return custom(from_json(os.path.join(base_dir, DEFAULT_FOLDS_FILE)))
  folds = from_mmsdk()
  if folds is not None:
    return custom(folds)
  raise FoldsError(
      "No CMU-MOSEI folds available: the CMU-MultimodalSDK (mmsdk) is not installed and no folds file "
      f"was found. Either save the standard folds as {DEFAULT_FOLDS_FILE} in the manual dir or pass "
      "--option folds_file=<JSON {\"train\": [...], \"valid\": [...], \"test\": [...]} of video ids>, "
      "or install the SDK (git clone CMU-MultimodalSDK; pip install -e .), "
      "or use --option split_source=mme2e --option mme2e_split_dir=<dir>.")
