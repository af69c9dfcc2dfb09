"""`config.compute_dtype=bfloat16`: every model computes in bfloat16, keeps float32 parameters, and
its loss, gradients and optimiser state stay float32; training follows the float32 curve.

The per-model checks trace (jax.make_jaxpr / jax.eval_shape) and compile nothing, so they take
seconds; one test trains through the real trainer in both dtypes.
"""

import json

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from mmer_jax import registry
from mmer_jax.errors import ConfigError
from mmer_jax.models import param_count, pretrained
from mmer_jax.models import late_fusion, mesm, mme2e, multifocus_blstm, resnet1d, ssl_fusion, text_classifier
from mmer_jax.models.williams_ef_blstm import WilliamsEFBLSTM
from mmer_jax.train import experiment, losses, state as state_lib, step as step_lib, trainer
from mmer_jax.train.metrics_log import FILE as METRICS_FILE
from tests import helpers

BF16 = jnp.dtype(jnp.bfloat16)
F32 = jnp.dtype(jnp.float32)
MATMULS = ("dot_general", "conv_general_dilated")
# Loop bodies are the LSTM/GRU recurrences, float32 by design (mmer_jax/models/precision.py).
LOOPS = ("scan", "while")


def _seq(rng, batch, steps, dim, name):
  lengths = rng.integers(2, steps + 1, batch)
  return {name: rng.normal(size=(batch, steps, dim)).astype(np.float32),
          f"{name}_mask": np.arange(steps)[None] < lengths[:, None]}


def _tokens(rng, batch=2, length=6):
  return {"text": rng.integers(1, 90, (batch, length)).astype(np.int32),
          "text_mask": np.arange(length)[None] < np.array([[4], [6]])[:batch]}


def _folder(tmp_path_factory, kind, **overrides):
  return str(pretrained.save_tiny_config(tmp_path_factory.mktemp(kind), kind, **overrides))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  return {"bert": _folder(tmp_path_factory, "bert"), "albert": _folder(tmp_path_factory, "albert"),
          "wav2vec2": _folder(tmp_path_factory, "wav2vec2"),
          # transformers' own (stable layer norm) wav2vec2 module, the other speech path
          "wav2vec2_stable": _folder(tmp_path_factory, "wav2vec2", do_stable_layer_norm=True,
                                     feat_extract_norm="layer")}


MME2E_TINY = dict(cnn_channels=(4, 4, 4, 8, 8, 8), flatten_hidden=8, trans_dim=8, trans_layers=1, trans_heads=2,
                  trans_ff=16)
MESM_TINY = dict(low_channels=4, stage_channels=(4, 8, 8), attention_dims=(4, 4, 4), flatten_hidden=8, trans_dim=8,
                 trans_layers=1, trans_heads=2, trans_ff=16)


