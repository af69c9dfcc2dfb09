"""The fault-injection test's driver (a subprocess): one process imports everything once, then forks
a fresh training run again and again and SIGKILLs it at a random moment after its first compile.

Forking skips the seconds of Python imports per run, so 20 kills fit in a test's budget; the parent
never touches a JAX device (forking an initialised XLA runtime is unsafe), each child starts its own.

  python tests/fault_injection_run.py <workdir> <kills> <seed>   ->  JSON summary on stdout
"""

import json
import logging
import os
import random
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from mmer_jax.train import trainer  # noqa: E402
from tests.helpers import tiny_williams_config, williams_sources  # noqa: E402


SOURCES = dict(n_train=96)  # 12 steps per epoch


def config_for_fault_injection():
  config = tiny_williams_config(num_epochs=8, dropout=0.3)
  config.checkpoint.every_steps = 1  # a save after every step: kills land inside saves often
  return config


class _Announce(logging.Handler):
  """Tells the parent (through a pipe) that the first step compiled, i.e. training is under way."""

  def __init__(self, fd):
    super().__init__()
    self.fd = fd

  def emit(self, record):
    if "Compiled the train step" in record.getMessage():
      os.write(self.fd, b"T")


def _child(workdir: str, fd: int) -> None:
  code = 0
  try:
    jax.config.update("jax_disable_most_optimizations", True)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    logging.getLogger("mmer_jax").addHandler(_Announce(fd))
    trainer.train_and_evaluate(config_for_fault_injection(), workdir, sources=williams_sources(**SOURCES))
    os.write(fd, b"F")
  except BaseException:  # noqa: BLE001
    import traceback
    traceback.print_exc()
    code = 1
  os._exit(code)


def _run(workdir: str, kill_after: float | None) -> str:
  """Forks one run; kills it `kill_after` s after it starts training (None: let it finish)."""
  read_fd, write_fd = os.pipe()
  pid = os.fork()
  if pid == 0:
    os.close(read_fd)
    _child(workdir, write_fd)
  os.close(write_fd)
  outcome, seen = "exited", b""
  deadline = time.monotonic() + 300
  while time.monotonic() < deadline:
    ready, _, _ = select.select([read_fd], [], [], 0.05)
    if ready:
      chunk = os.read(read_fd, 16)
      seen += chunk
      if not chunk:
        break
    if b"T" in seen and kill_after is not None:
      time.sleep(kill_after)
      os.kill(pid, signal.SIGKILL)
      outcome = "killed"
      break
    if b"F" in seen:
      outcome = "finished"
      break
  _, status = os.waitpid(pid, 0)
  os.close(read_fd)
  if outcome == "killed" and os.WIFEXITED(status):
    outcome = "finished before the kill"
  if outcome == "exited" and os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
    outcome = f"failed with status {os.WEXITSTATUS(status)}"
  return outcome


if __name__ == "__main__":
  workdir, kills, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
  os.environ.setdefault("MMER_JAX_COMPILATION_CACHE", os.path.join(os.path.dirname(workdir), "xla_cache"))
  rng = random.Random(seed)
  # One step + its save take ~50-150 ms and an epoch ~1 s: delays up to 0.8 s land anywhere in a step,
  # a save or an epoch end, and 20 of them still leave most of the 96 steps to do.
  outcomes = [_run(workdir, rng.uniform(0.0, 0.8)) for _ in range(kills)]
  outcomes.append(_run(workdir, None))
  print(json.dumps({"outcomes": outcomes}))
