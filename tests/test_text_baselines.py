"""benchmarks/text_baselines.py on a built manifest: C chosen on validation, test scored with it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tfds_builders import build as build_cli
from tfds_builders.manifest.dummy_data import generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import text_baselines  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  layout = generate.generate(tmp_path_factory.mktemp("manifest"))["nosplit"]
  data_dir = tmp_path_factory.mktemp("data")
  build_cli.build("manifest", str(data_dir), layout["dir"], layout["options"], name="nosplit")
  return str(data_dir)


def test_tfidf_baseline_picks_c_on_validation_and_scores_test(built, capsys):
  results = text_baselines.main(["--tfds_name=manifest/nosplit", f"--data_dir={built}", "--no_frozen",
                                 "--cs=0.01,100"])
  out = capsys.readouterr().out
  assert set(results) == {"tfidf_lr"}
  r = results["tfidf_lr"]
  assert r["C"] in (0.01, 100.0) and set(r["test"]) == {"f1_weighted", "f1_macro", "accuracy"}
  assert all(0.0 <= v <= 1.0 for v in (*r["test"].values(), *r["validation"].values()))
  # The transcripts carry the emotion's words, so the TF-IDF model learns them (4 classes: chance 0.25).
  assert r["validation"]["accuracy"] > 0.5
  assert "label_emotion" in out and "tfidf_lr" in out.splitlines()[-1]


def test_the_label_field_must_exist(built):
  with pytest.raises(KeyError):
    text_baselines.main(["--tfds_name=manifest/nosplit", f"--data_dir={built}", "--no_frozen", "--label=label_x"])
