"""TFDS builders for the datasets mmer_jax trains on.

Each builder lives in `tfds_builders/<name>/<name>_dataset_builder.py` (the `tfds new` layout) and is
imported lazily, so building SAMSEMO does not import the CMU-MOSEI code and vice versa.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

_HERE = Path(__file__).parent


def builder_names() -> list[str]:
  return sorted(m.name for m in pkgutil.iter_modules([str(_HERE)])
                if m.ispkg and (_HERE / m.name / f"{m.name}_dataset_builder.py").exists())


def builder_class(name: str):
  """The `Builder` class of `tfds_builders/<name>/`; unknown names list the known ones."""
  if name not in builder_names():
    from mmer_jax.errors import did_you_mean  # noqa: PLC0415
    from mmer_jax.registry import UnknownNameError  # noqa: PLC0415  (a KeyError and a UserError)
    raise UnknownNameError(f"Unknown dataset builder {name!r}.{did_you_mean(name, builder_names())} "
                           f"Known builders: {', '.join(builder_names())}.")
  return importlib.import_module(f"tfds_builders.{name}.{name}_dataset_builder").Builder
