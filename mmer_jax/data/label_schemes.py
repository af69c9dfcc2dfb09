"""IEMOCAP label schemes, applied in the input pipeline (the TFDS data keeps every raw code).

A scheme maps a raw EmoEvaluation majority code (`ang`, `hap`, ..., `xxx`) to a class index, or to
None when the utterance is outside the task (the preprocessor's `keep` drops it).

| scheme | classes (index order) | utterances on the full corpus (10,039) |
|---|---|---|
| `iemocap_4class` | ang, hap (= hap + exc), neu, sad | 1103 + 1636 + 1708 + 1084 = **5,531** |
| `seed004_4class` | neu, ang, exc, sad (exc only, no merge) | 1708 + 1103 + 1041 + 1084 = **4,936** |
| `mme2e_6class` | ang, exc, fru, hap, neu, sad (multi-label one-hot, BCE) | **7,380** (= MME2E's 5162 + 737 + 1481) |
| `iemocap_6class` | ang, exc, fru, hap, neu, sad (single label, softmax) | **7,380** |
| `seed003_6class` | ang, hap (+exc), sad (+fru), fea, sur, neu | 1103 + 1636 + 2933 + 40 + 107 + 1708 = **7,527** |

Raw counts (dataset_formats.md §1.2): xxx 2507, fru 1849, neu 1708, ang 1103, sad 1084, exc 1041,
hap 595, sur 107, fea 40, oth 3, dis 2.

Notes on the seeds:
- `iemocap_4class` index order is seed 002's alphabetical LabelEncoder (ang 0, hap 1, neu 2, sad 3).
  Seed 002 additionally drops 1 utterance without a .wdseg and 10 noise-only transcripts (5,520).
- `seed004_4class` is seed 004's MoCap/fusion order (neu 0, ang 1, exc 2, sad 3).
- `iemocap_6class` is the six-class task of the conversation-emotion literature (Session 5 as test),
  as one class index per utterance. Papers in that line quote 7,433 utterances: their labels come
  from a different tie resolution than the EmoEvaluation majority code this scheme reads.
- `seed003_6class` merges sad with fru (the seed's comment "change 7 to 2"); the seed's 31x fear and
  11x surprise oversampling before the split is a data-loader option, not part of the scheme.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, Mapping

import numpy as np

from mmer_jax.datasets import cmu_mosei, iemocap, manifest, samsemo

IEMOCAP_CODES = iemocap.CODES
IEMOCAP_CODE_COUNTS = iemocap.CODE_COUNTS


@dataclasses.dataclass(frozen=True)
class LabelScheme:
  """A pure mapping raw code -> class index (None = not in the task), with class names."""
  name: str
  class_names: tuple[str, ...]
  code_to_class: Mapping[str, int]
  multi_label: bool = False
  description: str = ""

  def __post_init__(self):
    bad = sorted(set(self.code_to_class) - set(IEMOCAP_CODES))
    if bad:
      raise ValueError(f"Scheme {self.name!r} maps unknown codes {bad}.")
    if sorted(set(self.code_to_class.values())) != list(range(len(self.class_names))):
      raise ValueError(f"Scheme {self.name!r} must use every class index 0..{len(self.class_names) - 1}.")

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def __call__(self, code: str | int) -> int | None:
    """Class index of a raw code (a string, or an index into IEMOCAP_CODES), or None."""
    return self.code_to_class.get(raw_code(code))

  def target(self, code: str | int) -> np.ndarray | None:
    """The training target: int32 scalar, or a float32 one-hot for a multi-label scheme."""
    index = self(code)
    if index is None:
      return None
    if self.multi_label:
      one_hot = np.zeros((self.num_classes,), np.float32)
      one_hot[index] = 1.0
      return one_hot
    return np.int32(index)

  def counts(self, codes: Iterable[str | int]) -> dict[str, int]:
    """Number of utterances per class name (codes outside the scheme are not counted)."""
    tally = collections.Counter(self(c) for c in codes)
    return {name: tally.get(i, 0) for i, name in enumerate(self.class_names)}


def raw_code(code: str | int) -> str:
  """The code string of a raw label given as a string, bytes, an index, or a 0-d array of either."""
  if isinstance(code, np.ndarray) and code.ndim == 0:
    code = code.item()
  if isinstance(code, (int, np.integer)):
    if not 0 <= int(code) < len(IEMOCAP_CODES):
      raise ValueError(f"Raw label index {code} is outside 0..{len(IEMOCAP_CODES) - 1} ({IEMOCAP_CODES}).")
    return IEMOCAP_CODES[int(code)]
  if isinstance(code, bytes):
    code = code.decode()
  if code not in IEMOCAP_CODES:
    raise ValueError(f"Unknown IEMOCAP label code {code!r}; known codes: {IEMOCAP_CODES}.")
  return code


def _iemocap_scheme(name: str, description: str, multi_label: bool = False) -> LabelScheme:
  """A scheme over IEMOCAP's class order `name` (mmer_jax.datasets.iemocap), codes it merges included."""
  classes = iemocap.SCHEME_CLASSES[name]
  merges = iemocap.SCHEME_MERGES.get(name, {})
  code_to_class = {code: i for i, code in enumerate(classes)}
  code_to_class.update({code: classes.index(into) for code, into in merges.items()})
  return LabelScheme(name, classes, code_to_class, multi_label=multi_label, description=description)


