"""A host that dies: the other hosts of a multi-host run stop within `config.distributed_timeout_s`,
say in one line which host was lost and the last complete checkpoint, and exit with EXIT_HOST_LOST.

Left to JAX, a lost process stalls the others until the coordination service's heartbeat timeout
(100 s by default); then each survivor's coordination client aborts it from C++ (SIGABRT, a hundred
lines of stacks, no word of ours). Losing process 0, which hosts the service, aborts the others
within a second, before any Python code can run. Two guards, one per case:

- `PeerWatch`, two daemon threads in each process. One beats a counter in the coordination service's
  key-value store every second and reads everyone's; the other judges. A peer whose counter stands
  still for `distributed_timeout_s` while ours gets through is lost; so is process 0 when the store
  itself does not answer for as long. The service's own heartbeat timeout is set well past that
  (`service_heartbeat_s`), so the watch speaks first. An exception that would end the process (a
  collective failed because a peer's socket closed) waits for the verdict before its traceback.
- `supervise`, in launch.py: a multi-host run's work runs in a child process whose C++ log is quiet;
  the launcher passes signals on and waits. When the child dies of the abort that losing process 0
  causes, the launcher checks that process 0 no longer answers, says so and exits EXIT_HOST_LOST.

Orderly exits (done, a user error, exit 75) tell the peers they left, so a host still writing its
report does not take them for lost; a host whose Python crashes tells them too, and they stop at once
instead of waiting in a collective for it.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

from mmer_jax.errors import ConfigError

EXIT_HOST_LOST = 69  # EX_UNAVAILABLE (sysexits.h): a host the run needs is gone; rerun every host to resume
DEFAULT_TIMEOUT_S = 30.0

_CHILD_ENV = "MMER_JAX_HOST_CHILD"  # set by `supervise` for the child it starts
_KEYS = "mmer_jax/host_watch/"      # in the coordination service's key-value store
_LEFT, _CRASHED = "left", "crashed"
_ABSL_SILENT = 1000                 # absl::LogSeverityAtLeast::kInfinity: not even FATAL lines

_exit = os._exit                    # how a verdict ends the process (tests record it instead)
_WATCH: Optional["PeerWatch"] = None
_ROLE: Optional[dict] = None       # {"parent": pid, "info": path} in a supervised child


def timeout_of(config) -> float:
  value = config.distributed_timeout_s
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
    raise ConfigError(f"config.distributed_timeout_s={value!r}; use a number of seconds > 0 (default "
                      f"{DEFAULT_TIMEOUT_S:g}): how long a silent host may stay silent before the others stop.")
  return float(value)


def service_heartbeat_s(timeout_s: float) -> int:
  """The coordination service's heartbeat timeout: well past the watch's, since the service's verdict
  is an abort."""
  return int(2 * timeout_s + 10)


def lost_line(lost: int, count: Any, what: str, workdir: Optional[Path], detail: str = "") -> str:
  """The one line every survivor prints: "Lost host: process 1 of 2 (node-b) stopped responding for
  30 s; the last complete checkpoint is step 36 (<workdir>/checkpoints/latest/36); rerun ..."."""
  from mmer_jax.train import checkpoint  # noqa: PLC0415  (orbax: not needed until a host is lost)
  if workdir is None:
    resume = "rerun the same command on every host to resume from the last complete checkpoint"
  elif (step := checkpoint.last_complete_step(workdir)) is not None:
    resume = (f"the last complete checkpoint is step {step} ({checkpoint.latest_dir(workdir)}/{step}); rerun "
              f"the same command on every host to resume from it")
  else:  # a best checkpoint or metrics row may exist already: a plain rerun would refuse to start over
    resume = ("no checkpoint was complete yet; rerun the same command with --config.checkpoint.restart=True on "
              "every host to start again from step 0")
  host = f"process {lost} of {'?' if count is None else count}" + (f" ({detail})" if detail else "")
  return f"Lost host: {host} {what}; {resume}."


def _flush() -> None:
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except Exception:  # noqa: BLE001  (a closed or broken stream)
      pass


def _say(line: str) -> None:
  """Writes the line to fd 2 directly: the process ends right after, with os._exit."""
  _flush()
  prefix = "\n" if os.isatty(2) else ""  # after a progress bar's carriage return
  os.write(2, f"{prefix}{line}\n".encode())


