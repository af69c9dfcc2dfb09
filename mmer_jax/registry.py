"""Name -> object registries for models and input preprocessors.

Configs refer to everything by name, so a typo must fail loudly with the list of known names
rather than with a KeyError deep inside the trainer.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

from mmer_jax.errors import UserError, did_you_mean

T = TypeVar("T")


class UnknownNameError(UserError, KeyError):
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
      raise UnknownNameError(f"Unknown {self.kind} {name!r}.{did_you_mean(name, self._items)} "
                             f"Known {self.kind}s: {', '.join(sorted(self._items))}.")
    return self._items[name]

  def names(self) -> list[str]:
    return sorted(self._items)

  def __contains__(self, name: Any) -> bool:
    return name in self._items


# Flax modules (classes). Constructed as `MODELS.get(name)(**config.model.kwargs)`.
MODELS: Registry[Any] = Registry("model")
# Input preprocessors: factories `make(options: <Options dataclass>) -> Preprocessor`
# (see mmer_jax/data/preprocess/options.py).
PREPROCESSORS: Registry[Callable[..., Any]] = Registry("preprocessor")


def get_model(name: str) -> Any:
  import mmer_jax.models  # noqa: F401  (registers all models)
  return MODELS.get(name)


def get_preprocessor(name: str) -> Callable[..., Any]:
  import mmer_jax.data.preprocess  # noqa: F401  (registers all preprocessors)
  return PREPROCESSORS.get(name)
