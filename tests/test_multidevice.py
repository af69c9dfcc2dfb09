"""One step on 1 device and on 8 forced CPU devices gives the same loss and parameters."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_one_and_eight_devices_take_the_same_step():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, str(ROOT / "tests" / "multidevice_step.py")], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result["param_change"] > 1e-4          # the step really moved the parameters
  assert result["loss_diff"] < 1e-5 * max(1.0, abs(result["loss"]))
  assert result["param_diff"] < 1e-6
  assert result["stats_diff"] < 1e-5            # BatchNorm statistics are synced across devices
