"""Runs that cannot get stuck: saves on epoch boundaries, damaged checkpoints, lost runs, NaN on a fresh run."""

import json
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from mmer_jax.errors import DataError
from mmer_jax.train import checkpoint as ckpt_lib, trainer
from tests.helpers import tiny_williams_config, williams_sources

STEPS_PER_EPOCH = 6  # 48 training examples, batch 8


def _latest(workdir, step=None):
  manager = ocp.CheckpointManager(workdir / "checkpoints" / "latest")
  step = manager.latest_step() if step is None else step
  restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  manager.close()
  return restored.state


def _assert_same_state(a, b):
  assert int(a["step"]) == int(b["step"])
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _rows(workdir):
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
  """An uninterrupted 2-epoch run with dropout (the RNG must resume exactly too)."""
  workdir = tmp_path_factory.mktemp("straight")
  trainer.train_and_evaluate(tiny_williams_config(num_epochs=2, dropout=0.3), workdir, sources=williams_sources())
  return workdir


def test_step_saves_on_the_epochs_last_step_resume(tmp_path, straight):
  sources = williams_sources()
  config = tiny_williams_config(num_epochs=2, dropout=0.3)
  config.checkpoint.every_steps = STEPS_PER_EPOCH  # lands on the epoch's last step, as the epoch-end save
  config.stop_after_steps = STEPS_PER_EPOCH        # and the run stops right there
  assert trainer.train_and_evaluate(config, tmp_path, sources=sources) == {}
  config.stop_after_steps = None
  trainer.train_and_evaluate(config, tmp_path, sources=sources)
  _assert_same_state(_latest(tmp_path), _latest(straight))
  assert [r["epoch"] for r in _rows(tmp_path)] == [1, 2]


def test_a_damaged_newest_checkpoint_falls_back_to_the_older_one(tmp_path, straight, caplog):
  sources = williams_sources()
  config = tiny_williams_config(num_epochs=2, dropout=0.3)
  config.checkpoint.every_steps = 2
  config.stop_after_steps = 8
  trainer.train_and_evaluate(config, tmp_path, sources=sources)
  latest = tmp_path / "checkpoints" / "latest"
  assert sorted(int(p.name) for p in latest.iterdir() if p.name.isdigit()) == [6, 8]  # two kept
  # Truncate every data file of the newest step's state (what a full disk or a bad copy leaves).
  for path in (latest / "8" / "state").rglob("*"):
    if path.is_file() and path.stat().st_size > 64 and "d" in path.parent.name:
      path.write_bytes(path.read_bytes()[:16])
  config.stop_after_steps = None
  with caplog.at_level("WARNING"):
    trainer.train_and_evaluate(config, tmp_path, sources=sources)
  assert "does not restore" in caplog.text and "Resuming from the older checkpoint, step 6" in caplog.text
  _assert_same_state(_latest(tmp_path), _latest(straight))
  assert [r["epoch"] for r in _rows(tmp_path)] == [1, 2]


def test_a_garbled_progress_file_falls_back_to_the_older_checkpoint(tmp_path, straight):
  sources = williams_sources()
  config = tiny_williams_config(num_epochs=2, dropout=0.3)
  config.checkpoint.every_steps = 3
  config.stop_after_steps = 9
  trainer.train_and_evaluate(config, tmp_path, sources=sources)
  progress = next((tmp_path / "checkpoints" / "latest" / "9").rglob("progress*"))
  target = progress if progress.is_file() else next(p for p in progress.rglob("*") if p.is_file())
  target.write_text("{not json")
  config.stop_after_steps = None
  trainer.train_and_evaluate(config, tmp_path, sources=sources)
  _assert_same_state(_latest(tmp_path), _latest(straight))


def test_a_run_without_its_latest_checkpoint_is_not_silently_restarted(tmp_path):
  sources = williams_sources()
  config = tiny_williams_config(num_epochs=1)
  trainer.train_and_evaluate(config, tmp_path, sources=sources)
  shutil.rmtree(tmp_path / "checkpoints" / "latest")
  config.num_epochs = 2
  with pytest.raises(DataError, match=r"holds an earlier run .* --config\.checkpoint\.restart=True"):
    trainer.train_and_evaluate(config, tmp_path, sources=sources)
  config.checkpoint.restart = True
  trainer.train_and_evaluate(config, tmp_path, sources=sources)
  assert [r["epoch"] for r in _rows(tmp_path)] == [1, 2]  # the old run's row is gone, not appended to


def test_no_checkpoint_restores_is_one_error_naming_the_fix(tmp_path):
  sources = williams_sources()
  config = tiny_williams_config(num_epochs=1)
  config.stop_after_steps = 2
  trainer.train_and_evaluate(config, tmp_path, sources=sources)
  for progress in (tmp_path / "checkpoints" / "latest").rglob("progress*"):
    for path in ([progress] if progress.is_file() else [p for p in progress.rglob("*") if p.is_file()]):
      path.write_text("garbage")
  config.stop_after_steps = None
  with pytest.raises(ckpt_lib.CheckpointRestoreError, match="checkpoint.restart=True"):
    trainer.train_and_evaluate(config, tmp_path, sources=sources)


def test_nan_before_any_checkpoint_says_so(tmp_path):
  sources = williams_sources()
  for example in sources["train"]:
    example["glove"][:] = np.nan
  with pytest.raises(trainer.NonFiniteLossError, match=r"at step 1 \(epoch 1/1, batch 1/6\)\. No checkpoint had been saved yet"):
    trainer.train_and_evaluate(tiny_williams_config(num_epochs=1), tmp_path, sources=sources)
