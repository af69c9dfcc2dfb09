"""Random-access views of example sources (no copies). A light module: configs import its users."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


class IndexedSource:
  """A random-access view of `source` restricted to `indices` (kept examples, a split's share)."""

  def __init__(self, source: Sequence[Any], indices: np.ndarray):
    self.source, self.indices = source, np.asarray(indices, np.int64)

  def __len__(self) -> int:
    return len(self.indices)

  def __getitem__(self, i: int) -> Any:
    return self.source[int(self.indices[i])]
