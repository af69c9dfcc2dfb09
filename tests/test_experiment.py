"""`Experiment`: one assembly for training, evaluation and prediction; restores across topologies."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

from mmer_jax.errors import ConfigError, DataError
from mmer_jax.predict import Predictor
from mmer_jax.train import experiment as experiment_lib, trainer
from tests.helpers import tiny_williams_config, williams_sources

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def eight_device_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("eight")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, str(ROOT / "tests" / "multidevice_train.py"), str(workdir)],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  return workdir, json.loads(out.stdout.strip().splitlines()[-1])


def test_a_run_trained_on_eight_devices_predicts_and_evaluates_on_one(eight_device_run):
  workdir, trained = eight_device_run
  assert jax.device_count() == 1
  sources = williams_sources()
  test = sources["test"]
  table = Predictor(workdir).predict_examples(test, [ex["id"].decode() for ex in test], batch_size=8)
  report = pd.read_csv(workdir / "report" / "test_predictions.csv")
  merged = report.merge(table, on="id", suffixes=("_report", ""))
  assert len(merged) == 20
  for name in ("happy", "fear", "surprise"):
    np.testing.assert_allclose(merged[f"pred_{name}"], merged[f"pred_{name}_report"], atol=1e-5)

  config = tiny_williams_config(num_epochs=2, batch_size=16)
  evaluated = trainer.train_and_evaluate(config, workdir, sources=sources, mode="evaluate")
  assert evaluated["test"]["mae"] == pytest.approx(trained["test"]["mae"], rel=1e-5)


def test_restore_reads_the_run_alone(eight_device_run):
  workdir, _ = eight_device_run
  experiment = experiment_lib.Experiment.restore(workdir)
  variables = experiment.best_variables()
  experiment.close()
  assert experiment.pipeline is None  # no data needed
  assert {leaf.sharding.mesh.size for leaf in jax.tree_util.tree_leaves(variables)} == {1}
  with pytest.raises(DataError, match="config.json is missing"):
    experiment_lib.Experiment.restore(workdir / "nothing_here")


def test_misspelt_preprocessor_option_is_one_error_naming_it():
  config = tiny_williams_config()
  config.input.preprocess.stepz = 3
  with pytest.raises(ConfigError, match=r"config\.input\.preprocess\.stepz is not an option of the "
                                        r"'williams_ef' preprocessor\. Did you mean 'steps'\?"):
    experiment_lib.check_names(config)


def test_derived_option_stated_differently_is_an_error():
  config = tiny_williams_config()
  config.input.preprocess.num_outputs = 3  # the model has 7 outputs
  with pytest.raises(ConfigError, match="num_outputs=3 contradicts 7"):
    experiment_lib.check_names(config)


def test_unknown_model_field_is_one_error_naming_it():
  config = tiny_williams_config()
  config.model.lstm_unitz = 3
  with pytest.raises(ConfigError, match=r"config\.model\.lstm_unitz is not a field of model 'williams_ef_blstm'\. "
                                        r"Did you mean 'lstm_units'\?"):
    experiment_lib.check_names(config)


def test_template_holds_no_arrays_and_initial_state_fills_it(tmp_path):
  """The template is shapes and shardings only (a concrete one would keep a second copy of the
  parameters and optimiser moments alive for the whole run); a fresh run's state matches it."""
  config = tiny_williams_config(num_epochs=1, batch_size=16)
  experiment = experiment_lib.Experiment.from_config(config, tmp_path, williams_sources())
  try:
    leaves = jax.tree_util.tree_leaves(experiment.template)
    assert leaves and all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in leaves)
    state = experiment.initial_state()
    assert jax.tree_util.tree_structure(state) == jax.tree_util.tree_structure(experiment.template)
    for leaf, spec in zip(jax.tree_util.tree_leaves(state), leaves):
      assert isinstance(leaf, jax.Array) and (leaf.shape, leaf.dtype) == (spec.shape, spec.dtype)
      assert leaf.sharding.is_equivalent_to(spec.sharding, leaf.ndim)
    again = experiment.initial_state()  # config.seed decides it
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(again)))
  finally:
    experiment.close()
