"""The driver's side of a benchmark worker: a process spoken to one JSON line at a time.

Both side-by-side benchmarks (vs_originals.py, vs_pytorch_text.py) run each side in its own process,
in its own virtualenv; the worker answers every command with one line starting with `worker.MARKER`
(everything else it prints, the libraries' own output included, goes to its log).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

from originals.worker import MARKER

REPO = Path(__file__).resolve().parents[2]


class WorkerError(RuntimeError):
  pass


def process_cpu_seconds(stat: str, ticks_per_s: float) -> float:
  """User + system CPU of a process and its waited-for children, from its /proc/<pid>/stat text.
  The command name (field 2) may hold spaces and parentheses, so fields are counted after the last ')'."""
  fields = stat[stat.rindex(")") + 2:].split()
  # fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14-17.
  return sum(int(v) for v in fields[11:15]) / ticks_per_s


class Worker:
  """One side in its own process; `name` names it in errors and its log file under `log_dir`."""

  def __init__(self, name: str, cmd: Sequence[str], log_dir: Path):
    log_dir.mkdir(parents=True, exist_ok=True)
    self.name, self.log_path = name, log_dir / f"{name}.log"
    self.log = open(self.log_path, "a")
    self.proc = subprocess.Popen(list(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                 text=True, cwd=REPO)
    self.ready = self.read()

  def read(self) -> dict:
    for line in self.proc.stdout:
      if line.startswith(MARKER):
        reply = json.loads(line[len(MARKER):])
        if "error" in reply:
          self.kill(grace_s=30)  # it exits by itself after reporting: let it clean up its temp files
          raise WorkerError(f"{self.name}: {reply['error']} (log: {self.log_path})")
        return reply
      self.log.write(line)  # the libraries' own prints
    code = self.proc.wait()
    self.log.flush()
    tail = self.log_path.read_text().strip().splitlines()[-1:] or ["(no output)"]
    raise WorkerError(f"{self.name} exited with {code}: {tail[0][:300]} (log: {self.log_path})")

  def send(self, obj: Mapping) -> dict:
    self.proc.stdin.write(json.dumps(obj) + "\n")
    self.proc.stdin.flush()
    return self.read()

  def cpu_seconds(self) -> float:
    try:
      return process_cpu_seconds(Path(f"/proc/{self.proc.pid}/stat").read_text(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
      return 0.0

  def quit(self, timeout_s: float = 300) -> dict:
    memory = self.send({"cmd": "quit"})
    self.proc.wait(timeout=timeout_s)
    self.log.close()
    return memory

  def kill(self, grace_s: float = 0.0) -> None:
    try:
      self.proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
      self.proc.kill()
      self.proc.wait()
