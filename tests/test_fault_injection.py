"""Random kills, including during saves and on epoch boundaries, change nothing about the result.

A training run (8 epochs of 12 steps, a checkpoint after every step, dropout on) is SIGKILLed at a
random moment after its first compile, over and over (tests/fault_injection_run.py); then it is
allowed to finish. Its final state must equal an uninterrupted run's, bit for bit, and its
metrics.jsonl the uninterrupted run's row for row (an epoch killed and resumed averages its loss
over every batch), except the columns that describe the process (speed, compiles).
`MMER_JAX_FAULT_KILLS` sets the number of kills (20).
"""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from mmer_jax.train import trainer
from mmer_jax.train.metrics_log import PROCESS_FIELDS
from tests.fault_injection_run import SOURCES, config_for_fault_injection
from tests.helpers import williams_sources

ROOT = Path(__file__).resolve().parents[1]


def _final_state(workdir):
  manager = ocp.CheckpointManager(workdir / "checkpoints" / "latest")
  restored = manager.restore(manager.latest_step(), args=ocp.args.Composite(
      state=ocp.args.StandardRestore(), progress=ocp.args.JsonRestore()))
  manager.close()
  return restored.state, restored.progress


def test_random_kills_change_nothing(tmp_path):
  kills = int(os.environ.get("MMER_JAX_FAULT_KILLS", "20"))
  env = dict(os.environ, JAX_PLATFORMS="cpu", MMER_JAX_PROGRESS="lines")
  out = subprocess.run([sys.executable, str(ROOT / "tests" / "fault_injection_run.py"), str(tmp_path / "killed"),
                        str(kills), "0"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200)
  assert out.returncode == 0, out.stderr[-3000:]
  outcomes = json.loads(out.stdout.strip().splitlines()[-1])["outcomes"]
  assert outcomes[-1] == "finished", out.stderr[-3000:]
  assert outcomes[:-1].count("killed") >= kills // 2, outcomes  # most kills hit a run in progress

  trainer.train_and_evaluate(config_for_fault_injection(), tmp_path / "straight", sources=williams_sources(**SOURCES))
  killed_state, killed_progress = _final_state(tmp_path / "killed")
  straight_state, straight_progress = _final_state(tmp_path / "straight")
  assert int(killed_state["step"]) == int(straight_state["step"]) == 96
  for a, b in zip(jax.tree_util.tree_leaves(killed_state), jax.tree_util.tree_leaves(straight_state)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  killed_rows, straight_rows = (_training_columns(tmp_path / run / "metrics.jsonl") for run in ("killed", "straight"))
  assert [r["epoch"] for r in killed_rows] == list(range(1, 9))
  assert killed_rows == straight_rows  # train/loss included: resumed epochs count whole
  assert killed_progress["epoch_sums"] == straight_progress["epoch_sums"] == {}  # none left over after the last epoch


def test_an_epoch_stopped_midway_and_resumed_reports_the_whole_epochs_row(tmp_path):
  """The deterministic twin of the random kills: stop inside epoch 2 (a mid-epoch checkpoint), resume."""
  sources = williams_sources(**SOURCES)
  config = config_for_fault_injection()
  config.num_epochs, config.checkpoint.every_steps = 2, 0
  trainer.train_and_evaluate(config, tmp_path / "straight", sources=sources)
  config.stop_after_steps = 12 + 5  # epoch 2, after its 5th batch
  assert trainer.train_and_evaluate(config, tmp_path / "resumed", sources=sources) == {}
  _, stopped = _final_state(tmp_path / "resumed")
  assert (stopped["epoch"], stopped["batch"], stopped["epoch_sums"]["loss_count"]) == (1, 5, 5)
  config.stop_after_steps = None
  trainer.train_and_evaluate(config, tmp_path / "resumed", sources=sources)
  resumed, straight = (_training_columns(tmp_path / run / "metrics.jsonl") for run in ("resumed", "straight"))
  assert [r["epoch"] for r in resumed] == [1, 2]
  assert resumed == straight


def test_samsemo_train_thresholds_resume_with_every_output_counted():
  """The SAMSEMO protocol tunes on every training output of the run: a run resumed from a
  checkpoint (its progress through JSON) tunes on the same ones as an uninterrupted run."""
  from ml_collections import ConfigDict
  from mmer_jax.metrics.evaluate import tune_on_outputs
  from mmer_jax.train.checkpoint import Progress
  from mmer_jax.train.epoch_actions import EpochEnd, SamsemoTrainThresholds
  task = ConfigDict(dict(type="multi_label", class_names=["a", "b", "c"], threshold_step=0.05))
  rng = np.random.default_rng(0)
  batches = [((rng.random((8, 3)) < 0.4).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32))
             for _ in range(10)]

  def epoch_end(action, progress):
    end = EpochEnd(epoch=1, step=0, row={}, progress=progress, evaluate=None, save_best=None)
    action.on_epoch_end(end)
    return end.row["train/thresholds"]

  straight, straight_progress = SamsemoTrainThresholds(task), Progress()
  straight.name = "thresholds"
  for labels, outputs in batches:
    straight.on_train_batch(labels, outputs, straight_progress)
  expected = epoch_end(straight, straight_progress)
  assert expected == tune_on_outputs(task, *map(np.concatenate, zip(*batches))).tolist()

  first, progress = SamsemoTrainThresholds(task), Progress()
  first.name = "thresholds"
  for labels, outputs in batches[:6]:  # killed after the checkpoint of batch 6
    first.on_train_batch(labels, outputs, progress)
  resumed_progress = Progress.from_json(json.loads(json.dumps(dataclasses.asdict(progress))))
  resumed = SamsemoTrainThresholds(task)
  resumed.name = "thresholds"
  for labels, outputs in batches[6:]:
    resumed.on_train_batch(labels, outputs, resumed_progress)
  assert epoch_end(resumed, resumed_progress) == expected
  assert resumed.test_thresholds(resumed_progress).tolist() == expected


def _without_process(row):
  return {k: v for k, v in row.items() if k not in PROCESS_FIELDS}


def _training_columns(path):
  return [_without_process(json.loads(line)) for line in path.read_text().splitlines()]
