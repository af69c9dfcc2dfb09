"""MME2E's LF_RNN / LF_TRANSFORMER: parameter parity, masking, fusion, MOSEI inputs, learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import lf_mme2e
from mmer_jax.data.preprocess import options as preprocess_options
from mmer_jax.models import late_fusion as lf
from mmer_jax.models import param_count
from mmer_jax.train import trainer

# sum(p.numel() for p in model.parameters()) of upstream's classes rebuilt in torch 2.13 with
# hfc_sizes [300, 144, 35], 6 emotions, 2 transformer layers (the CLI default).
TORCH_LF_RNN_MOSEI = 2_026_336
TORCH_LF_TRANSFORMER_MOSEI = 4_898_702
SIZES = {"text": 300, "audio": 144, "vision": 35}


def _inputs(sizes, batch=2, steps=(9, 7, 5), seed=0):
  rng = np.random.default_rng(seed)
  out = {}
  for (name, dim), t in zip(sizes.items(), steps):
    lengths = rng.integers(2, t + 1, batch)
    out[name] = jnp.asarray(rng.normal(size=(batch, t, dim)), jnp.float32)
    out[f"{name}_mask"] = jnp.arange(t)[None] < lengths[:, None]
  return out


def _count(model, inputs):
  return param_count(jax.eval_shape(lambda: model.init(jax.random.key(0), inputs, train=False)))


def test_lf_rnn_parameter_count_matches_pytorch():
  jax_count = _count(lf.LFRNN(num_classes=6), _inputs(SIZES))
  torch_extra = sum(2 * lf.LSTM.torch_bias_count(d) for d in SIZES.values())  # b_hh per direction
  assert jax_count + torch_extra == TORCH_LF_RNN_MOSEI == lf.torch_param_count("lf_rnn", list(SIZES.values()), 6)


def test_lf_transformer_parameter_count_matches_pytorch():
  assert _count(lf.LFTransformer(num_classes=6), _inputs(SIZES)) == TORCH_LF_TRANSFORMER_MOSEI
  assert lf.torch_param_count("lf_transformer", list(SIZES.values()), 6) == TORCH_LF_TRANSFORMER_MOSEI


def _pad_more(inputs, name, extra=4):
  out = dict(inputs)
  b, _, d = inputs[name].shape
  out[name] = jnp.concatenate([inputs[name], 50 * jnp.ones((b, extra, d))], axis=1)
  out[f"{name}_mask"] = jnp.concatenate([inputs[f"{name}_mask"], jnp.zeros((b, extra), bool)], axis=1)
  return out


@pytest.mark.parametrize("model_cls,kwargs", [
    (lf.LFRNN, {}), (lf.LFTransformer, dict(num_layers=1, dim_feedforward=16, dropout=0.0)),
])
def test_masked_models_ignore_padding_and_faithful_ones_do_not(model_cls, kwargs):
  sizes = {"text": 8, "audio": 6, "vision": 5}
  inputs = _inputs(sizes, batch=3)
  longer = _pad_more(inputs, "text")
  for masked in (True, False):
    model = model_cls(num_classes=3, masked=masked, **kwargs)
    variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(inputs)
    apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
    same = np.allclose(apply(variables, inputs), apply(variables, longer), rtol=1e-5, atol=1e-5)
    # Upstream ran the text LSTM over padding (last padded output) and let text attend to padding.
    assert same == masked


def test_weighted_fusion_is_a_bias_free_weighted_sum_of_modality_logits():
  logits = [jnp.full((2, 3), 1.0), jnp.full((2, 3), 10.0)]
  fusion = lf.WeightedFusion()
  variables = fusion.init(jax.random.key(0), logits)
  w = variables["params"]["kernel"][:, 0]
  np.testing.assert_allclose(fusion.apply(variables, logits), jnp.full((2, 3), w[0] + 10 * w[1]), rtol=1e-6)
  assert np.all(np.abs(w) <= 1 / np.sqrt(2))  # PyTorch Linear(2, 1) init bound


def mosei_unaligned_examples(n, seed, dims=(30, 12, 10)):
  """csd_unaligned-shaped examples (small widths for speed); emotions shift every modality."""
  rng = np.random.default_rng(seed)
  world = np.random.default_rng(3)
  directions = [world.normal(0, 1, (6, d)).astype(np.float32) for d in dims]
  out = []
  for i in range(n):
    present = np.zeros(6, np.float32)
    present[rng.choice(6, size=int(rng.integers(1, 3)), replace=False)] = 1.0
    # CMU label vector: [sentiment, happy, sad, anger, surprise, disgust, fear]; MME2E order below.
    intensity = present * rng.choice([1 / 3, 2 / 3, 1.0, 2.0], 6)
    anger, disgust, fear, happy, sad, surprise = intensity
    labels = np.asarray([0.0, happy, sad, anger, surprise, disgust, fear], np.float32)
    seqs = []
    for d, direction in zip(dims, directions):
      t = int(rng.integers(4, 15))
      seqs.append((present @ direction + rng.normal(0, 1.0, (t, d))).astype(np.float32))
    seqs[1][0, 0] = -np.inf  # COVAREP has -inf values
    out.append({"id": f"vid{seed}_{i}[0]".encode(), "glove": seqs[0], "covarep": seqs[1], "facet": seqs[2],
                "labels": labels, "present": present})
  return out


def test_mosei_preprocessor_maps_labels_to_mme2e_order_and_normalises_with_train_stats():
  config = lf_mme2e.get_config("smoke")
  pre = preprocess_options.build(config)
  train = mosei_unaligned_examples(20, 0)
  pre.fit(train)
  out = pre(train[0])
  np.testing.assert_array_equal(out["label"], train[0]["present"])
  assert out["audio"].shape == (16, 12) and np.isfinite(out["audio"]).all()
  audio = np.concatenate([pre(ex)["audio"][pre(ex)["audio_mask"]] for ex in train])
  assert np.abs(audio.mean(0)).max() < 0.2 and "text" in out and out["text_mask"].dtype == bool


@pytest.mark.parametrize("model", ["rnn", "transformer"])
def test_late_fusion_learns_mosei_fixture(tmp_path, model):
  sources = {"train": mosei_unaligned_examples(160, 0), "valid": mosei_unaligned_examples(48, 1),
             "test": mosei_unaligned_examples(48, 2)}
  config = lf_mme2e.get_config(f"smoke,model={model}")
  config.num_epochs = 4 if model == "rnn" else 6
  config.input.tfds_name = ""
  config.input.cache = False
  config.input.batch_size = 16
  config.input.eval_batch_size = 48
  config.optimizer.learning_rate = 5e-3
  config.evaluation.early_stopping_patience = None
  if model == "transformer":
    config.model.dropout = 0.0
  result = trainer.train_and_evaluate(config, tmp_path, sources=sources)
  present = np.stack([ex["present"] for ex in sources["test"]])
  prevalence = present.mean(0)
  always_positive_f1 = float(np.mean(2 * prevalence / (1 + prevalence)))  # best constant predictor
  assert result["test"]["f1_macro"] >= always_positive_f1 + 0.25, (result["test"], always_positive_f1)
