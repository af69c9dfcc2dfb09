"""User errors: wrong names, options or files. The command lines print them as one or two lines, no traceback.

Anything raised as a `UserError` is something the user can fix from the command line or the config
file; its message says what is wrong and what to do. Bugs stay ordinary exceptions with tracebacks.
"""

from __future__ import annotations

import difflib
from typing import Iterable

# The exit status of a refused command line (launch.py, `python -m tfds_builders.build`): a usage
# mistake, as absl and argparse exit on theirs.
EXIT_USER_ERROR = 2


class UserError(Exception):
  """Base: a message meant for the person who launched the run."""


class ConfigError(UserError, ValueError):
  """A config field, option or name is wrong."""


class DataError(UserError, FileNotFoundError):
  """A dataset, file or run that the config names is missing or unreadable."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
  """' Did you mean 'x'?' for the closest known names, or ''."""
  close = difflib.get_close_matches(str(name), list(known), n=2)
  return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
