"""Progress output: a tqdm bar on a terminal, few plain lines without carriage returns elsewhere."""

import io

import pytest

from mmer_jax import progress


class FakeClock:
  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


class Terminal(io.StringIO):
  def isatty(self):
    return True


def _epoch(stream, seconds_per_batch, total=400, initial=0, **kwargs):
  """Runs a fake epoch of `total` batches; returns the lines written."""
  clock = FakeClock()
  bar = progress.Bar(total, "epoch 3/10", initial=initial, stream=stream, clock=clock, **kwargs)
  for i in range(initial, total):
    clock.now += seconds_per_batch
    bar.set_postfix(loss=f"{0.5 - i / 10000:.4f}", samples_s=f"{32 / seconds_per_batch:.1f}")
    bar.update(1)
  bar.close()
  text = stream.getvalue()
  assert "\r" not in text
  return text.splitlines()


def test_a_long_epoch_off_a_terminal_writes_one_line_per_tenth(monkeypatch):
  monkeypatch.delenv(progress.ENV_VAR, raising=False)
  lines = _epoch(io.StringIO(), seconds_per_batch=0.5)  # 200 s: a tenth every 20 s
  assert len(lines) == 10
  assert lines[2] == "epoch 3/10: 120/400 batches (30%), 1:00, eta 2:20, loss 0.4881, samples_s 64.0"
  assert lines[-1].startswith("epoch 3/10: 400/400 batches (100%), 3:20, loss 0.4601")


def test_a_fast_epoch_writes_only_its_last_line_and_a_slow_one_one_a_minute(monkeypatch):
  monkeypatch.delenv(progress.ENV_VAR, raising=False)
  assert _epoch(io.StringIO(), seconds_per_batch=0.001) == [
      "epoch 3/10: 400/400 batches (100%), 0.4 s, loss 0.4601, samples_s 32000.0"]
  # 10 batches of 100 s: each exceeds max_interval_s, so each writes a line (and close adds none).
  slow = _epoch(io.StringIO(), seconds_per_batch=100.0, total=10)
  assert len(slow) == 10 and slow[0].startswith("epoch 3/10: 1/10 batches (10%), 1:40, eta 15:00")


def test_resumed_epoch_counts_from_initial_and_estimates_from_batches_run_here(monkeypatch):
  monkeypatch.delenv(progress.ENV_VAR, raising=False)
  lines = _epoch(io.StringIO(), seconds_per_batch=1.0, total=400, initial=300)
  # Tenths 8/10 (320, 20 s) ... 10/10: 20 batches a line at 1 s each, eta from 1 s per batch.
  assert lines[0] == "epoch 3/10: 320/400 batches (80%), 20.0 s, eta 1:20, loss 0.4681, samples_s 32.0"
  assert len(lines) == 3


def test_leave_false_keeps_quick_passes_silent_and_disabled_writes_nothing(monkeypatch):
  monkeypatch.delenv(progress.ENV_VAR, raising=False)
  assert _epoch(io.StringIO(), seconds_per_batch=0.001, leave=False) == []
  assert _epoch(io.StringIO(), seconds_per_batch=0.5, enabled=False) == []
  assert _epoch(Terminal(), seconds_per_batch=0.5, enabled=False) == []


def test_a_terminal_gets_a_tqdm_bar_unless_lines_are_asked_for(monkeypatch):
  monkeypatch.delenv(progress.ENV_VAR, raising=False)
  terminal = Terminal()
  bar = progress.Bar(4, "epoch 1/2", stream=terminal)
  bar.set_postfix(loss="0.1000")
  bar.update(4)
  bar.close()
  assert "\r" in terminal.getvalue() and "4/4" in terminal.getvalue() and "loss=0.1000" in terminal.getvalue()
  monkeypatch.setenv(progress.ENV_VAR, "lines")
  assert len(_epoch(Terminal(), seconds_per_batch=0.5)) == 10
  monkeypatch.setenv(progress.ENV_VAR, "fancy")
  with pytest.raises(ValueError, match="MMER_JAX_PROGRESS"):
    progress.Bar(4, stream=io.StringIO())


def test_a_log_file_gets_lines_and_iterate_yields_everything(tmp_path, monkeypatch):
  monkeypatch.delenv(progress.ENV_VAR, raising=False)
  path = tmp_path / "train.log"
  with path.open("w") as log:
    assert progress.resolve_mode(None, log) == "lines"
    items = list(progress.iterate(range(7), desc="eval valid", stream=log))  # total from len()
    progress.log_lines("epoch | loss", "1 | 0.5", stream=log)
  assert items == list(range(7))
  text = path.read_text()
  assert "\r" not in text
  assert text.splitlines()[0].startswith("eval valid: 7/7 batches (100%)")
  assert text.splitlines()[1:] == ["epoch | loss", "1 | 0.5"]


def test_unknown_total_counts_without_percentages():
  bar = progress.Bar(None, "eval", stream=io.StringIO(), mode="lines", clock=FakeClock())
  bar.update(3)
  assert bar.line() == "eval: 3 batches, 0.0 s"
  log = io.StringIO()
  assert list(progress.iterate(iter("abc"), desc="lengths", unit="examples", stream=log)) == ["a", "b", "c"]
  assert len(log.getvalue().splitlines()) == 1 and log.getvalue().startswith("lengths: 3 examples, ")
