"""Small shared test utilities: tiny configs and in-memory example sources."""

from __future__ import annotations

import numpy as np

from configs import williams_sample


def williams_examples(n: int, seed: int = 0, min_words: int = 4, max_words: int = 12) -> list[dict]:
  """In-memory examples in the csd_aligned format whose labels are learnable from GloVe."""
  rng = np.random.default_rng(seed)
  direction = np.random.default_rng(123).normal(0, 1, (6, 300)).astype(np.float32) / 4
  examples = []
  for i in range(n):
    steps = int(rng.integers(min_words, max_words + 1))
    emotions = np.round(rng.uniform(0, 3, 6) * (rng.uniform(size=6) < 0.5) * 3) / 3
    labels = np.concatenate([[emotions[0] - emotions[1]], emotions]).astype(np.float32)
    examples.append({
        "glove": (emotions / 3 @ direction + rng.normal(0, 0.3, (steps, 300))).astype(np.float32),
        "facet": rng.normal(0, 1, (steps, 35)).astype(np.float32),
        "covarep": rng.normal(0, 1, (steps, 74)).astype(np.float32),
        "labels": labels,
        "id": f"vid{i}[0]".encode(),
    })
  return examples


def tiny_williams_config(num_epochs: int = 1, batch_size: int = 8, dropout: float = 0.0):
  config = williams_sample.get_config("smoke")
  config.num_epochs = num_epochs
  config.input.batch_size = batch_size
  config.input.eval_batch_size = 16
  config.input.preprocess.steps = 8
  config.input.tfds_name = ""
  config.model.num_nodes = 8
  config.model.lstm_units = 8
  config.model.dropout = dropout
  config.evaluation.early_stopping_patience = None
  return config


def williams_sources(n_train: int = 48, n_valid: int = 20, n_test: int = 20) -> dict[str, list]:
  return {"train": williams_examples(n_train, 0), "valid": williams_examples(n_valid, 1),
          "test": williams_examples(n_test, 2)}