SCHEMES: dict[str, LabelScheme] = {s.name: s for s in (
    _iemocap_scheme("iemocap_4class", "Standard 4-class IEMOCAP, excited merged into happy (seed 002)."),
    _iemocap_scheme("seed004_4class", "Seed 004: excited instead of happy, no merge."),
    _iemocap_scheme("mme2e_6class", "MME2E / MESM: six classes as one-hot targets for a sigmoid BCE loss.",
                    multi_label=True),
    _iemocap_scheme("iemocap_6class",
                    "Six classes of the conversation-emotion literature, one index per utterance."),
    _iemocap_scheme("seed003_6class", "Seed 003 (Sahu 2019 lineage): hap+exc and sad+fru merged."),
)}


def get_scheme(name: str) -> LabelScheme:
  if name not in SCHEMES:
    raise KeyError(f"Unknown label scheme {name!r}. Known schemes: {', '.join(sorted(SCHEMES))}.")
  return SCHEMES[name]


# ---- Datasets that store one value per class (SAMSEMO `labels`, CMU-MOSEI raw `emotions`) --------
# Their builders already store 0/1 vectors, so a scheme only chooses between the multi-label task
# (the vector as it is) and a single-label one, which keeps the examples with exactly one class
# present: an example annotated with two emotions has no single right answer.

SAMSEMO_EMOTIONS = samsemo.EMOTIONS
MOSEI_EMOTIONS = cmu_mosei.EMOTIONS    # MME2E's order, score > 0


@dataclasses.dataclass(frozen=True)
class VectorScheme:
  """A label read from a stored per-class vector `field` (values > 0 = class present)."""
  name: str
  field: str
  class_names: tuple[str, ...]
  multi_label: bool = True
  description: str = ""

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def target(self, vector) -> np.ndarray | None:
    present = np.asarray(vector, np.float32) > 0
    if present.shape != (self.num_classes,):
      raise ValueError(f"Scheme {self.name!r} expects {self.field!r} of shape ({self.num_classes},), "
                       f"got {present.shape}.")
    if self.multi_label:
      return present.astype(np.float32)
    return np.int32(np.flatnonzero(present)[0]) if present.sum() == 1 else None


VECTOR_SCHEMES: dict[str, VectorScheme] = {s.name: s for s in (
    VectorScheme("samsemo_multi", "labels", SAMSEMO_EMOTIONS,
                 description="SAMSEMO's five emotions as a multi-hot target (the paper's task)."),
    VectorScheme("samsemo_single", "labels", SAMSEMO_EMOTIONS, multi_label=False,
                 description="SAMSEMO scenes with exactly one emotion, as a class index."),
    VectorScheme("mosei_multi", "emotions", MOSEI_EMOTIONS,
                 description="CMU-MOSEI emotions present (mean score > 0), multi-hot (MME2E)."),
    VectorScheme("mosei_single", "emotions", MOSEI_EMOTIONS, multi_label=False,
                 description="CMU-MOSEI clips with exactly one emotion present, as a class index."),
)}

# ---- Datasets built from a user's manifest (tfds_builders/manifest) --------------------------------
# Their labels are whatever columns the user named: each is stored as `label_<key>` and described
# (column, kind, class order) in the build's metadata, which mmer_jax/data/manifest_task.py reads into
# the config. The stored value already is the target: a class index, a multi-hot vector or a value.

MANIFEST = manifest.DATASET.name
MANIFEST_LABEL_PREFIX = manifest.LABEL_PREFIX


@dataclasses.dataclass(frozen=True)
class ManifestScheme:
  """The label column `name` of a manifest dataset; its kind shows in the stored dtype (ClassLabel
  int -> single label, float vector -> multi-label, float scalar -> regression)."""
  name: str
  class_names: tuple[str, ...] = ()   # filled into the config from the build, not needed here
  multi_label: bool = False
  description: str = "A label column of a manifest dataset, as its build stored it."

  @property
  def field(self) -> str:
    return MANIFEST_LABEL_PREFIX + self.name

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def target(self, value) -> np.ndarray:
    value = np.asarray(value)
    if value.ndim == 1:
      return value.astype(np.float32)                 # multi-hot (C,)
    if np.issubdtype(value.dtype, np.integer):
      return np.int32(value)                          # class index
    return np.asarray([value], np.float32)            # one regression target (1,)


# Which schemes fit which dataset (the raw-code schemes need IEMOCAP's `label` field; a manifest's
# are its label columns, read from its build).
DATASET_SCHEMES: dict[str, tuple[str, ...]] = {
    iemocap.DATASET.name: tuple(SCHEMES),
    samsemo.DATASET.name: ("samsemo_multi", "samsemo_single"),
    cmu_mosei.DATASET.name: ("mosei_multi", "mosei_single"),
    MANIFEST: (),
}


def scheme_for(dataset: str, name: str) -> LabelScheme | VectorScheme | ManifestScheme:
  """The scheme `name` for `dataset`; an unknown pair names the schemes that fit the dataset."""
  if dataset == MANIFEST:
    return ManifestScheme(name)
  if dataset not in DATASET_SCHEMES:
    raise KeyError(f"Unknown dataset {dataset!r} for label schemes; known: {', '.join(DATASET_SCHEMES)}.")
  if name not in DATASET_SCHEMES[dataset]:
    raise KeyError(f"Label scheme {name!r} does not fit {dataset}; use one of "
                   f"{', '.join(DATASET_SCHEMES[dataset])}.")
  return SCHEMES[name] if dataset == iemocap.DATASET.name else VECTOR_SCHEMES[name]
