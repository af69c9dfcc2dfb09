"""Seed 003 ResNet1D: parameter parity, shapes, train-only statistics, the leaky option, learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import resnet1d_iemocap
from mmer_jax.data import pipeline as pipeline_lib
from mmer_jax.models import param_count
from mmer_jax.models import resnet1d
from mmer_jax.train import trainer

SEED_INPUT_LENGTH = 2740  # 276 audio statistics + 2464 TF-IDF terms
CODES = ["ang", "hap", "exc", "sad", "fru", "fea", "sur", "neu"]
CLASS_OF = {"ang": 0, "hap": 1, "exc": 1, "sad": 2, "fru": 2, "fea": 3, "sur": 4, "neu": 5}
WORDS = ["furious", "joyful", "gloomy", "scared", "astonished", "plain"]


def test_parameter_count_is_the_seeds_15398854_at_input_length_2740():
  model = resnet1d.ResNet1D()
  inputs = {"features": jnp.zeros((2, SEED_INPUT_LENGTH))}
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), inputs, train=False))
  # PyTorch's parameters(): weights and BN affine; running statistics are buffers, not counted.
  assert param_count(variables) == 15_398_854 == resnet1d.torch_param_count()
  assert param_count(variables, ("batch_stats",)) == 2 * 9_984  # mean + var of 9,984 BN channels


def test_length_halves_six_times_to_43_like_the_original():
  model = resnet1d.ResNet1D()
  inputs = {"features": jnp.zeros((1, SEED_INPUT_LENGTH))}
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), inputs, train=False))
  _, state = jax.eval_shape(lambda v: model.apply(v, inputs, train=False, capture_intermediates=True,
                                                  mutable=["intermediates"]), variables)
  inter = state["intermediates"]
  lengths = [inter["bn1"]["__call__"][0].shape[1]] + [
      inter[f"layer{i}_1"]["__call__"][0].shape[1] for i in range(1, 6)]
  assert lengths == [1370, 685, 343, 172, 86, 43]
  assert inter["layer5_1"]["__call__"][0].shape[-1] == 1024


def iemocap_seed003_examples(n, seed, session=None):
  """In-memory examples with iemocap/seed003 features; the class shapes the stats and picks words."""
  rng = np.random.default_rng(seed)
  # A class-specific oscillation along the feature axis: learnable by a convolutional net that ends
  # in global average pooling (a fixed per-position offset mostly averages away).
  cycles = np.asarray([3, 7, 13, 23, 37, 53])[:, None]
  patterns = 2.0 * np.sin(2 * np.pi * cycles * np.arange(276)[None] / 276).astype(np.float32)
  out = []
  for i in range(n):
    code = CODES[i % len(CODES)] if i % 13 else "xxx"  # every 13th is outside the 6-class scheme
    cls = CLASS_OF.get(code, 5)
    words = [WORDS[cls]] * 2 + list(rng.choice(["the", "movie", "today", "really", "went"], 3))
    out.append({"id": f"Ses0{session or 1 + i % 5}_{seed}_{i:03d}".encode(), "session": np.int32(session or 1 + i % 5),
                "gender": b"M", "label": code, "text": " ".join(rng.permutation(words)).encode(),
                "audio_stats": (patterns[cls] + rng.normal(0, 1.0, 276)).astype(np.float32)})
  return out


def _tiny(config, epochs=1):
  config.num_epochs = epochs
  config.input.tfds_name = ""
  config.input.cache = False
  config.input.preprocess.tfidf = {"min_df": 1}  # the seed's min_df=5 would empty a tiny vocabulary
  config.evaluation.slice_by = []
  return config


def test_statistics_are_fitted_on_train_only_unless_the_faithful_leak_is_chosen():
  train, test = iemocap_seed003_examples(30, 0), iemocap_seed003_examples(10, 1)
  test[1]["text"] = b"onlyintest onlyintest"  # test[0] is outside the scheme
  test[1]["audio_stats"] = np.full(276, 1e4, np.float32)
  sources = {"train": train, "valid": test, "test": test}
  clean = pipeline_lib.InputPipeline(_tiny(resnet1d_iemocap.get_config("smoke")), sources)
  clean.fit_preprocessor()
  pre = clean.preprocessor
  assert "onlyintest" not in pre.vectorizer.vocabulary_ and pre.maximum.max() < 1e3
  features = np.stack([pre(ex)["features"] for ex in train if pre.keep(ex)])
  assert features.shape[1] == 276 + len(pre.vectorizer.vocabulary_)
  np.testing.assert_allclose(features[:, :276].min(0), 0.0, atol=1e-6)  # MinMax over train rows
  np.testing.assert_allclose(features[:, :276].max(0), 1.0, atol=1e-6)

  leaky_config = _tiny(resnet1d_iemocap.get_config("smoke"))
  leaky_config.input.fit_on_all_splits = True  # what protocol=faithful sets
  leaky = pipeline_lib.InputPipeline(leaky_config, sources)
  leaky.fit_preprocessor()
  assert "onlyintest" in leaky.preprocessor.vectorizer.vocabulary_ and leaky.preprocessor.maximum.max() == 1e4


def test_faithful_protocol_oversamples_fear_and_surprise_before_the_split():
  config = _tiny(resnet1d_iemocap.get_config("smoke,protocol=faithful"))
  config.input.random_split.source = "all"
  examples = iemocap_seed003_examples(120, 0)
  pipe = pipeline_lib.InputPipeline(config, {"all": examples})
  ids = {split: [examples[int(i)]["id"] for i in pipe.kept[split]] for split in ("train", "test")}
  fear = [ex["id"] for ex in examples if ex["label"] == "fea"]
  assert sum(ids["train"].count(f) + ids["test"].count(f) for f in fear) == 31 * len(fear)
  assert set(ids["train"]) & set(ids["test"]) & set(fear)  # copies of one utterance on both sides
  assert pipe.kept["valid"].tolist() == pipe.kept["test"].tolist()  # epochs selected on test


def test_resnet1d_learns_on_fixture_data(tmp_path):
  sources = {"train": iemocap_seed003_examples(192, 0), "valid": iemocap_seed003_examples(60, 1),
             "test": iemocap_seed003_examples(60, 2)}
  config = _tiny(resnet1d_iemocap.get_config("smoke"), epochs=3)
  config.input.batch_size = 16
  config.input.eval_batch_size = 64
  config.optimizer.learning_rate = 0.05  # SGD 1e-3 needs the seed's 100 epochs
  config.optimizer.momentum = 0.9
  result = trainer.train_and_evaluate(config, tmp_path, sources=sources)
  # Six classes (chance ~0.17-0.3 with the fixture's class mix).
  assert result["test"]["accuracy"] >= 0.6, result["test"]
  assert result["test"]["f1_weighted"] >= 0.5
