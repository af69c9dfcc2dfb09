"""Random kills, including during saves and on epoch boundaries, change nothing about the result.

A training run (8 epochs of 12 steps, a checkpoint after every step, dropout on) is SIGKILLed at a
random moment after its first compile, over and over (tests/fault_injection_run.py); then it is
allowed to finish. Its final state must equal an uninterrupted run's, bit for bit, and
metrics.jsonl must have one row per epoch. `MMER_JAX_FAULT_KILLS` sets the number of kills (20).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from mmer_jax.train import trainer
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
  rows = [json.loads(line) for line in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
  assert [r["epoch"] for r in rows] == list(range(1, 9))
  assert [r["valid/loss"] for r in killed_progress["history"]] == [r["valid/loss"] for r in straight_progress["history"]]
