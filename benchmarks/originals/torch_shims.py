"""Stand-ins for two imports of the upstream MME2E modules that this benchmark never exercises.

`src/models/e2e.py` (and `src/utils.py`) import `facenet_pytorch.MTCNN` and `torchvision.transforms`
at module level for face detection on raw frames inside `forward`. facenet-pytorch pins torch<2.3
and PyPI's torchvision does not load beside the CPU torch wheel, and mmer_jax detects faces in its
dataset builder, not in the step. So both sides take 48x48 face crops: `MTCNN` here hands the
crops through unchanged (channels first, as facenet's does) and `Normalize` does the per-channel
standardisation the original applies next. Installed only when the real packages do not import.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types


class PassThroughMTCNN:
  """The crops are already faces: returns them channels-first, one tensor per frame."""

  def __init__(self, *args, **kwargs):
    del args, kwargs

  def __call__(self, imgs):
    return [img.permute(2, 0, 1) for img in imgs]


class Normalize:
  def __init__(self, mean, std):
    import torch
    self.mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    self.std = torch.tensor(std, dtype=torch.float32)[:, None, None]

  def __call__(self, x):
    return (x - self.mean) / self.std


def install() -> list[str]:
  """Registers the stand-ins for whichever of the two packages cannot be imported; returns their names."""
  installed = []
  try:  # transformers records which packages exist when first imported: let it see the real set
    import transformers.utils.import_utils  # noqa: F401
  except ImportError:
    pass
  try:
    import facenet_pytorch  # noqa: F401
  except Exception:  # ImportError, or a RuntimeError from a mismatched torchvision
    sys.modules["facenet_pytorch"] = _module("facenet_pytorch", MTCNN=PassThroughMTCNN)
    installed.append("facenet_pytorch")
  try:
    import torchvision  # noqa: F401
  except Exception:
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
      del sys.modules[name]  # a half-imported torchvision would shadow the stand-in
    transforms = _module("torchvision.transforms", Normalize=Normalize)
    tv = _module("torchvision", transforms=transforms)
    sys.modules["torchvision"], sys.modules["torchvision.transforms"] = tv, transforms
    installed.append("torchvision")
  return installed


def _module(name: str, **attrs) -> types.ModuleType:
  module = types.ModuleType(name)
  module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)  # importlib.util.find_spec needs one
  module.__dict__.update(attrs)
  return module
