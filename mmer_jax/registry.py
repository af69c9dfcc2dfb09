"""Name -> object registries for models, input preprocessors and datasets.

Configs refer to everything by name, so a typo must fail loudly with the list of known names
rather than with a KeyError deep inside the trainer.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
  """An unregistered name was requested; the message lists what is registered."""

  def __str__(self) -> str:  # KeyError would quote the message.
    return str(self.args[0])


class Registry(Generic[T]):
  """A named collection. `register` is a decorator; `get` raises with the known names."""

  def __init__(self, kind: str):
    self.kind = kind
    self._items: dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    def decorator(obj: T) -> T:
      if name in self._items and self._items[name] is not obj:
        raise ValueError(f"{self.kind} {name!r} is registered twice.")
      self._items[name] = obj
      return obj
    return decorator

  def get(self, name: str) -> T:
    if name not in self._items:
      close = difflib.get_close_matches(name, self._items, n=3)
      hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
      raise UnknownNameError(
          f"Unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(sorted(self._items))}.")
    return self._items[name]

  def names(self) -> list[str]:
    return sorted(self._items)

  def __contains__(self, name: Any) -> bool:
    return name in self._items


# Flax modules (classes). Constructed as `MODELS.get(name)(**config.model.kwargs)`.
MODELS: Registry[Any] = Registry("model")
# Input preprocessors: factories `make(config.input) -> Callable[[example dict], model-input dict]`.
PREPROCESSORS: Registry[Callable[..., Any]] = Registry("preprocessor")
# TFDS builder classes that live in tfds_builders/, keyed by their TFDS name.
DATASETS: Registry[Any] = Registry("dataset")


def get_model(name: str) -> Any:
  import mmer_jax.models  # noqa: F401  (registers all models)
  return MODELS.get(name)


def get_preprocessor(name: str) -> Callable[..., Any]:
  import mmer_jax.data.preprocess  # noqa: F401  (registers all preprocessors)
  return PREPROCESSORS.get(name)
