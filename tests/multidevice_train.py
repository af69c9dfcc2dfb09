"""Trains the tiny Williams config on 8 forced CPU devices into argv[1] (run as a subprocess)."""

import json
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from mmer_jax.train import trainer  # noqa: E402
from tests.helpers import tiny_williams_config, williams_sources  # noqa: E402

if __name__ == "__main__":
  jax.config.update("jax_disable_most_optimizations", True)
  assert jax.device_count() == 8, jax.devices()
  config = tiny_williams_config(num_epochs=2, batch_size=16)
  results = trainer.train_and_evaluate(config, sys.argv[1], sources=williams_sources())
  print(json.dumps({split: {"mae": metrics["mae"]} for split, metrics in results.items()}))