def _families(folders):
  """name -> (model in float32, inputs, label): every model family and each of its code paths."""
  rng = np.random.default_rng(0)
  av = {**_seq(rng, 2, 7, 6, "audio"), **_seq(rng, 2, 5, 4, "text")}
  faces = {"vision": rng.normal(size=(2, 3, 48, 48, 3)).astype(np.float32),
           "vision_mask": np.arange(3)[None] < np.array([[1], [3]]),
           "audio": rng.normal(size=(2, 2, 128, 32)).astype(np.float32),
           "audio_mask": np.arange(2)[None] < np.array([[2], [1]])}
  small_faces = dict(faces, vision=faces["vision"][:, :, :16, :16])
  cls = {"text": rng.normal(size=(2, 768)).astype(np.float32)}
  mocap = {"mocap": rng.normal(size=(2, 16, 12)).astype(np.float32)}
  speech = {"audio": rng.normal(size=(2, 800)).astype(np.float32), "audio_mask": np.arange(800)[None] < 600}
  one_hot = np.eye(3, dtype=np.float32)[[0, 2]]
  label = np.array([0, 2], np.int32)
  return {
      "williams_ef_blstm": (WilliamsEFBLSTM(num_outputs=3, lstm_units=4, num_layers=2, num_nodes=5, use_mask=True),
                            _seq(rng, 2, 6, 5, "features"), one_hot),
      "multifocus_unimodal_attention": (multifocus_blstm.MultiFocusUnimodal(units=4, attention_dim=3, num_classes=3),
                                        av, label),
      "multifocus_unimodal_last": (multifocus_blstm.MultiFocusUnimodal(pooling="last", units=4, num_classes=3),
                                   av, label),
      "multifocus_mmb": (multifocus_blstm.MultiFocusMMB(units=4, num_classes=3), av, label),
      "multifocus_mmmla": (multifocus_blstm.MultiFocusMMMLA(units=4, attention_dim=3, gmu_features=5,
                                                            num_classes=3), av, label),
      "resnet1d": (resnet1d.ResNet1D(num_classes=3, stem_features=4, stage_features=(4, 8), blocks_per_stage=1),
                   {"features": rng.normal(size=(2, 40)).astype(np.float32)}, label),
      "lf_rnn": (late_fusion.LFRNN(num_classes=3, modalities=("text", "audio")), av, one_hot),
      "lf_transformer": (late_fusion.LFTransformer(num_classes=3, modalities=("text", "audio"), num_layers=1,
                                                   dim_feedforward=8, num_heads={"text": 2, "audio": 2}),
                         av, one_hot),
      "text_classifier_bert": (text_classifier.TextClassifier(folders["bert"], 3, pooling="mean"), _tokens(rng),
                               label),
      "text_classifier_albert": (text_classifier.TextClassifier(folders["albert"], 3, pooling="cls"),
                                 _tokens(rng), label),
      "mme2e_tva": (mme2e.MME2E(num_classes=3, **MME2E_TINY), {**faces, **cls}, one_hot),
      "mme2e_albert": (mme2e.MME2E(num_classes=3, modalities="ta", variant="upstream",
                                   text_encoder=folders["albert"], **MME2E_TINY), {**faces, **_tokens(rng)}, one_hot),
      "mesm": (mesm.MESM(num_classes=3, modalities="tv", **MESM_TINY), {**small_faces, **cls}, one_hot),
      "ssl_fusion_tsm": (ssl_fusion.SslFusion(num_classes=3, text_encoder=folders["bert"],
                                              speech_encoder=folders["wav2vec2"], branch_units=4,
                                              mocap_fusion_channels=(2, 3, 4, 5)),
                         {**_tokens(rng), **speech, **mocap}, label),
      "ssl_fusion_speech_stable_ln": (ssl_fusion.SslFusion(num_classes=3, modalities="s", speech_pool="masked_mean",
                                                           speech_encoder=folders["wav2vec2_stable"]),
                                      speech, label),
      # 16 channels into the third conv: its kernel gradient takes the one-tap-per-iteration loop
      "ssl_fusion_mocap_cnn_lstm": (ssl_fusion.SslFusion(num_classes=3, modalities="m", mocap_head="cnn_lstm",
                                                         mocap_unimodal_channels=(4, 16, 4, 4, 4), branch_units=4),
                                    mocap, label),
      "ssl_fusion_mocap_gru": (ssl_fusion.SslFusion(num_classes=3, modalities="m", mocap_head="gru",
                                                    mocap_gru_units=(5, 4, 3)), mocap, label),
  }


FAMILIES = ["williams_ef_blstm", "multifocus_unimodal_attention", "multifocus_unimodal_last", "multifocus_mmb",
            "multifocus_mmmla", "resnet1d", "lf_rnn", "lf_transformer", "text_classifier_bert",
            "text_classifier_albert", "mme2e_tva", "mme2e_albert", "mesm", "ssl_fusion_tsm",
            "ssl_fusion_speech_stable_ln", "ssl_fusion_mocap_cnn_lstm", "ssl_fusion_mocap_gru"]


