"""The lost-host watch's judgement, on an in-memory key-value store (fast; no processes).

tests/test_multihost.py kills real `launch.py` processes; here the rules are checked one by one: a
silent peer is lost after the timeout, a peer that left or is merely slow to be read is not, a crash
is said at once, a store that stops answering is process 0 lost, and the line names the last
complete checkpoint.
"""

import threading
import time

import pytest

from mmer_jax.train import host_watch

TIMEOUT_S = 1.0


class _Store:
  """The coordination service's key-value store, as the watch uses it; `down` makes it unreachable."""

  def __init__(self):
    self.values, self.down, self.lock = {}, False, threading.Lock()

  def key_value_set(self, key, value, allow_overwrite=False):
    del allow_overwrite
    if self.down:
      raise RuntimeError("UNAVAILABLE: Socket closed")
    with self.lock:
      self.values[key] = value

  def key_value_dir_get(self, prefix):
    if self.down:
      raise RuntimeError("UNAVAILABLE: Socket closed")
    with self.lock:
      return [(k, v) for k, v in self.values.items() if k.startswith(prefix)]


_STARTED = []


@pytest.fixture
def verdicts(monkeypatch):
  """Each verdict's (status, line) instead of the process ending; every watch stopped at the end."""
  said, given = [], []
  monkeypatch.setattr(host_watch, "_say", said.append)
  monkeypatch.setattr(host_watch, "_exit", lambda status: given.append((status, said[-1] if said else "")))
  yield given
  while _STARTED:
    watch = _STARTED.pop()
    watch._stop.set()
    watch._beater.join()
    watch._judge_thread.join()


def _pair(store, workdir=None, count=2):
  watches = [host_watch.PeerWatch(store, i, count, TIMEOUT_S, workdir) for i in range(count)]
  for watch in watches:
    watch.start(process_hooks=False)
  _STARTED.extend(watches)
  return watches


def _wait(condition, seconds):
  deadline = time.monotonic() + seconds
  while time.monotonic() < deadline and not condition():
    time.sleep(0.05)
  return condition()


def _kill(watch):
  """What SIGKILL does to a watch: its threads stop, nothing is said to the store."""
  watch._stop.set()


def test_a_silent_peer_is_lost_after_the_timeout_and_the_line_names_the_last_checkpoint(tmp_path, verdicts):
  for step in (12, 24):
    (tmp_path / "checkpoints" / "latest" / str(step)).mkdir(parents=True)
  (tmp_path / "checkpoints" / "latest" / "36.orbax-checkpoint-tmp-1").mkdir()  # a save that never finished
  zero, one = _pair(_Store(), tmp_path)
  time.sleep(3 * TIMEOUT_S)
  assert verdicts == []  # beating peers are not lost, however long
  killed_at = time.monotonic()
  _kill(one)
  assert _wait(lambda: verdicts, 10 * TIMEOUT_S)
  took = time.monotonic() - killed_at
  # Silence counts from the last beat seen, which can come up to one beat period before the kill.
  assert TIMEOUT_S - one.period_s <= took < TIMEOUT_S + 5
  status, line = verdicts[0]
  assert status == host_watch.EXIT_HOST_LOST == 69
  assert line.startswith("Lost host: process 1 of 2 (") and f"stopped responding for {TIMEOUT_S:g} s" in line
  assert f"the last complete checkpoint is step 24 ({tmp_path / 'checkpoints' / 'latest' / '24'})" in line


def test_a_peer_that_left_is_never_lost(verdicts):
  zero, one = _pair(_Store())
  one._leave()  # an orderly exit: done, a user error, preempted
  time.sleep(4 * TIMEOUT_S)
  assert verdicts == []


def test_a_crashed_peer_stops_the_others_at_once(verdicts):
  store = _Store()
  zero, one = _pair(store)
  one._quit(host_watch._CRASHED)  # what its excepthook does after printing the traceback
  assert _wait(lambda: verdicts, TIMEOUT_S)  # within a beat or two, not the timeout
  assert "process 1 of 2" in verdicts[0][1] and "stopped with an error (see its log)" in verdicts[0][1]


def test_a_store_that_stops_answering_is_process_0_lost(tmp_path, verdicts):
  store = _Store()
  zero, one = _pair(store, tmp_path)
  _kill(zero)
  store.down = True  # process 0 hosts the coordination service
  assert _wait(lambda: verdicts, 10 * TIMEOUT_S)
  line = verdicts[0][1]
  assert line.startswith("Lost host: process 0 of 2 (") and "the coordinator) stopped answering" in line
  assert "no checkpoint was complete yet; rerun the same command with --config.checkpoint.restart=True" in line


def test_the_first_verdict_is_everyone_s(verdicts):
  store = _Store()
  watches = _pair(store, count=3)
  store.key_value_set(host_watch._KEYS + "verdict", '{"lost": 2, "what": "stopped responding for 1 s"}')
  assert _wait(lambda: len(verdicts) == 3, 5 * TIMEOUT_S)  # every process repeats it (2 too)
  assert all("process 2 of 3" in line for _, line in verdicts)


def test_an_error_with_every_peer_alive_is_not_held_until_the_timeout(verdicts):
  zero, one = _pair(_Store())
  time.sleep(0.5)
  started = time.monotonic()
  zero.wait_for_verdict()  # e.g. a bug of this host's own: its traceback should not wait 30 s
  assert time.monotonic() - started < TIMEOUT_S
  assert verdicts == []
  _kill(one)
  started = time.monotonic()
  zero.wait_for_verdict()  # a peer is gone: the verdict comes (the process would end inside)
  assert verdicts and time.monotonic() - started >= TIMEOUT_S / 2


def test_timeout_must_be_positive_seconds():
  from ml_collections import ConfigDict
  from mmer_jax.errors import ConfigError
  assert host_watch.timeout_of(ConfigDict(dict(distributed_timeout_s=5))) == 5.0
  assert host_watch.service_heartbeat_s(5.0) > 5.0  # the service's abort comes after the watch's verdict
  with pytest.raises(ConfigError, match="distributed_timeout_s=0; use a number of seconds > 0"):
    host_watch.timeout_of(ConfigDict(dict(distributed_timeout_s=0)))