class PeerWatch:
  """Beats, reads and judges (module docstring). One per process; `watch_peers` starts it."""

  def __init__(self, client, index: int, count: int, timeout_s: float, workdir: Optional[Path] = None):
    self.client, self.index, self.count, self.timeout_s = client, index, count, timeout_s
    self.workdir = workdir
    self.period_s = min(1.0, timeout_s / 5)
    self.peers = [p for p in range(count) if p != index]
    now = time.monotonic()
    self._lock = threading.Lock()
    self._last_ok = now                           # our last exchange with the store that got through
    self._moved = dict.fromkeys(self.peers, now)  # when each peer's counter last changed, as seen here
    self._seen: dict[int, Optional[str]] = {}
    self._changes = dict.fromkeys(self.peers, 0)  # how many new values of each peer's counter were seen
    self._names: dict[int, str] = {}
    self._told: Optional[dict] = None             # a verdict another host gave first
    self._stop = threading.Event()
    self._verdict = threading.Lock()              # taken once, by whoever gives the verdict
    self._crashed = False
    self._beater = threading.Thread(target=self._beat, name="mmer_jax-host-beat", daemon=True)
    self._judge_thread = threading.Thread(target=self._judge, name="mmer_jax-host-judge", daemon=True)

  def start(self, process_hooks: bool = True) -> "PeerWatch":
    """Starts beating and judging; `process_hooks` (all but tests): also the excepthook and the
    atexit farewell below."""
    self._put(f"name/{self.index}", socket.gethostname())
    self._beater.start()
    self._judge_thread.start()
    if process_hooks:
      self._hook_process()
    return self

  def _hook_process(self) -> None:
    previous = sys.excepthook

    def excepthook(kind, error, trace):
      if isinstance(error, Exception) and not isinstance(error, FloatingPointError):  # NaN: every host alike
        # A collective that failed because a host is gone: the verdict (one line, exit 69) comes
        # within the timeout and ends the process here, before any traceback.
        self.wait_for_verdict()
      previous(kind, error, trace)  # a crash of this host's own: its traceback, then the peers stop
      self._crashed = True
      self._quit(_CRASHED)

    sys.excepthook = excepthook
    atexit.register(self._leave)  # after jax's own atexit registration, so it runs before jax shuts down

  def _put(self, key: str, value: str) -> None:
    try:
      self.client.key_value_set(_KEYS + key, value, allow_overwrite=True)
    except Exception:  # noqa: BLE001  (the store did not answer: the judge decides whether that lasts)
      pass

  def _beat(self) -> None:
    counter = 0
    while not self._stop.is_set():
      self._put(f"beat/{self.index}", str(counter))
      try:
        entries = dict(self.client.key_value_dir_get(_KEYS))
      except Exception:  # noqa: BLE001
        entries = None
      if entries is not None:
        self._read(entries)
      counter += 1
      self._stop.wait(self.period_s)

  def _read(self, entries: dict[str, str]) -> None:
    now = time.monotonic()
    with self._lock:
      self._last_ok = now
      for p in self.peers:
        value = entries.get(f"{_KEYS}beat/{p}")
        if value != self._seen.get(p):
          self._seen[p], self._moved[p] = value, now
          self._changes[p] += 1
        if f"{_KEYS}name/{p}" in entries:
          self._names[p] = entries[f"{_KEYS}name/{p}"]
      try:
        self._told = json.loads(entries[f"{_KEYS}verdict"]) if f"{_KEYS}verdict" in entries else None
      except ValueError:
        pass

  def _judge(self) -> None:
    previous = time.monotonic()
    while not self._stop.wait(self.period_s):
      now = time.monotonic()
      with self._lock:
        if now - previous > 3 * self.period_s:
          # This process itself did not run (no CPU, or a C call holding the GIL): what it last saw is
          # stale, not necessarily its peers. Start counting again.
          self._last_ok, self._moved = now, dict.fromkeys(self.peers, now)
        previous = now
        told = self._told
        crashed = [p for p in self.peers if self._seen.get(p) == _CRASHED]
        silent = [p for p in self.peers
                  if self._seen.get(p) != _LEFT and self._last_ok - self._moved[p] > self.timeout_s]
        store_gone = self.index != 0 and now - self._last_ok > self.timeout_s
      if told and isinstance(told.get("lost"), int):
        self._give(told["lost"], str(told.get("what", "was lost")))
      elif crashed:
        self._give(crashed[0], "stopped with an error (see its log)")
      elif silent:
        self._give(silent[0], f"stopped responding for {self.timeout_s:g} s")
      elif store_gone:
        self._give(0, f"stopped answering for {self.timeout_s:g} s")

  def _give(self, lost: int, what: str) -> None:
    if not self._verdict.acquire(blocking=False) or self._stop.is_set():
      return
    self._put("verdict", json.dumps({"lost": lost, "what": what}))  # the other survivors say the same
    detail = ", ".join(filter(None, [self._names.get(lost), "the coordinator" if lost == 0 else ""]))
    _say(lost_line(lost, self.count, what, self.workdir, detail))
    if self.index == 0 and self.count > 2:
      time.sleep(2 * self.period_s)  # let the others read the verdict before the service (in here) goes
    _exit(EXIT_HOST_LOST)

  def _quit(self, farewell: str) -> None:
    """Stops beating, then leaves `farewell` where the counter was (no key-value call may run once
    JAX shuts the client down, so the beat thread is joined first)."""
    self._stop.set()
    if threading.current_thread() is not self._beater:
      self._beater.join(timeout=5)
    self._put(f"beat/{self.index}", farewell)

  def _leave(self) -> None:
    """At exit. An orderly one tells the peers this host left. After a crash the peers have been told
    and have stopped, so JAX's shutdown barrier could only wait out its timeout: skip it."""
    if self._crashed:
      if self.index == 0:
        time.sleep(3 * self.period_s)  # the others read "crashed" before the service (in here) goes
      _flush()
      _exit(1)
    if not self._stop.is_set():
      self._quit(_LEFT)

  def wait_for_verdict(self) -> None:
    """Returns when no verdict is coming: every peer's counter moved twice since the call (a lost
    peer's can move once at most: its last beat, read late), or the timeout passed. Otherwise the
    judge ends the process meanwhile."""
    deadline = time.monotonic() + self.timeout_s + 3 * self.period_s
    with self._lock:
      before = dict(self._changes)
    while time.monotonic() < deadline and not self._stop.is_set():
      time.sleep(0.1)
      with self._lock:
        if all(self._seen.get(p) == _LEFT or (self._changes[p] - before[p] >= 2 and self._seen.get(p) != _CRASHED)
               for p in self.peers):
          return


