"""Real multi-process training: two `launch.py` processes on localhost with `jax.distributed` on CPU.

What the README's "Multi-host runs" section tells users to run, run here: the pair trains and agrees
with a one-process run, writes one metrics row per epoch, stops together when either host gets
SIGTERM and resumes to the uninterrupted pair's state, and refuses workdirs the hosts do not share.
When either host is SIGKILLed, the other one stops within `distributed_timeout_s` + 10 s, says in
one line which host was lost and the last complete checkpoint, exits 69, and the pair resumes.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from mmer_jax.train.checkpoint import last_complete_step
from mmer_jax.train.experiment import Experiment
from mmer_jax.train.host_watch import EXIT_HOST_LOST
from mmer_jax.train.metrics_log import PROCESS_FIELDS

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "--config=configs/williams_sample.py:smoke"
COMMON = ("--config.model.dropout=0.0",  # dropout masks depend on the device layout
          # SGD: the pair and the single run differ by float rounding (pmean of halves vs one sum). Adam
          # divides by sqrt(v) and turns rounding on a near-zero gradient into a full-size step (the
          # sample output bias: 8.5e-5 apart after ONE step), so it could not test the equivalence.
          "--config.optimizer.name=sgd", "--config.optimizer.learning_rate=0.05",
          "--config.num_epochs=4")       # long enough for a SIGTERM to land mid-training


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _env():
  return dict(os.environ, JAX_PLATFORMS="cpu", MMER_JAX_PROGRESS="lines", XLA_FLAGS="")


def _start_pair(workdirs, data_dir, *extra):
  port = _free_port()
  return [subprocess.Popen(
      [sys.executable, "launch.py", CONFIG, f"--workdir={workdir}", f"--config.input.data_dir={data_dir}",
       "--config.distributed=True", f"--config.coordinator_address=localhost:{port}",
       "--config.num_processes=2", f"--config.process_id={i}", *COMMON, *extra],
      cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for i, workdir in enumerate(workdirs)]


def _finish(processes, timeout=420):
  outs = [p.communicate(timeout=timeout) for p in processes]
  return [p.returncode for p in processes], [o[1] for o in outs]


def _params(workdir):
  """The latest state of a run written by two processes, restored here (one process) via its template."""
  experiment = Experiment.restore(workdir)
  state, _ = experiment.checkpointer.restore_latest(experiment.template)
  experiment.close()
  return {"step": state.step, "params": state.params}


def _rows(workdir):
  """metrics.jsonl without the columns that describe the process (speed, compiles)."""
  return [{k: v for k, v in json.loads(line).items() if k not in PROCESS_FIELDS}
          for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def _wait_for_first_epoch(workdir):
  """Until epoch 1's row is written and its checkpoint complete (the save is asynchronous)."""
  deadline = time.monotonic() + 300
  while time.monotonic() < deadline and not ((workdir / "metrics.jsonl").exists() and last_complete_step(workdir)):
    time.sleep(0.2)


def _assert_close(a, b, atol):
  assert int(a["step"]) == int(b["step"])
  for x, y in zip(jax.tree_util.tree_leaves(a["params"]), jax.tree_util.tree_leaves(b["params"])):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol)


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("multihost")
  codes, errors = _finish(_start_pair([root / "pair", root / "pair"], root / "data"))
  assert codes == [0, 0], "\n".join(e[-2000:] for e in errors)
  return root


