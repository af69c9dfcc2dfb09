"""Preprocessors: per-example transforms from stored TFDS features to fixed-shape model inputs.

Importing this package imports every module in it, which registers each preprocessor.
"""

import importlib
import pkgutil

from mmer_jax.data.preprocess.base import Preprocessor  # noqa: F401

for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f"{__name__}.{_module.name}")