def adopt_child_role() -> bool:
  """In a child started by `supervise`: die with the launcher, keep the C++ log quiet (the launcher
  explains the abort that losing process 0 causes). False anywhere else."""
  global _ROLE
  spec = os.environ.pop(_CHILD_ENV, None)  # not for this process's own children
  if not spec:
    return False
  _ROLE = json.loads(spec)
  try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
  except (OSError, AttributeError):
    pass
  if os.getppid() != _ROLE["parent"]:  # the launcher died before the line above
    os._exit(EXIT_HOST_LOST)
  if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0":  # 0 (jax sets 1 unless told): XLA's log and Python's fault dump
    import faulthandler  # noqa: PLC0415
    from jax._src.lib import utils  # noqa: PLC0415
    faulthandler.disable()  # absl.app enables it: a page of thread stacks on the abort the launcher explains
    utils.absl_set_min_log_level(_ABSL_SILENT)
  return True


def watch_peers(timeout_s: float, workdir: Optional[Path]) -> None:
  """Starts this process's watch, once, after `jax.distributed.initialize`."""
  global _WATCH
  import jax  # noqa: PLC0415
  from jax._src import distributed  # noqa: PLC0415  (the coordination client)
  state = distributed.global_state
  if _ROLE is not None:
    Path(_ROLE["info"]).write_text(json.dumps({"index": jax.process_index(), "count": jax.process_count(),
                                               "coordinator": state.coordinator_address}))
  if _WATCH is None and jax.process_count() > 1:
    _WATCH = PeerWatch(state.client, jax.process_index(), jax.process_count(), timeout_s,
                       Path(workdir) if workdir else None).start()
  note_workdir(workdir)


def note_workdir(workdir: Optional[str | Path]) -> None:
  """The run whose last complete checkpoint the line names."""
  if _WATCH is not None and workdir:
    _WATCH.workdir = Path(workdir)


def supervise(config, workdir: Path) -> Optional[int]:
  """launch.py, multi-host: runs this same command in a child process and returns the status to exit
  with; None where this process should do the work itself (not multi-host, already the child, not
  Linux: the child dies with its launcher through Linux's PR_SET_PDEATHSIG)."""
  if not config.distributed or os.environ.get(_CHILD_ENV) or not sys.platform.startswith("linux"):
    return None
  timeout_of(config)  # a wrong value is said once, by the launcher
  fd, info = tempfile.mkstemp(prefix="mmer_jax_host_", suffix=".json")
  os.close(fd)
  env = dict(os.environ, **{_CHILD_ENV: json.dumps({"parent": os.getpid(), "info": info})})
  argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])[1:]  # keeps -X / -u options
  child = subprocess.Popen([sys.executable, *argv], env=env)

  def forward(signum, frame):
    del frame
    try:
      child.send_signal(signum)
    except ProcessLookupError:
      pass

  signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
  previous = {sig: signal.signal(sig, forward) for sig in signals}
  try:
    status = child.wait()
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
  try:
    facts = json.loads(Path(info).read_text() or "{}")
  except (OSError, ValueError):
    facts = {}
  Path(info).unlink(missing_ok=True)
  return status if status >= 0 else _child_died(-status, facts, config, workdir)


def _child_died(signum: int, facts: dict, config, workdir: Path) -> int:
  index = facts.get("index", config.process_id)
  count = facts.get("count", config.num_processes)
  coordinator = facts.get("coordinator") or config.coordinator_address
  if index != 0 and coordinator and not _answers(coordinator):
    _say(lost_line(0, count, "stopped answering", workdir, f"the coordinator, {coordinator}"))
    return EXIT_HOST_LOST
  name = signal.Signals(signum).name
  hint = (" in XLA's C++ runtime (its log is quiet in multi-host runs; set TF_CPP_MIN_LOG_LEVEL=0 to see it)"
          if signum == signal.SIGABRT else "")
  _say(f"Error: process {index} of {count} died of {name}{hint}.")
  return 128 + signum


def _answers(address: str) -> bool:
  host, _, port = address.rpartition(":")
  try:
    with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
      return True
  except (OSError, ValueError):
    return False
