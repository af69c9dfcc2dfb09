"""Model zoo. Importing this package imports every module in it, which registers each model.

Convention (see docs/DEVELOPING.md): a model is a `flax.linen.Module` called as
`model.apply(variables, inputs, train=...)` where `inputs` maps modality names to batched arrays,
and it returns logits of shape (batch, num_outputs). Extra tensors worth inspecting (attention maps,
gates) are stored with `self.sow('intermediates', name, value)`.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f"{__name__}.{_module.name}")
