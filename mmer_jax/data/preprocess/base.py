"""The preprocessor contract: keep -> fit (train split only) -> __call__ per example."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

import numpy as np

from mmer_jax.data import length_buckets  # noqa: F401  (the LengthGroup type of length_groups)

Example = Mapping[str, Any]


class Preprocessor:
  """Turns one stored example into a dict of fixed-shape numpy arrays.

  Output keys: model inputs by modality (e.g. `text`, `text_mask`, `audio`, `audio_mask`),
  `label`, and host-only metadata under `meta/...` (strings allowed; never fed to the model, used
  for sliced evaluation and prediction files).

  Statistics that depend on data (normalisation, TF-IDF vocabularies, scalers) are learnt in `fit`,
  which the pipeline calls on the TRAIN split only, and are saved with `state_dict` so evaluation and
  prediction reuse exactly what training saw. That is what makes the default protocols leakage-free.
  """

  def keep(self, example: Example) -> bool:
    """False drops the example from the task (e.g. a label outside the label scheme)."""
    del example
    return True

  def label(self, example: Example):
    """The example's label under this task. Override when computing it is cheaper than the whole
    transform, or when the transform needs fitted statistics (the label never does)."""
    return self(example)["label"]

  def length_groups(self) -> dict[str, "length_buckets.LengthGroup"]:
    """The variable-length inputs the pipeline may bucket, most costly first: {group key: its
    maximum and bucket multiple} (`<key>` and `<key>_*` outputs vary along axis 0, `<key>_mask`
    marks the real steps). {} (default): every output has a fixed shape."""
    return {}

  def lengths(self, example: Example) -> dict[str, int]:
    """Real steps of each length group in `example`, for bucket choice, length-grouped batches and
    sorted evaluation. Default: from the transform's masks (needs fitted statistics); override it
    with something cheaper that needs none (the pipeline then computes lengths in its `keep` pass)."""
    out = self(example)
    return {key: int(np.asarray(out[f"{key}_mask"]).sum()) for key in self.length_groups()}

  def needs_fit(self) -> bool:
    return False

  def fit(self, examples: Iterable[Example]) -> None:
    del examples

  def state_dict(self) -> dict[str, Any]:
    return {}

  def load_state_dict(self, state: Mapping[str, Any]) -> None:
    del state

  def __call__(self, example: Example) -> dict[str, np.ndarray]:
    raise NotImplementedError


def as_str(value: Any) -> str:
  """TFDS data sources return Text features as bytes; in-memory fixtures may hold str."""
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def adopt_options(preprocessor: Preprocessor, options: Any) -> None:
  """Each field of a preprocessor's options dataclass becomes its attribute of the same name (lists
  as tuples), so a preprocessor lists its options once, in the dataclass, not again field by field."""
  for field in dataclasses.fields(options):
    value = getattr(options, field.name)
    setattr(preprocessor, field.name, tuple(value) if isinstance(value, list) else value)


def meta_fields(example: Example, keys) -> dict[str, np.ndarray]:
  """`meta/<key>` strings for the listed keys the example has (host-only, for slices and reports)."""
  return {f"meta/{key}": np.asarray(as_str(example[key])) for key in keys if key in example}


def pad_or_truncate(x: np.ndarray, length: int, *, keep: str = "first") -> tuple[np.ndarray, np.ndarray]:
  """Pads (with zeros, at the end) or truncates axis 0 to `length`; returns (array, mask).

  keep="last" keeps the last `length` steps when truncating (Williams et al.'s fixed-length rule).
  """
  x = np.asarray(x)
  n = x.shape[0]
  if n > length:
    x = x[-length:] if keep == "last" else x[:length]
    n = length
  out = np.zeros((length,) + x.shape[1:], dtype=x.dtype)
  out[:n] = x
  mask = np.zeros((length,), dtype=bool)
  mask[:n] = True
  return out, mask
