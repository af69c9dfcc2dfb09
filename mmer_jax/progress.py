"""Progress output that suits where it goes: a tqdm bar on a terminal, plain lines everywhere else.

A tqdm bar redraws itself with carriage returns several times a second; sent to a file or a pipe
(cluster logs, `nohup`, CI) every redraw stays in the file (2.7 MB for a 90 s run). Off a terminal
`Bar` writes whole lines instead, and few of them: one at each tenth of the total once
`min_interval_s` have passed since the last line, at least one every `max_interval_s`, and a last
one on `close()`. So a fast epoch logs one line and a long one about a dozen:

    epoch 3/10: 120/400 batches (30%), 41.2 s, eta 96.1 s, loss 0.4321, samples_s 95.2

`MMER_JAX_PROGRESS=bar|lines` (or `mode=`) overrides the choice, e.g. lines on a terminal.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Callable, Iterable, Iterator, Optional, TextIO

from tqdm import tqdm

MODES = ("auto", "bar", "lines")
ENV_VAR = "MMER_JAX_PROGRESS"


def is_terminal(stream: TextIO) -> bool:
  try:
    return bool(stream.isatty())
  except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
    return False


def resolve_mode(mode: Optional[str], stream: TextIO) -> str:
  """"bar" or "lines": `mode`, else $MMER_JAX_PROGRESS, else by whether `stream` is a terminal."""
  chosen = mode or os.environ.get(ENV_VAR) or "auto"
  if chosen not in MODES:
    raise ValueError(f"Progress mode {chosen!r} (mode= or ${ENV_VAR}); use one of {', '.join(MODES)}.")
  if chosen == "auto":
    return "bar" if is_terminal(stream) else "lines"
  return chosen


def library_bars(stream: Optional[TextIO] = None) -> bool:
  """Whether libraries' own tqdm bars (TFDS's "Generating splits...") may draw: by the same rule as
  `Bar`, so a build logged to a file gets no carriage returns or ANSI escapes from them either."""
  return resolve_mode(None, stream if stream is not None else sys.stderr) == "bar"


def format_seconds(seconds: float) -> str:
  if seconds < 60:
    return f"{seconds:.1f} s"
  minutes, secs = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _format_value(value: Any) -> str:
  return f"{value:.4g}" if isinstance(value, float) else str(value)


class Bar:
  """Used like tqdm: `update(n)`, `set_postfix(**values)`, `close()` (or as a context manager).

  `enabled=False` (e.g. on every process but 0) makes every call a no-op. `leave=False` (short
  evaluation passes) drops the last line of a pass that printed nothing on the way.
  """

  def __init__(self, total: Optional[int], desc: str = "", *, initial: int = 0, enabled: bool = True,
               unit: str = "batches", leave: bool = True, stream: Optional[TextIO] = None,
               mode: Optional[str] = None, every_fraction: float = 0.1, min_interval_s: float = 5.0,
               max_interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
    self.total, self.desc, self.unit, self.leave = total, desc, unit, leave
    self.n = self._start_n = int(initial)
    self.enabled = bool(enabled)
    self.stream = stream if stream is not None else sys.stderr
    self.mode = resolve_mode(mode, self.stream) if self.enabled else "off"
    self.postfix: dict[str, Any] = {}
    self._every, self._min_s, self._max_s, self._clock = every_fraction, min_interval_s, max_interval_s, clock
    self._start = self._last_time = clock()
    self._last_n = self.n             # count shown by the last line written
    self._last_step = self._step_of(self.n)
    self._closed = False
    self._tqdm = None
    if self.mode == "bar":
      self._tqdm = tqdm(total=total, initial=initial, desc=desc, file=self.stream, leave=leave,
                        mininterval=1, dynamic_ncols=True)

  def _step_of(self, n: int) -> int:
    """Which tenth (of `every_fraction`) of the total `n` has reached."""
    if not self.total or self._every <= 0:
      return 0
    return int(math.floor(n / self.total / self._every + 1e-9))

  def set_postfix(self, **values: Any) -> None:
    if self.mode == "bar":
      self._tqdm.set_postfix(values, refresh=False)
    self.postfix = dict(values)

  def update(self, n: int = 1) -> None:
    if self.mode == "off" or self._closed:
      return
    self.n += n
    if self._tqdm is not None:
      self._tqdm.update(n)
      return
    now = self._clock()
    since = now - self._last_time
    step = self._step_of(self.n)
    if since >= self._max_s or (step > self._last_step and since >= self._min_s):
      self._write_line(now)
    # A tenth crossed too soon after the last line is not owed later: the next one will come.
    self._last_step = step

  def line(self, now: Optional[float] = None) -> str:
    """The plain progress line for the current count."""
    elapsed = (self._clock() if now is None else now) - self._start
    parts = [f"{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)" if self.total
             else f"{self.n} {self.unit}", format_seconds(elapsed)]
    done_here = self.n - self._start_n
    if self.total and 0 < done_here and self.n < self.total and elapsed > 0:
      parts.append(f"eta {format_seconds((self.total - self.n) * elapsed / done_here)}")
    parts += [f"{key} {_format_value(value)}" for key, value in self.postfix.items()]
    return f"{self.desc}: {', '.join(parts)}" if self.desc else ", ".join(parts)

  def _write_line(self, now: float) -> None:
    self.stream.write(self.line(now) + "\n")
    self.stream.flush()
    self._last_time, self._last_n = now, self.n

  def close(self) -> None:
    if self.mode == "off" or self._closed:
      return
    self._closed = True
    if self._tqdm is not None:
      self._tqdm.close()
    elif self.n != self._last_n and (self.leave or self._last_n != self._start_n):
      self._write_line(self._clock())

  def __enter__(self) -> "Bar":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def iterate(iterable: Iterable, total: Optional[int] = None, desc: str = "", **bar_kwargs) -> Iterator:
  """Yields from `iterable`, counting each item on a `Bar` that is closed however the loop ends.

  A drop-in for `tqdm(iterable, desc=...)`: `total` defaults to `len(iterable)` where it has one.
  """
  if total is None and hasattr(iterable, "__len__"):
    total = len(iterable)
  with Bar(total, desc, **bar_kwargs) as bar:
    for item in iterable:
      yield item
      bar.update(1)


def log_lines(*lines: str, stream: Optional[TextIO] = None) -> None:
  """Writes whole lines (the epoch table) so that they sit well with an open bar: through
  `tqdm.write` on a terminal, which redraws the bar below them, and plainly (flushed) elsewhere."""
  stream = stream if stream is not None else sys.stdout
  for text in lines:
    if is_terminal(stream):
      tqdm.write(text, file=stream)
    else:
      stream.write(text + "\n")
  stream.flush()
