"""The text fine-tuning recipe: the encoder's learning rate follows the checkpoint's size, and the
text configs train for a fine-tune's few epochs (issue 26: tuned on MELD, not the frozen-feature
papers' tens of epochs)."""

from __future__ import annotations

import json

import pytest

from configs import common, mme2e_samsemo, text_classifier
from mmer_jax.train import experiment, optim


def _folder(tmp_path, name: str, hidden: int):
  folder = tmp_path / name
  folder.mkdir()
  config = dict(model_type="bert", hidden_size=hidden, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=4 * hidden, vocab_size=100, max_position_embeddings=64)
  (folder / "config.json").write_text(json.dumps(config))
  return str(folder)


@pytest.mark.parametrize("hidden, rate", [(384, 5e-5), (512, 5e-5), (768, 3e-5), (1024, 1.5e-5)])
def test_encoder_rate_follows_the_checkpoint_width(tmp_path, hidden, rate):
  assert optim.finetune_learning_rate(_folder(tmp_path, f"w{hidden}", hidden)) == pytest.approx(rate)


def test_default_factor_resolves_to_the_checkpoint_rate_and_reaches_the_lr_group(tmp_path):
  c = text_classifier.get_config("dataset=iemocap")
  c.text.checkpoint = _folder(tmp_path, "base", 768)
  assert c.text.encoder_lr_factor is None
  experiment.resolve_encoder_lr(c)
  assert c.text.encoder_lr_factor == pytest.approx(3e-5 / c.optimizer.learning_rate)
  assert dict(c.optimizer.param_group_lr) == {"^text_encoder/": pytest.approx(0.3)}
  # An explicit factor (here: frozen) is the user's choice and stays.
  frozen = text_classifier.get_config("dataset=iemocap,text=frozen")
  frozen.text.checkpoint = c.text.checkpoint
  experiment.resolve_encoder_lr(frozen)
  assert frozen.text.encoder_lr_factor == 0.0
  set_by_hand = text_classifier.get_config("dataset=iemocap")
  set_by_hand.text.checkpoint, set_by_hand.text.encoder_lr_factor = c.text.checkpoint, 0.7
  experiment.resolve_encoder_lr(set_by_hand)
  assert dict(set_by_hand.optimizer.param_group_lr) == {"^text_encoder/": 0.7}


def test_text_finetunes_are_short_with_early_stopping():
  for config in (text_classifier.get_config("dataset=iemocap"), text_classifier.get_config("dataset=samsemo"),
                 mme2e_samsemo.get_config("mods=t,text=finetune")):
    assert config.num_epochs == common.FINETUNE_EPOCHS <= 5
    assert config.evaluation.early_stopping_patience == common.FINETUNE_PATIENCE
    assert config.optimizer.schedule == "warmup_linear"
    assert config.optimizer.warmup_fraction == common.FINETUNE_WARMUP_FRACTION
    assert config.max_tokens_per_pass == common.FINETUNE_MAX_TOKENS  # text only: no BatchNorm
  assert text_classifier.get_config("dataset=iemocap,text=frozen").num_epochs == 10
  # Beside the CNNs (BatchNorm statistics per pass) batches run whole.
  assert mme2e_samsemo.get_config("mods=vt,text=finetune").max_tokens_per_pass is None
