"""SAMSEMO's evaluation end to end on in-memory examples through `train_and_evaluate`: the faithful
protocol's train thresholds on test."""

import json

import pytest

from configs import mme2e_samsemo
from mmer_jax.train import trainer
from tests.test_model_mme2e import samsemo_examples

SIZES = {"train": 32, "valid": 12, "test": 14}  # valid/test are not multiples of the eval batch (16)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("samsemo_eval")
  config = mme2e_samsemo.get_config("smoke,mods=t,protocol=faithful")  # text: compiles in no time
  config.num_epochs = 2
  config.input.tfds_name = ""
  config.input.batch_size = 8
  config.evaluation.early_stopping_patience = None
  small = dict(face=16, mel_shape=(32, 16))  # unused by the text branch; small to build fast
  sources = {split: samsemo_examples(n, seed, **small) for seed, (split, n) in enumerate(SIZES.items())}
  results = trainer.train_and_evaluate(config, workdir, sources=sources)
  return workdir, sources, results


def test_protocol_arg_sets_the_threshold_protocol():
  assert mme2e_samsemo.get_config().evaluation.threshold_protocol == "valid"
  assert mme2e_samsemo.get_config("protocol=faithful").evaluation.threshold_protocol == "samsemo"
  with pytest.raises(ValueError, match="protocol='samsemo'; use one of clean, faithful"):
    mme2e_samsemo.get_config("protocol=samsemo")


def test_faithful_protocol_scores_test_with_the_last_epochs_train_thresholds(run):
  workdir, _, _ = run
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert len(rows) == 2 and all(len(row["train/thresholds"]) == 5 for row in rows)
  test = json.loads((workdir / "report" / "test_metrics.json").read_text())
  assert list(test["thresholds"].values()) == pytest.approx(rows[-1]["train/thresholds"])