def _matmuls(jaxpr: jex.Jaxpr) -> list[tuple[str, tuple, tuple]]:
  """(primitive, operand dtypes, operand shapes) of every matmul and convolution outside loop bodies."""
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name in MATMULS:
      found.append((eqn.primitive.name, tuple(jnp.dtype(v.aval.dtype) for v in eqn.invars),
                    tuple(v.aval.shape for v in eqn.invars)))
    if eqn.primitive.name not in LOOPS:
      for sub in jex.jaxprs_in_params(eqn.params):
        found += _matmuls(sub)
  return found


def _abstract_variables(model, inputs):
  return jax.eval_shape(lambda: model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, inputs,
                                           train=False))


@pytest.mark.parametrize("family", FAMILIES)
def test_bfloat16_model_computes_in_bfloat16_with_float32_parameters(folders, family):
  model32, inputs, _ = _families(folders)[family]
  model16 = model32.clone(dtype=jnp.bfloat16)
  v32, v16 = _abstract_variables(model32, inputs), _abstract_variables(model16, inputs)
  # Same parameters (names, shapes, count) in float32, BatchNorm statistics included.
  assert jax.tree_util.tree_structure(v16) == jax.tree_util.tree_structure(v32)
  assert [(x.shape, x.dtype) for x in jax.tree_util.tree_leaves(v16)] == \
      [(x.shape, x.dtype) for x in jax.tree_util.tree_leaves(v32)]
  assert {jnp.dtype(x.dtype) for x in jax.tree_util.tree_leaves(v16)} == {F32}
  assert param_count(v16, ("params", "batch_stats")) == param_count(v32, ("params", "batch_stats")) > 0
  for train in (False, True):
    apply = lambda v, x: model16.apply(v, x, train=train, mutable=["batch_stats"] if train else False,
                                       rngs={"dropout": jax.random.key(2)})
    closed = jax.make_jaxpr(apply)(v16, inputs)
    ops = _matmuls(closed.jaxpr)
    assert ops, family
    not_bf16 = [op for op in ops if set(op[1]) != {BF16}]
    assert not not_bf16, f"{family} (train={train}): matmuls outside bfloat16: {not_bf16[:4]}"
    outputs = jax.eval_shape(apply, v16, inputs)
    logits = outputs[0] if train else outputs
    assert logits.dtype == BF16 and logits.shape[0] == 2
  # The float32 model has no bfloat16 anywhere (the default is unchanged).
  ops32 = _matmuls(jax.make_jaxpr(lambda v, x: model32.apply(v, x, train=False))(v32, inputs).jaxpr)
  assert {d for op in ops32 for d in op[1]} == {F32}


@pytest.mark.parametrize("family", ["williams_ef_blstm", "multifocus_mmmla", "resnet1d", "lf_transformer",
                                    "text_classifier_bert", "mme2e_tva", "mesm", "ssl_fusion_tsm",
                                    "ssl_fusion_mocap_cnn_lstm", "ssl_fusion_mocap_gru"])
