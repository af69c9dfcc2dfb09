"""SAMSEMO's evaluation end to end on in-memory examples through `train_and_evaluate`: per-trait
slice tables in the report, and the faithful protocol's train thresholds on test."""

import json

import pandas as pd
import pytest

from configs import mme2e_samsemo
from mmer_jax.train import trainer
from tests.test_model_mme2e import samsemo_examples
from tfds_builders.samsemo import layout

SIZES = {"train": 32, "valid": 12, "test": 14}  # valid/test are not multiples of the eval batch (16)
TRAIT_VALUES = {"sex": ("female", "male", "other"), "age": ("adult", "young", "elderly"), "race": ("white", "asian"),
                "covered_face": ("no", "yes"), "multiple_faces": ("no", "yes"), "movie_type": ("vlog", "speech")}


def _with_traits(examples):
  """Traits as the builder's data source yields them (bytes); every fifth scene has no tsv row, so
  its traits are empty."""
  for i, ex in enumerate(examples):
    ex["language"] = (b"EN", b"PL")[i % 2]
    for trait, values in TRAIT_VALUES.items():
      ex[trait] = b"" if i % 5 == 4 else values[i % len(values)].encode()
  return examples


def _slice_label(value: bytes) -> str:
  return value.decode() or "<missing>"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("samsemo_eval")
  config = mme2e_samsemo.get_config("smoke,mods=t,slices=traits,protocol=faithful")  # text: compiles in no time
  config.num_epochs = 2
  config.input.tfds_name = ""
  config.input.batch_size = 8
  config.evaluation.early_stopping_patience = None
  small = dict(face=16, mel_shape=(32, 16))  # unused by the text branch; small to build fast
  sources = {split: _with_traits(samsemo_examples(n, seed, **small)) for seed, (split, n) in enumerate(SIZES.items())}
  results = trainer.train_and_evaluate(config, workdir, sources=sources)
  return workdir, sources, results


def test_traits_config_slices_by_language_and_every_stored_trait():
  assert mme2e_samsemo.TRAITS == list(layout.TSV_TRAITS) == list(TRAIT_VALUES)
  config = mme2e_samsemo.get_config("slices=traits")
  assert config.evaluation.slice_by == [f"meta/{k}" for k in ("language", *layout.TSV_TRAITS)]
  assert set(config.input.preprocess.meta_keys) >= {"id", "language", *layout.TSV_TRAITS}
  assert mme2e_samsemo.get_config().evaluation.slice_by == ["meta/language"]
  with pytest.raises(ValueError, match="slices='speaker'"):
    mme2e_samsemo.get_config("slices=speaker")


def test_report_has_per_trait_slice_tables_that_add_up_to_the_split(run):
  workdir, sources, results = run
  report = workdir / "report"
  for split in ("valid", "test"):
    table = pd.read_csv(report / f"{split}_slices.csv", keep_default_na=False)
    n = SIZES[split]
    assert results[split]["num_examples"] == n
    assert table.loc[table["slice"] == "all", "support"].tolist() == [n]
    for key in ("language", *TRAIT_VALUES):
      rows = table[table["slice"] == key]
      assert rows["support"].sum() == n, (split, key)
      counts = pd.Series([_slice_label(ex[key]) for ex in sources[split]]).value_counts()
      assert dict(zip(rows["value"], rows["support"])) == counts.to_dict()
  markdown = (report / "report.md").read_text()
  assert markdown.count("### Slices") == 2 and "| covered_face | <missing> |" in markdown


def test_protocol_arg_sets_the_threshold_protocol():
  assert set(mme2e_samsemo.get_config().evals) == {"validate", "select_best", "early_stop"}  # base_config's
  assert mme2e_samsemo.get_config("protocol=faithful").evals.train_thresholds.type == "samsemo_train_thresholds"
  with pytest.raises(ValueError, match="protocol='samsemo'; use one of clean, faithful"):
    mme2e_samsemo.get_config("protocol=samsemo")


def test_faithful_protocol_scores_test_with_the_last_epochs_train_thresholds(run):
  workdir, _, _ = run
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert len(rows) == 2 and all(len(row["train/thresholds"]) == 5 for row in rows)
  test = json.loads((workdir / "report" / "test_metrics.json").read_text())
  assert list(test["thresholds"].values()) == pytest.approx(rows[-1]["train/thresholds"])
