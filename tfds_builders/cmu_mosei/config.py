"""Builder configuration: the three forms of CMU-MOSEI and the options a build accepts.

Options are dataclass fields, set on the command line with `--option key=value` (applied with
`dataclasses.replace`). `__post_init__` converts command-line strings to the field types, so
`modalities=glove,covarep,facet` or `drop_sp=true` work as well as Python values.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from tfds_builders.cmu_mosei import sequences

KINDS = ("csd_aligned", "csd_unaligned", "raw")
MISSING_POLICIES = ("drop", "zeros")
NONFINITE_POLICIES = ("keep", "zero", "drop")


def _as_bool(value) -> bool:
  if isinstance(value, str):
    if value.lower() in ("1", "true", "yes", "on"):
      return True
    if value.lower() in ("0", "false", "no", "off", ""):
      return False
    raise ValueError(f"Expected a boolean, got {value!r}.")
  return bool(value)


def _as_optional_int(value):
  if value is None or (isinstance(value, str) and value.lower() in ("none", "")):
    return None
  return int(value)


@dataclasses.dataclass
class CmuMoseiConfig(tfds.core.BuilderConfig):
  """One form of CMU-MOSEI (`kind`) plus build options."""
  kind: str = "csd_aligned"
  # --- splits (see folds.py) ---
  folds_file: str | None = None          # JSON {"train","valid","test"} of video ids; relative to manual_dir
  split_source: str = "standard"         # "standard" (SDK folds), "williams2018" or "mme2e" (clip lists)
  mme2e_split_dir: str | None = None     # folder with {train,valid,test}_split.txt
  # --- .csd configs ---
  # Sequences every example must have. The SDK's unify() drops a video missing from ANY sequence of
  # the recipe; the default is the seed's high-level recipe (all four).
  modalities: tuple[str, ...] = ("glove", "covarep", "facet", "openface")
  missing: str = "drop"                  # a segment without rows of a modality: drop it, or "zeros" (SDK impute)
  nonfinite: str = "keep"                # NaN/inf features: keep (seed applies nan_to_num later), zero, or drop
  drop_sp: bool = False                  # drop silence ('sp') words, found with the words .csd
  # --- raw config ---
  max_mel_pieces: int | None = 32        # stored pieces; `num_mel_pieces` keeps the count before truncation
  max_faces: int | None = 32             # stored face crops; `num_faces` keeps the count before truncation
  face_interval_ms: int = 500            # MME2E samples one frame every 500 ms

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}.")
    if isinstance(self.modalities, str):
      self.modalities = tuple(m.strip() for m in self.modalities.split(",") if m.strip())
    self.modalities = tuple(self.modalities)
    unknown = [m for m in self.modalities if m not in sequences.MODALITIES]
    if unknown or not self.modalities:
      raise ValueError(
          f"modalities must be a non-empty subset of {tuple(sequences.MODALITIES)}, got {self.modalities}.")
    if self.kind == "csd_aligned" and sequences.WORD_REFERENCE not in self.modalities:
      raise ValueError("csd_aligned aligns to words, so modalities must include 'glove'.")
    if self.missing not in MISSING_POLICIES:
      raise ValueError(f"missing must be one of {MISSING_POLICIES}, got {self.missing!r}.")
    if self.nonfinite not in NONFINITE_POLICIES:
      raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {self.nonfinite!r}.")
    self.drop_sp = _as_bool(self.drop_sp)
    self.max_mel_pieces = _as_optional_int(self.max_mel_pieces)
    self.max_faces = _as_optional_int(self.max_faces)
    self.face_interval_ms = int(self.face_interval_ms)
    for name in ("folds_file", "mme2e_split_dir"):
      if getattr(self, name) in ("", "None", "none"):
        setattr(self, name, None)

  def options(self) -> dict:
    """The build options (everything but the TFDS bookkeeping fields), for the build report."""
    base = {f.name for f in dataclasses.fields(tfds.core.BuilderConfig)}
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in base}
