"""Config files, `:arg` parsing, `--config.a.b=v` overrides and typo errors, as launch.py sees them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from configs import common

ROOT = Path(__file__).resolve().parents[1]


def _launch(*args, tmp_path):
  return subprocess.run([sys.executable, "launch.py", f"--workdir={tmp_path}", *args],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_config_arg_and_overrides(tmp_path):
  out = _launch("--config=configs/williams_sample.py:smoke", "--config.input.batch_size=8",
                "--config.optimizer.learning_rate=0.01", "--config.model.use_mask=True", "--print_config",
                tmp_path=tmp_path)
  assert out.returncode == 0, out.stderr[-2000:]
  config = json.loads(out.stdout)
  assert config["num_epochs"] == 2 and config["input"]["preprocess"]["steps"] == 20  # from :smoke
  assert config["input"]["batch_size"] == 8 and config["optimizer"]["learning_rate"] == 0.01
  assert config["model"]["use_mask"] is True


def test_launch_rejects_a_typo_before_doing_any_work(tmp_path):
  out = _launch("--config=configs/williams_sample.py", "--config.optimizer.learnig_rate=1", tmp_path=tmp_path)
  assert out.returncode != 0 and "learnig_rate" in out.stderr
  assert not (tmp_path / "checkpoints").exists()


def test_unknown_config_argument_lists_known_ones():
  with pytest.raises(ValueError, match="Unknown config argument 'smok'.*smoke"):
    common.parse_arg("smok", smoke=False)
  assert common.parse_arg("smoke,steps=3", smoke=False, steps=10).to_dict() == {"smoke": True, "steps": 3}
