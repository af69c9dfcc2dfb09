"""Williams EF-BLSTM trains on the CMU-MOSEI `csd_aligned` fixture through its real config.

Generates the miniature .csd release, builds `cmu_mosei/csd_aligned` with the TFDS builder (folds
from the fixture's cmu_mosei_folds.json), then runs `configs/williams_mosei.py:smoke` through
`train_and_evaluate` on the built ArrayRecord data: the full path a user takes, in seconds.
"""

import json

import numpy as np

from configs import williams_mosei
from mmer_jax.train import trainer
from tfds_builders import build as build_cli
from tfds_builders.cmu_mosei.dummy_data import generate


def test_williams_mosei_smoke_trains_on_built_fixture(tmp_path):
  release = generate.generate(str(tmp_path / "release"), duration=(10.0, 14.0))
  builder = build_cli.build("cmu_mosei/csd_aligned", str(tmp_path / "data"), release["dir"])
  sizes = {split: info.num_examples for split, info in builder.info.splits.items()}
  assert min(sizes.values()) > 0

  config = williams_mosei.get_config("smoke")
  assert config.input.tfds_name == "cmu_mosei/csd_aligned"
  config.input.data_dir = str(tmp_path / "data")
  config.input.batch_size = 4
  config.input.eval_batch_size = 8
  config.num_epochs = 2
  result = trainer.train_and_evaluate(config, tmp_path / "work")

  assert set(result) == {"valid", "test"}
  assert result["test"]["num_examples"] == sizes["test"]
  assert np.isfinite(result["valid"]["loss"]) and np.isfinite(result["test"]["mae"])
  rows = [json.loads(line) for line in (tmp_path / "work" / "metrics.jsonl").read_text().splitlines()]
  assert [r["epoch"] for r in rows] == [1, 2]
  assert rows[-1]["step"] == 2 * (sizes["train"] // 4)
