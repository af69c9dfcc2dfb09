"""Seed 002 Multi-Focus BLSTM: parameter parity, pooling/masking semantics, MM-B head init, learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import multifocus_mmmla, multifocus_unimodal
from mmer_jax.train import init_from
from mmer_jax.data.preprocess import options as preprocess_options
from mmer_jax.models import multifocus_blstm as mf
from mmer_jax.models import param_count
from mmer_jax.train import trainer
from mmer_jax.train.init_from import apply_init_from

# sum(p.numel() for p in model.parameters()) of the seed's PyTorch classes (torch 2.13, input dims
# 65 / 768, hidden 128, 2 layers, attention 64, GMU 128, 4 classes). The same figures follow from
# the layer formulas: BLSTM(65) 594,944, BLSTM(768) 1,314,816, attention 16,512, GMU 131,456.
TORCH_COUNTS = {
    ("audio", "attention"): 612_484, ("text", "mean"): 1_315_844, ("audio", "last"): 595_972,
    "mmb": 1_911_812, "mmmla": 2_074_756,
}
CODES = ["ang", "hap", "exc", "neu", "sad"]
CLASS_OF = {"ang": 0, "hap": 1, "exc": 1, "neu": 2, "sad": 3}


def _inputs(batch=2, t_audio=12, t_text=6, d_text=768, seed=0):
  rng = np.random.default_rng(seed)
  audio_len = rng.integers(3, t_audio + 1, batch)
  text_len = rng.integers(2, t_text + 1, batch)
  return {"audio": jnp.asarray(rng.normal(size=(batch, t_audio, 65)), jnp.float32),
          "audio_mask": jnp.arange(t_audio)[None] < audio_len[:, None],
          "text": jnp.asarray(rng.normal(size=(batch, t_text, d_text)), jnp.float32),
          "text_mask": jnp.arange(t_text)[None] < text_len[:, None]}


def _count(model, inputs):
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), inputs, train=False))
  return param_count(variables)


@pytest.mark.parametrize("key,model,num_lstms", [
    (("audio", "attention"), mf.MultiFocusUnimodal("audio", "attention"), 1),
    (("text", "mean"), mf.MultiFocusUnimodal("text", "mean"), 1),
    (("audio", "last"), mf.MultiFocusUnimodal("audio", "last"), 1),
    ("mmb", mf.MultiFocusMMB(), 2),
    ("mmmla", mf.MultiFocusMMMLA(), 2),
])
def test_parameter_count_matches_pytorch(key, model, num_lstms):
  jax_count = _count(model, _inputs())
  # The Keras-style LSTM keeps one bias per gate; PyTorch keeps b_ih and b_hh.
  assert jax_count + num_lstms * mf.torch_lstm_extra_biases(128, 2) == TORCH_COUNTS[key]


def _init(model, inputs, seed=0):
  # One jitted init/apply compiles the whole graph once instead of every scan op by op.
  return jax.jit(lambda x: model.init(jax.random.key(seed), x, train=False))(inputs)


def _apply(model, variables, inputs, **kwargs):
  return jax.jit(lambda v, x: model.apply(v, x, train=False, **kwargs))(variables, inputs)


def _small(pooling, masked=True, modality="audio"):
  model = mf.MultiFocusUnimodal(modality, pooling, units=4, attention_dim=3, masked_pooling=masked)
  inputs = _inputs(batch=3, t_audio=10)
  return model, _init(model, inputs, 1), inputs


@pytest.mark.parametrize("pooling", ["last", "mean", "attention"])
def test_masked_pooling_ignores_padding_content_and_length(pooling):
  model, variables, inputs = _small(pooling)
  logits = _apply(model, variables, inputs)
  longer = dict(inputs)  # 7 more padded steps filled with garbage
  longer["audio"] = jnp.concatenate([inputs["audio"], 100 * jnp.ones((3, 7, 65))], axis=1)
  longer["audio_mask"] = jnp.concatenate([inputs["audio_mask"], jnp.zeros((3, 7), bool)], axis=1)
  np.testing.assert_allclose(_apply(model, variables, longer), logits, rtol=1e-5, atol=1e-6)


def test_faithful_mean_averages_over_the_batch_longest_length():
  model, variables, inputs = _small("mean", masked=False)
  pooled_masked, pooled_faithful = [], []
  for masked, sink in ((True, pooled_masked), (False, pooled_faithful)):
    encoder = mf.PooledBLSTM("mean", units=4, masked_pooling=masked)
    sink.append(jax.jit(encoder.apply)({"params": variables["params"]["encoder"]}, inputs["audio"],
                                       inputs["audio_mask"]))
  lengths = np.asarray(inputs["audio_mask"]).sum(1)
  # The seed's torch.mean over a batch padded to its longest sequence, whose padded outputs are 0.
  expected = np.asarray(pooled_masked[0]) * lengths[:, None] / lengths.max()
  np.testing.assert_allclose(pooled_faithful[0], expected, rtol=1e-5, atol=1e-6)
  # ... and so it no longer ignores padding: static padding beyond the batch maximum is still ignored,
  # but a longer neighbour in the batch changes everyone's pooled vector.
  assert not np.allclose(pooled_faithful[0], pooled_masked[0])


def test_last_and_cls_pooling_pick_the_right_steps():
  x = jnp.arange(2 * 5 * 3, dtype=jnp.float32).reshape(2, 5, 3)
  mask = jnp.asarray([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
  np.testing.assert_array_equal(mf.last_valid(x, mask), x[jnp.arange(2), jnp.asarray([2, 4])])
  np.testing.assert_allclose(mf.masked_mean(x, mask)[0], x[0, :3].mean(0))


def test_mmmla_sows_both_attention_maps_and_the_gate():
  model = mf.MultiFocusMMMLA(units=4, attention_dim=3, gmu_features=5)
  inputs = _inputs(batch=3, d_text=16)
  variables = _init(model, inputs)
  logits, state = _apply(model, variables, inputs, mutable=["intermediates"])
  inter = state["intermediates"]
  acoustic, lexical, gate = inter["acoustic"]["acoustic_attention"][0], inter["lexical"]["lexical_attention"][0], inter["gate"][0]
  assert logits.shape == (3, 4) and gate.shape == (3, 5)
  for weights, mask in ((acoustic, inputs["audio_mask"]), (lexical, inputs["text_mask"])):
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-5)
    assert float(jnp.abs(jnp.where(mask, 0.0, weights)).max()) == 0.0
  assert bool(((gate > 0) & (gate < 1)).all())
  v = variables["params"]["acoustic"]["attention"]["v"]
  assert bool(((v >= 0) & (v < 1)).all())  # torch.rand init


def test_mmb_head_from_unimodal_heads_starts_as_the_sum_of_unimodal_logits():
  inputs = _inputs(batch=3, d_text=16)
  uni = {m: mf.MultiFocusUnimodal(m, "mean", units=4) for m in ("audio", "text")}
  params = {m: _init(uni[m], inputs, i)["params"] for i, m in enumerate(uni)}
  mmb = mf.MultiFocusMMB(units=4)
  fused = {"acoustic": params["audio"]["encoder"], "lexical": params["text"]["encoder"],
           "head": mf.mmb_head_from_unimodal(params["audio"]["head"], params["text"]["head"])}
  expected = sum(_apply(uni[m], {"params": params[m]}, inputs) for m in uni)
  np.testing.assert_allclose(_apply(mmb, {"params": fused}, inputs), expected, rtol=1e-5, atol=1e-6)


def iemocap_seed002_examples(n, seed, t_max=24, l_max=10, d_text=16):
  """In-memory examples with the iemocap/seed002 feature names; the class shifts LLDs and tokens."""
  rng = np.random.default_rng(seed)
  centres = np.random.default_rng(7).normal(0, 1, (4, 65 + d_text)).astype(np.float32)
  out = []
  for i in range(n):
    code = CODES[i % len(CODES)] if i % 11 else "fru"  # every 11th is outside the 4-class scheme
    centre = centres[CLASS_OF.get(code, 0)]
    t, length = int(rng.integers(6, t_max + 1)), int(rng.integers(3, l_max + 1))
    tokens = np.zeros((l_max, d_text), np.float32)
    tokens[:length] = centre[65:] + rng.normal(0, 1.0, (length, d_text))
    words = ["<s>", "++GARBAGE++", "</s>"] if i == 5 else ["<s>", "word", "</s>"]
    out.append({"id": f"Ses0{1 + i % 5}_{seed}_{i:03d}".encode(), "session": np.int32(1 + i % 5),
                "gender": b"F" if i % 2 else b"M", "label": code, "words": [w.encode() for w in words],
                "compare_lld": (3.0 + 2.0 * centre[:65] + 2.0 * rng.normal(0, 1.0, (t, 65))).astype(np.float32),
                "text_tokens": tokens, "text_tokens_mask": np.arange(l_max) < length})
  return out


def test_preprocessor_fits_znorm_on_train_and_drops_out_of_task_examples():
  train = iemocap_seed002_examples(40, 0)
  pre = preprocess_options.build(multifocus_unimodal.get_config("modality=audio"))
  kept = [ex for ex in train if pre.keep(ex)]
  # 4 out-of-scheme 'fru' (i = 0, 11, 22, 33) and the noise-only transcript (i = 5) are dropped.
  assert len(kept) == 35
  pre.fit(kept)
  frames = np.concatenate([(np.asarray(ex["compare_lld"]) - pre.mean) / pre.std for ex in kept])
  np.testing.assert_allclose(frames.mean(0), 0.0, atol=1e-4)
  np.testing.assert_allclose(frames.std(0), 1.0, atol=1e-4)
  out = pre(kept[0])
  assert out["audio"].shape == (1000, 65) and out["audio_mask"].sum() == len(kept[0]["compare_lld"])
  assert "text" not in out and out["label"].dtype == np.int32 and out["meta/session"] == kept[0]["session"]


def _tiny(config, epochs):
  config.num_epochs = epochs
  config.input.tfds_name = ""
  config.input.cache = False
  config.input.preprocess.max_audio_frames = 24
  config.input.preprocess.max_text_tokens = 10
  config.input.batch_size = 16
  config.input.eval_batch_size = 64
  config.evaluation.slice_by = []
  config.optimizer.learning_rate = 1e-2  # tiny model, few steps
  return config


def _sources():
  return {"train": iemocap_seed002_examples(160, 0), "valid": iemocap_seed002_examples(60, 1),
          "test": iemocap_seed002_examples(60, 2)}


def test_mmmla_learns_and_unimodal_checkpoint_initialises_it(tmp_path):
  sources = _sources()
  uni = _tiny(multifocus_unimodal.get_config("smoke,modality=audio,pooling=attention"), epochs=1)
  trainer.train_and_evaluate(uni, tmp_path / "audio", sources=sources)

  config = _tiny(multifocus_mmmla.get_config(f"smoke,acoustic={tmp_path / 'audio'}"), epochs=4)
  result = trainer.train_and_evaluate(config, tmp_path / "mmmla", sources=sources)
  # 4 balanced-ish classes: chance accuracy is about 0.25-0.3.
  assert result["test"]["accuracy"] >= 0.6 and result["test"]["balanced_accuracy"] >= 0.6

  # init_from put the unimodal run's encoder (BLSTM + attention) under `acoustic`.
  model = trainer.build_model(config)
  inputs = {k: v[:2] for k, v in _inputs(d_text=16).items()}
  fresh = jax.eval_shape(lambda: model.init(jax.random.key(0), inputs, train=False))["params"]
  fresh = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), fresh)
  loaded = apply_init_from(fresh, config.init_from)
  source = init_from.best_params(tmp_path / "audio")["encoder"]
  for a, b in zip(jax.tree_util.tree_leaves(loaded["acoustic"]), jax.tree_util.tree_leaves(source)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
