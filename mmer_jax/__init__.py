"""mmer_jax: multimodal emotion recognition in JAX/Flax.

Models and preprocessors are looked up by name through `mmer_jax.registry`, which imports
`mmer_jax.models` and `mmer_jax.data.preprocess` (registering every one) on the first lookup.
Datasets are TFDS builders in the top-level `tfds_builders` package.
"""

__version__ = "0.1.0"

import logging as _logging

# The package logs progress at INFO through its own handler, so absl's verbosity (which also governs
# Orbax's and grain's chatty INFO logs) can stay at WARNING.
_logger = _logging.getLogger("mmer_jax")
if not _logger.handlers:
  _handler = _logging.StreamHandler()
  _handler.setFormatter(_logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
  _logger.addHandler(_handler)
  _logger.setLevel(_logging.INFO)
  _logger.propagate = False
