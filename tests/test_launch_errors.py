"""User errors through launch.py: one or two lines, exit status 2, no traceback, nothing built or written."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _launch(tmp_path, *args):
  """Exit status and every line the user sees (stdout and stderr)."""
  out = subprocess.run([sys.executable, "launch.py", f"--workdir={tmp_path / 'run'}", *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=180)
  return out.returncode, (out.stdout + out.stderr).strip().splitlines()


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


def test_a_missing_dataset_says_how_to_build_it_in_two_lines(tmp_path):
  code, lines = _launch(tmp_path, "--config=configs/resnet1d_iemocap.py", f"--config.input.data_dir={tmp_path / 'empty'}")
  assert code == 2 and len(lines) == 2, lines
  assert "python -m tfds_builders.build iemocap/" in lines[1] and "--manual_dir=" in lines[1]
  assert not (tmp_path / "run").exists()


def test_the_sample_without_build_if_missing_says_how_to_build_it_and_writes_nothing(tmp_path):
  code, lines = _launch(tmp_path, "--config=configs/williams_sample.py:smoke", "--config.input.build_if_missing=False")
  assert code == 2 and len(lines) == 2, lines
  assert "--config.input.build_if_missing=True" in lines[0] and "python -m tfds_builders.build synthetic_mosei/" in lines[1]
  assert "--manual_dir" not in "\n".join(lines)  # the sample is generated: there is no release to point at
  assert not (tmp_path / "run").exists()  # no empty workdir left behind


@pytest.mark.parametrize("config, expected", [
    ("configs/williams_sample.py:smok", "Error: --config=configs/williams_sample.py:smok: Unknown config argument 'smok'"),
    ("configs/williams_smaple.py", "Error: --config=configs/williams_smaple.py: no such config file. "
                                   "Did you mean 'configs/williams_sample.py'"),
])
def test_a_config_file_or_argument_typo_is_one_line(tmp_path, config, expected):
  code, lines = _launch(tmp_path, f"--config={config}")
  assert code == 2 and len(lines) == 1 and lines[0].startswith(expected), lines
  assert not (tmp_path / "run").exists()


def test_an_override_typo_is_said_in_plain_text(tmp_path):
  code, lines = _launch(tmp_path, "--config=configs/williams_sample.py:smoke", "--config.input.preprocess.stepz=20")
  assert code == 2 and len(lines) == 1, lines
  assert lines[0].startswith("Error: --config.input.preprocess.stepz=20: config.input.preprocess has no field 'stepz'. "
                             "Did you mean 'steps'?")
  assert "\\" not in lines[0]  # no repr escapes (a KeyError's \\' and \\n)


def test_an_unknown_optimizer_is_refused_before_the_dataset_is_built(tmp_path):
  code, lines = _launch(tmp_path, "--config=configs/williams_sample.py:smoke", "--config.optimizer.name=adamm")
  assert code == 2 and lines == ["Error: Unknown optimizer 'adamm' in config.optimizer.name. Did you mean 'adam' or "
                                 "'adamw'? Known: adam, adamw, sgd, rmsprop."], lines
  assert not (tmp_path / "run").exists()  # the sample dataset is built into <workdir>/data: it was not


@pytest.mark.parametrize("field, value, expected", [
    ("optimizer.schedule", "cosin", "Unknown schedule 'cosin' in config.optimizer.schedule. Did you mean 'cosine'?"),
    ("loss.name", "maee", "Unknown loss 'maee' in config.loss.name. Did you mean 'mae'?"),
])
def test_schedule_and_loss_names_are_checked_with_the_other_names(field, value, expected):
  from configs import williams_sample
  from mmer_jax.errors import UserError
  from mmer_jax.train import experiment
  config = williams_sample.get_config("smoke")
  section, key = field.split(".")
  config[section][key] = value
  with pytest.raises(UserError) as error:
    experiment.check_names(config)  # the pre-flight check launch.py runs before building anything
  assert str(error.value).startswith(expected)


def test_verbose_shows_the_traceback_of_a_config_argument_typo(tmp_path):
  code, lines = _launch(tmp_path, "--config=configs/williams_sample.py:smok", "--verbose")
  assert code != 0 and any("Traceback" in line for line in lines)


def test_verbose_shows_the_traceback(tmp_path):
  code, lines = _launch(tmp_path, "--config=configs/williams_sample.py:smoke", "--config.model_name=nope", "--verbose")
  assert code != 0 and any("Traceback" in line for line in lines)