def test_two_processes_train_like_one(pair_run):
  rows = [json.loads(line) for line in (pair_run / "pair" / "metrics.jsonl").read_text().splitlines()]
  assert [r["epoch"] for r in rows] == [1, 2, 3, 4]  # process 0 alone writes
  single = subprocess.run([sys.executable, "launch.py", CONFIG, f"--workdir={pair_run / 'single'}",
                           f"--config.input.data_dir={pair_run / 'data'}", *COMMON],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=420)
  assert single.returncode == 0, single.stderr[-2000:]
  # One device with the whole batch vs two with half each and pmean: equal up to float rounding.
  _assert_close(_params(pair_run / "pair"), _params(pair_run / "single"), atol=1e-6)  # measured 6e-8

  # The two-process checkpoint evaluates in one process (restored onto this topology).
  evaluate = subprocess.run([sys.executable, "launch.py", CONFIG, f"--workdir={pair_run / 'pair'}",
                             f"--config.input.data_dir={pair_run / 'data'}", *COMMON, "--mode=evaluate"],
                            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=420)
  assert evaluate.returncode == 0, evaluate.stderr[-2000:]
  test_mae = json.loads((pair_run / "pair" / "report" / "test_metrics.json").read_text())["metrics"]["mae"]
  assert f"'mae': {round(test_mae, 4)}" in evaluate.stdout


def test_sigterm_on_one_host_stops_both_and_the_pair_resumes(pair_run):
  workdir = pair_run / "preempted"
  processes = _start_pair([workdir, workdir], pair_run / "data")
  _wait_for_first_epoch(workdir)  # then stop host 1 in the second epoch (its step is saved)
  processes[1].send_signal(signal.SIGTERM)
  codes, errors = _finish(processes)
  assert codes == [75, 75], "\n".join(e[-2000:] for e in errors)  # both saved and stopped together
  assert "Rerun the same command to resume" in errors[0]
  codes, errors = _finish(_start_pair([workdir, workdir], pair_run / "data"))
  assert codes == [0, 0], "\n".join(e[-2000:] for e in errors)
  _assert_close(_params(workdir), _params(pair_run / "pair"), atol=0)
  rows = _rows(workdir)
  assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
  assert rows == _rows(pair_run / "pair")  # the epoch stopped midway counts whole (train/loss too)


TIMEOUT_S = 5  # config.distributed_timeout_s for the kills: small, so the survivor stops within seconds


@pytest.mark.parametrize("victim", [1, 0], ids=["process_1_killed", "process_0_killed"])
def test_a_killed_host_stops_the_other_in_one_line_and_the_pair_resumes(pair_run, victim):
  workdir = pair_run / f"killed_{victim}"
  timeout = f"--config.distributed_timeout_s={TIMEOUT_S}"
  processes = _start_pair([workdir, workdir], pair_run / "data", timeout)
  _wait_for_first_epoch(workdir)  # training is under way and epoch 1's checkpoint is complete
  killed_at = time.monotonic()
  processes[victim].send_signal(signal.SIGKILL)
  survivor = processes[1 - victim]
  _, err = survivor.communicate(timeout=TIMEOUT_S + 60)
  took = time.monotonic() - killed_at
  processes[victim].communicate(timeout=60)
  print(f"process {1 - victim} exited {took:.1f} s after process {victim} was killed")
  assert survivor.returncode == EXIT_HOST_LOST, err[-3000:]
  assert took < TIMEOUT_S + 10
  lost = [line for line in err.splitlines() if line.startswith("Lost host:")]
  assert len(lost) == 1 and lost[0] == err.splitlines()[-1], err[-3000:]  # the last word, said once
  assert f"process {victim} of 2" in lost[0], lost[0]
  assert f"the last complete checkpoint is step {last_complete_step(workdir)} (" in lost[0], lost[0]
  assert "Traceback" not in err and "Check failure" not in err and "Fatal Python" not in err, err[-3000:]

  codes, errors = _finish(_start_pair([workdir, workdir], pair_run / "data", timeout))
  assert codes == [0, 0], "\n".join(e[-2000:] for e in errors)
  _assert_close(_params(workdir), _params(pair_run / "pair"), atol=0)
  assert _rows(workdir) == _rows(pair_run / "pair")


def test_workdirs_the_hosts_do_not_share_fail_fast(pair_run):
  codes, errors = _finish(_start_pair([pair_run / "host0", pair_run / "host1"], pair_run / "data"))
  assert codes == [2, 2], "\n".join(e[-2000:] for e in errors)
  assert all("is not shared" in e and "Traceback" not in e for e in errors)