def test_bfloat16_train_step_keeps_loss_gradients_and_optimiser_state_in_float32(folders, family):
  """The real train step (step.make_train_step) traced abstractly on a bfloat16 model."""
  model, inputs, label = _families(folders)[family]
  model = model.clone(dtype=jnp.bfloat16)
  loss_name = "softmax_ce" if label.ndim == 1 else "sigmoid_bce"
  loss_fn = losses.make_loss(ml_collections.ConfigDict(dict(name=loss_name, double_softmax=False)))
  tx = optax.adam(1e-3)
  state = jax.eval_shape(lambda x: state_lib.create(model, tx, x, 0), inputs)
  train_step = step_lib.make_train_step(model, loss_fn, tx, step_lib.make_mesh(), return_outputs=True)
  batch = {**inputs, step_lib.LABEL_KEY: label}
  new_state, metrics = jax.eval_shape(train_step, state, batch)
  assert metrics["loss"].dtype == F32 and metrics["grad_norm"].dtype == F32
  assert metrics["outputs"].dtype == F32  # what the epoch actions and metrics read
  floating = [x for x in jax.tree_util.tree_leaves((new_state.params, new_state.opt_state, new_state.batch_stats))
              if jnp.issubdtype(x.dtype, jnp.floating)]
  assert floating and {jnp.dtype(x.dtype) for x in floating} == {F32}
  eval_step = step_lib.make_eval_step(model, loss_fn, step_lib.make_mesh())
  evaluated = jax.eval_shape(eval_step, new_state.variables(), batch)
  assert evaluated["loss"].dtype == F32 and evaluated["outputs"].dtype == F32


def test_every_registered_model_takes_the_compute_dtype():
  import mmer_jax.models  # noqa: F401  (registers every model)
  names = registry.MODELS.names()
  assert len(names) >= 11
  for name in names:
    assert "dtype" in registry.get_model(name).__dataclass_fields__, name


def _williams_config(compute_dtype="float32"):
  config = helpers.tiny_williams_config()
  config.compute_dtype = compute_dtype
  return config


def test_the_assembly_sets_the_dtype_and_rejects_unknown_values():
  assert experiment.build_model(_williams_config()).dtype == jnp.float32
  assert experiment.build_model(_williams_config("bfloat16")).dtype == jnp.bfloat16
  with pytest.raises(ConfigError, match=r"config.compute_dtype='float16' is not a compute dtype; use one of "
                                        r"float32, bfloat16\.") as error:
    experiment.check_names(_williams_config("float16"))
  assert "\n" not in str(error.value)
  config = _williams_config()
  config.model.dtype = "bfloat16"
  with pytest.raises(ConfigError, match="set config.compute_dtype"):
    experiment.build_model(config)


def _epoch_losses(workdir):
  rows = [json.loads(line) for line in (workdir / METRICS_FILE).read_text().splitlines()]
  return np.asarray([row["train/loss"] for row in rows]), np.asarray([row["valid/loss"] for row in rows])


def test_bfloat16_training_follows_the_float32_curve(tmp_path):
  """Williams EF-BLSTM (BatchNorm, stacked BiLSTM through the CPU kernel, dense head) trained 4 epochs
  of 6 steps through the real trainer in each dtype, same seed, no dropout.

  Tolerance: 2% relative on every epoch's mean train and validation loss and on the test loss.
  bfloat16 keeps 8 bits of mantissa (relative rounding 2^-9, 0.2% per value); activations, GEMM
  operands and the gradients through them are rounded at every layer, and Adam's normalised steps
  turn small gradient differences into parameter differences that add up over the 24 steps. Measured
  on this CPU: 0.15% (train) and 0.04% (validation) at most. 2% leaves room for other GEMM kernels
  (GPU bfloat16 units accumulate differently) while a curve that departs from float32's fails.
  """
  sources = helpers.williams_sources()
  results, curves = {}, {}
  for name in ("float32", "bfloat16"):
    config = _williams_config(name)
    config.num_epochs = 4
    results[name] = trainer.train_and_evaluate(config, tmp_path / name, sources=sources)
    curves[name] = _epoch_losses(tmp_path / name)
  train32, valid32 = curves["float32"]
  train16, valid16 = curves["bfloat16"]
  assert train32[-1] < train32[0]  # the curve being compared is one that learns
  np.testing.assert_allclose(train16, train32, rtol=0.02)
  np.testing.assert_allclose(valid16, valid32, rtol=0.02)
  assert results["bfloat16"]["test"]["loss"] == pytest.approx(results["float32"]["test"]["loss"], rel=0.02)
  assert not np.array_equal(train16, train32)  # it did run in bfloat16
