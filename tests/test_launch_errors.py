"""User errors through launch.py: one or two lines, exit status 2, no traceback, nothing built or written."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _launch(tmp_path, *args):
  out = subprocess.run([sys.executable, "launch.py", f"--workdir={tmp_path / 'run'}", *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=180)
  return out.returncode, out.stderr.strip().splitlines()


@pytest.mark.parametrize("override, named", [
    ("--config.optim.lrr=1", "optim"),            # a section that does not exist
    ("--config.optimizer.lrr=1", "lrr"),          # a field that does not exist
])
def test_a_config_typo_is_two_lines(tmp_path, override, named):
  code, lines = _launch(tmp_path, "--config=configs/williams_sample.py:smoke", override)
  assert code == 2 and 1 <= len(lines) <= 3, lines
  assert named in lines[0] and not any("Traceback" in line for line in lines)
  assert not (tmp_path / "run").exists()


def test_an_unknown_model_is_named_before_anything_is_built(tmp_path):
  code, lines = _launch(tmp_path, "--config=configs/williams_sample.py:smoke", "--config.model_name=williams_ef_blstn")
  assert code == 2 and len(lines) == 1, lines
  assert "Unknown model 'williams_ef_blstn'. Did you mean 'williams_ef_blstm'?" in lines[0]
  assert not (tmp_path / "run").exists()  # no dataset built, no config.json written


def test_a_misspelt_preprocessor_option_is_one_line(tmp_path):
  code, lines = _launch(tmp_path, "--config=configs/williams_sample.py:smoke", "--config.input.preprocess.step=3")
  # ml_collections refuses a new key in a locked config before we see it; either way: short, named.
  assert code == 2 and len(lines) <= 3 and "step" in lines[0], lines
  assert not any("Traceback" in line for line in lines)


def test_a_missing_dataset_says_how_to_build_it_in_a_few_lines(tmp_path):
  code, lines = _launch(tmp_path, "--config=configs/resnet1d_iemocap.py", f"--config.input.data_dir={tmp_path / 'empty'}")
  assert code == 2 and len(lines) <= 4, lines
  assert "python -m tfds_builders.build iemocap/" in "\n".join(lines)


def test_verbose_shows_the_traceback(tmp_path):
  code, lines = _launch(tmp_path, "--config=configs/williams_sample.py:smoke", "--config.model_name=nope", "--verbose")
  assert code != 0 and any("Traceback" in line for line in lines)
