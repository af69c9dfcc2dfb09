"""Model zoo. Importing this package imports every module in it, which registers each model.

Convention (see docs/DEVELOPING.md): a model is a `flax.linen.Module` called as
`model.apply(variables, inputs, train=...)` where `inputs` maps modality names to batched arrays,
and it returns logits of shape (batch, num_outputs). Extra tensors worth inspecting (attention maps,
gates) are stored with `self.sow('intermediates', name, value)`.
"""

import importlib
import pkgutil
from typing import Any, Iterable

import jax
import numpy as np


def param_count(variables: Any, collections: Iterable[str] = ("params",)) -> int:
  """Number of scalars in the given variable collections (e.g. add 'batch_stats' for Keras parity)."""
  total = 0
  for name in collections:
    for leaf in jax.tree_util.tree_leaves(variables.get(name, {})):
      total += int(np.prod(leaf.shape))
  return total


for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f"{__name__}.{_module.name}")
