"""End-to-end train/evaluate/resume on tiny in-memory data through the real trainer."""

import json

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from mmer_jax.data import sources as sources_lib
from mmer_jax.train import trainer
from tests.helpers import tiny_williams_config, williams_examples, williams_sources


def _latest_params(workdir):
  manager = ocp.CheckpointManager(workdir / "checkpoints" / "latest")
  restored = manager.restore(manager.latest_step(), args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  manager.close()
  return restored.state


def test_one_epoch_then_resume_then_evaluate(tmp_path):
  sources = williams_sources()
  config = tiny_williams_config(num_epochs=1)
  first = trainer.train_and_evaluate(config, tmp_path, sources=sources)
  assert set(first) == {"valid", "test"} and first["test"]["num_examples"] == 20
  report = tmp_path / "report"
  for name in ("report.md", "valid_metrics.json", "test_metrics.csv", "test_per_class.csv",
               "test_predictions.csv", "learning_curves.png"):
    assert (report / name).exists(), name
  assert json.loads((report / "test_metrics.json").read_text())["metrics"]["mae"] == pytest.approx(first["test"]["mae"])

  config.num_epochs = 2  # same workdir: resumes after epoch 1 instead of starting again
  trainer.train_and_evaluate(config, tmp_path, sources=sources)
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["epoch"] for r in rows] == [1, 2]
  assert rows[1]["step"] == 2 * rows[0]["step"]

  evaluated = trainer.train_and_evaluate(config, tmp_path, sources=sources, mode="evaluate")
  best_epoch = int(np.argmin([r["valid/loss"] for r in rows]))
  assert evaluated["valid"]["loss"] == pytest.approx(rows[best_epoch]["valid/loss"], rel=1e-5)


def test_interrupted_then_resumed_run_matches_uninterrupted(tmp_path):
  sources = williams_sources()
  config = tiny_williams_config(num_epochs=2, dropout=0.3)  # dropout: the RNG must resume exactly too
  trainer.train_and_evaluate(config, tmp_path / "straight", sources=sources)

  config.stop_after_steps = 3  # mid-epoch 1 (6 steps per epoch): saves the latest and stops
  assert trainer.train_and_evaluate(config, tmp_path / "resumed", sources=sources) == {}
  assert int(_latest_params(tmp_path / "resumed")["step"]) == 3
  config.stop_after_steps = None
  trainer.train_and_evaluate(config, tmp_path / "resumed", sources=sources)

  straight, resumed = _latest_params(tmp_path / "straight"), _latest_params(tmp_path / "resumed")
  assert int(straight["step"]) == int(resumed["step"]) == 12
  for a, b in zip(jax.tree_util.tree_leaves(straight), jax.tree_util.tree_leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_also_best_keeps_a_second_best_checkpoint_by_another_metric(tmp_path):
  config = tiny_williams_config(num_epochs=2)
  config.checkpoint.also_best = [{"metric": "mae", "mode": "min"}]
  trainer.train_and_evaluate(config, tmp_path, sources=williams_sources())
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  manager = ocp.CheckpointManager(tmp_path / "checkpoints" / "best_mae")
  best_epoch = int(np.argmin([r["valid/mae"] for r in rows]))
  assert manager.best_step() == rows[best_epoch]["step"]
  manager.close()


def test_unfinished_checkpoint_folder_is_ignored_on_resume(tmp_path):
  sources = williams_sources()
  config = tiny_williams_config(num_epochs=1)
  config.stop_after_steps = 2
  trainer.train_and_evaluate(config, tmp_path, sources=sources)
  # What a kill in the middle of saving step 4 leaves behind: Orbax's temporary folder.
  (tmp_path / "checkpoints" / "latest" / "4.orbax-checkpoint-tmp-123").mkdir()
  config.stop_after_steps = None
  result = trainer.train_and_evaluate(config, tmp_path, sources=sources)
  assert int(_latest_params(tmp_path)["step"]) == 6 and np.isfinite(result["valid"]["loss"])


def test_nan_loss_stops_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
  sources = williams_sources()
  sources["train"][17]["glove"][:] = np.nan  # GloVe is not normalised, so this reaches the loss
  config = tiny_williams_config(num_epochs=1)
  config.checkpoint.every_steps = 1
  with pytest.raises(trainer.NonFiniteLossError, match=r"Loss became nan at step (\d+)") as error:
    trainer.train_and_evaluate(config, tmp_path, sources=sources)
  import re
  bad_step = int(re.search(r"at step (\d+)", str(error.value)).group(1))
  latest = _latest_params(tmp_path)
  assert int(latest["step"]) == bad_step - 1
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(latest["params"]))


def test_missing_dataset_error_says_how_to_build_it(tmp_path):
  with pytest.raises(sources_lib.DatasetNotBuiltError, match="python -m tfds_builders.build synthetic_mosei/aligned"):
    sources_lib.tfds_source("synthetic_mosei/aligned", "train", str(tmp_path))


def test_williams_learns_on_the_builtin_sample(tmp_path):
  """Through the TFDS builder and data_source path: validation MAE clearly beats the mean predictor."""
  from tfds_builders import build
  data_dir = str(tmp_path / "data")
  build.build("synthetic_mosei/aligned", data_dir, options={"num_videos": 80}, name="small")
  config = tiny_williams_config(num_epochs=6, batch_size=16)
  config.input.tfds_name = "synthetic_mosei/small"
  config.input.data_dir = data_dir
  config.model.lstm_units = 16
  config.model.num_nodes = 32
  config.input.preprocess.steps = 24
  result = trainer.train_and_evaluate(config, tmp_path / "run")
  train = sources_lib.tfds_source("synthetic_mosei/small", "train", data_dir)
  valid = sources_lib.tfds_source("synthetic_mosei/small", "validation", data_dir)
  mean = np.mean([train[i]["labels"][1:] for i in range(len(train))], axis=0)
  baseline = np.mean([np.abs(valid[i]["labels"][1:] - mean).mean() for i in range(len(valid))])
  assert result["valid"]["mae"] < 0.8 * baseline, (result["valid"]["mae"], baseline)
