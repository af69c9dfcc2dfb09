"""Reading CMU-MultimodalSDK computational sequences (`.csd`, HDF5) with h5py, without the SDK.

Layout (see shared spec §2.1): exactly one top-level group `<root name>` holding
`data/<video id>/{features (N, D), intervals (N, 2)}` and `metadata/<key>`, a (1,) vlen-string
dataset whose value is a JSON string (plain strings are accepted too, as the SDK does).

A file that cannot be opened, or has no `data` group, raises `CsdError` naming the file: nothing can
be built from it. A single broken video entry (missing dataset, wrong shape, features/intervals
length mismatch, unreadable or corrupt chunk) raises `CsdEntryError` with a short reason, which the
builder counts in the build report and then treats the video as absent from that sequence.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

import h5py
import numpy as np

from mmer_jax.errors import UserError


class CsdError(UserError, RuntimeError):  # build.py exits 2 on it
  """A whole .csd file is unusable; the message names the file and what to do."""


class CsdEntryError(ValueError):
  """One video entry of a .csd file is unusable; `reason` is a short, countable tag."""

  def __init__(self, reason: str, message: str):
    super().__init__(message)
    self.reason = reason


def _decode(value: Any) -> str:
  if isinstance(value, bytes):
    return value.decode("utf-8", errors="replace")
  return str(value)


def parse_metadata_value(raw: Any) -> Any:
  """The SDK writes `json.dumps(value)`; older files hold plain strings, which are returned as is."""
  text = _decode(raw)
  try:
    return json.loads(text)
  except (json.JSONDecodeError, ValueError):
    return text


class CsdFile:
  """A read-only view of one computational sequence. Entries are read lazily, one video at a time."""

  def __init__(self, path: str | os.PathLike):
    self.path = os.fspath(path)
    if not os.path.isfile(self.path):
      raise CsdError(f"{self.path}: file not found. Put the CMU-MOSEI .csd files in --manual_dir.")
    try:
      self._h5 = h5py.File(self.path, "r")
    except OSError as err:
      raise CsdError(
          f"{self.path}: not a readable HDF5 computational sequence ({err}). The file is probably "
          "truncated or corrupt: download it again and check its size/md5.") from err
    roots = list(self._h5.keys())
    if not roots:
      raise CsdError(f"{self.path}: HDF5 file has no top-level group; expected one `<root name>` group.")
    # The SDK takes the first top-level group; we do the same, and name it in errors.
    self.root_name = roots[0]
    root = self._h5[self.root_name]
    if "data" not in root:
      raise CsdError(f"{self.path}: group {self.root_name!r} has no 'data' subgroup; not a .csd file.")
    self._data = root["data"]
    self.metadata = self._read_metadata(root)

  def _read_metadata(self, root: h5py.Group) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "metadata" not in root:
      return out
    for key, ds in root["metadata"].items():
      try:
        out[key] = parse_metadata_value(ds[0] if ds.shape else ds[()])
      except Exception as err:  # noqa: BLE001  (a broken metadata entry must not stop the build)
        out[key] = f"<unreadable: {err}>"
    return out

  def video_ids(self) -> list[str]:
    return list(self._data.keys())

  def __contains__(self, vid: str) -> bool:
    return vid in self._data

  def num_rows(self, vid: str) -> int:
    """Row count of an entry without reading it (0 when the entry is broken)."""
    try:
      return int(self._data[vid]["intervals"].shape[0])
    except (KeyError, OSError, IndexError, AttributeError):
      return 0

  def read(self, vid: str, *, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Returns (intervals float64 (N, 2), features (N, D)); raises CsdEntryError on a broken entry.

    `dim`, when given, is the expected feature dimension D.
    """
    where = f"{self.path}: data/{vid}"
    group = self._data.get(vid)
    if not isinstance(group, h5py.Group):
      raise CsdEntryError("missing_entry", f"{where} is not a group")
    if "features" not in group or "intervals" not in group:
      raise CsdEntryError("missing_dataset", f"{where} lacks 'features' or 'intervals'")
    try:
      intervals = np.asarray(group["intervals"][()], dtype=np.float64)
      features = np.asarray(group["features"][()])
    except (OSError, ValueError, TypeError) as err:
      raise CsdEntryError("unreadable", f"{where} cannot be read (corrupt chunk?): {err}") from err
    if intervals.ndim != 2 or intervals.shape[1] != 2:
      raise CsdEntryError("bad_intervals_shape", f"{where}/intervals has shape {intervals.shape}, expected (N, 2)")
    if features.ndim < 2:
      raise CsdEntryError("bad_features_shape", f"{where}/features has shape {features.shape}, expected (N, D)")
    if features.shape[0] != intervals.shape[0]:
      raise CsdEntryError(
          "length_mismatch",
          f"{where}: features has {features.shape[0]} rows but intervals has {intervals.shape[0]}")
    features = features.reshape(features.shape[0], -1)
    if dim is not None and features.dtype.kind in "fiu" and features.shape[1] != dim:
      raise CsdEntryError("wrong_dimension", f"{where}/features has dimension {features.shape[1]}, expected {dim}")
    return intervals, features

  def close(self) -> None:
    self._h5.close()

  def __enter__(self) -> "CsdFile":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def find_csd_files(manual_dir: str | os.PathLike) -> Iterator[str]:
  """All `*.csd` files under `manual_dir` (recursively), sorted for determinism."""
  for dirpath, _, files in sorted(os.walk(os.fspath(manual_dir))):
    for name in sorted(files):
      if name.endswith(".csd"):
        yield os.path.join(dirpath, name)


def root_name_of(path: str) -> str | None:
  """The top-level group name of a .csd file, or None if it cannot be opened."""
  try:
    with h5py.File(path, "r") as f:
      keys = list(f.keys())
      return keys[0] if keys else None
  except OSError:
    return None


def locate(manual_dir: str | os.PathLike, file_names: tuple[str, ...], root_names: tuple[str, ...]) -> str | None:
  """Finds a sequence by its standard file name, else by its root group name (renamed files)."""
  candidates = list(find_csd_files(manual_dir))
  for path in candidates:
    if os.path.basename(path) in file_names:
      return path
  for path in candidates:
    if root_name_of(path) in root_names:
      return path
  return None
