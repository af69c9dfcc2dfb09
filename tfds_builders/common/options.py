"""A builder config's options: as the JSON the build report and the dataset metadata store, and as the
smaller options record a worker needs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# TFDS bookkeeping fields of every BuilderConfig: not options of the build.
_TFDS_FIELDS = {"name", "description", "version", "release_notes", "supported_versions", "tags"}


def config_options(cfg) -> dict[str, Any]:
  """Every option field of `cfg`, JSON-safe (paths may arrive as pathlib objects from Python)."""
  def safe(value):
    if isinstance(value, Path):
      return str(value)
    return list(value) if isinstance(value, tuple) else value
  return {f.name: safe(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.name not in _TFDS_FIELDS}


def options_for(cfg, cls: type[T]) -> T:
  """The dataclass `cls` (e.g. a worker's media options) filled from the fields of `cfg` of the same
  names: a config lacking one of them fails here, not in a worker."""
  return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})
