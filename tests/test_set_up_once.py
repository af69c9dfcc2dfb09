"""A launch checks the config's names, sets up the runtime and builds the model once each.

launch.py checks names before anything is built or written and sets the runtime up (the multi-host
supervisor runs between the two); the trainer's assembly (`Experiment.from_config`) then takes
them as done instead of repeating them. On its own (tests, benchmarks) `from_config` still does
both, once.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmer_jax.train import experiment as experiment_lib, runtime, trainer
from tests.helpers import tiny_williams_config, williams_sources

ROOT = Path(__file__).resolve().parents[1]


def install_spies(set_attribute=setattr) -> collections.Counter:
  """Counts of check_names, setup_runtime and build_model calls, through spies on the real ones."""
  counts = collections.Counter()

  def spy(module, name):
    real = getattr(module, name)

    def counted(*args, **kwargs):
      counts[name] += 1
      return real(*args, **kwargs)
    set_attribute(module, name, counted)

  spy(experiment_lib, "check_names")
  spy(experiment_lib, "build_model")
  spy(runtime, "setup_runtime")
  return counts


@pytest.fixture
def calls(monkeypatch):
  return install_spies(monkeypatch.setattr)


# launch.py defines absl flags that other modules of the suite define too (tfds_builders.build's
# --verbose), so the launch runs in its own process, with the same spies.
_LAUNCH_WITH_SPIES = textwrap.dedent("""
    import json, pathlib, sys, types
    import launch
    from configs import williams_sample
    from tests.test_set_up_once import install_spies
    counts = install_spies()
    launch._PRINT_CONFIG = types.SimpleNamespace(value=False)  # no absl flags parsed
    config = williams_sample.get_config("smoke")
    config.num_epochs = 1
    config.stop_after_steps = 1  # the assembly is what counts here, not the training
    launch.run(config, pathlib.Path(sys.argv[1]), "train")
    print("COUNTS " + json.dumps(counts))
""")


def test_a_launch_checks_sets_up_and_builds_once(tmp_path):
  out = subprocess.run([sys.executable, "-c", _LAUNCH_WITH_SPIES, str(tmp_path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  assert (tmp_path / "checkpoints").is_dir()  # the run really started
  counts = json.loads(out.stdout.split("COUNTS ", 1)[1])
  assert counts == {"check_names": 1, "setup_runtime": 1, "build_model": 1}


def test_the_assembly_alone_still_checks_and_sets_up_once(tmp_path, calls):
  trainer.train_and_evaluate(tiny_williams_config(), tmp_path, williams_sources())
  assert calls == {"check_names": 1, "setup_runtime": 1, "build_model": 1}
