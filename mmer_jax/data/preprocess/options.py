"""Typed preprocessor options: `config.input.preprocess` becomes the preprocessor's own dataclass.

Each preprocessor module registers a factory `make(options: <Options dataclass>)`; `build(config)`
reads the dataclass from the factory's annotation, so the options a preprocessor accepts are listed
in one place. An option the dataclass does not have is an error naming it (a misspelt option in a
config file would otherwise be silently ignored).

Facts the config already states elsewhere are derived, not repeated: an Options class may define
`derive(config) -> dict` (the model's modalities, the dataset family behind `input.tfds_name`, the
number of outputs). A config that states a derived option anyway must agree with it.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping

from ml_collections import ConfigDict

from mmer_jax import registry
from mmer_jax.data.preprocess.base import Preprocessor
from mmer_jax.errors import ConfigError, did_you_mean

SECTION = "config.input.preprocess"


def dataset_family(tfds_name: str) -> str:
  """'iemocap/seed002' -> 'iemocap'; '' (in-memory sources) -> ''."""
  return (tfds_name or "").split("/")[0].split(":")[0]


def model_field(config: ConfigDict, name: str) -> Any:
  """`config.model.<name>`, else the model's own default for it (its dataclass field is the one home
  of that default); None when the model has no such field or no default."""
  if name in config.model:
    return config.model[name]
  field = getattr(registry.get_model(config.model_name), "__dataclass_fields__", {}).get(name)
  return None if field is None or field.default is dataclasses.MISSING else field.default


def _plain(value: Any) -> Any:
  if isinstance(value, ConfigDict):
    return {k: _plain(v) for k, v in value.items()}
  if isinstance(value, Mapping):
    return {k: _plain(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_plain(v) for v in value)
  return value


def options_class(factory) -> type:
  hints = typing.get_type_hints(factory)
  first = next(iter(typing.get_type_hints(factory).keys() - {"return"}), None)
  cls = hints.get(first)
  if cls is None or not dataclasses.is_dataclass(cls):
    raise TypeError(f"Preprocessor factory {factory.__module__}.{factory.__name__} must take one "
                    "dataclass argument (its options).")
  return cls


def parse(cls: type, section: Mapping[str, Any], derived: Mapping[str, Any], name: str) -> Any:
  """`cls(**section, **derived)` with every unknown or contradicting option named in the error."""
  fields = {f.name for f in dataclasses.fields(cls)}
  values = {k: _plain(v) for k, v in section.items()}
  for key in values:
    if key not in fields:
      raise ConfigError(f"{SECTION}.{key} is not an option of the {name!r} preprocessor."
                        f"{did_you_mean(key, fields)} Its options: {', '.join(sorted(fields))}.")
  for key, value in derived.items():
    if key in values and values[key] != _plain(value):
      raise ConfigError(f"{SECTION}.{key}={values[key]!r} contradicts {value!r}, which the config states "
                        f"elsewhere (see {cls.__name__}.derive); remove {SECTION}.{key}.")
    values[key] = _plain(value)
  return cls(**values)


def build(config: ConfigDict) -> Preprocessor:
  """The preprocessor `config.input.preprocessor` names, with its typed options."""
  name = config.input.preprocessor
  factory = registry.get_preprocessor(name)
  cls = options_class(factory)
  derived = cls.derive(config) if hasattr(cls, "derive") else {}
  section = config.input.preprocess or {}
  return factory(parse(cls, section, derived, name))
