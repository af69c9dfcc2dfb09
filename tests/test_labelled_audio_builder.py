"""labelled_audio builder: wavs + CSV -> IEMOCAP-coded examples, skips counted, training-split-only mixing."""

import json

import numpy as np
import pytest

from configs import resnet1d_iemocap
from mmer_jax.data import label_schemes
from mmer_jax.data import pipeline as pipeline_lib
from mmer_jax.features import audio_stats as stats_lib
from tfds_builders import build
from tfds_builders.labelled_audio import labelled_audio_dataset_builder as builder_lib
from tfds_builders.labelled_audio.dummy_data import generate
from tests.test_model_resnet1d import iemocap_seed003_examples


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  root = tmp_path_factory.mktemp("labelled_audio")
  manifest = generate.generate(root / "release")
  builder = build.build("labelled_audio/default", str(root / "data"), str(root / "release"))
  return root, manifest, builder


def test_label_names_map_to_iemocap_codes():
  assert builder_lib.iemocap_code("Happy") == "hap" and builder_lib.iemocap_code("anger") == "ang"
  assert builder_lib.iemocap_code("neu") == "neu" and builder_lib.iemocap_code("bored") is None


def test_builds_every_good_clip_and_reports_each_skipped_row(built):
  _, manifest, builder = built
  source = builder.as_data_source(split="train")
  assert len(source) == len(manifest["kept"]) == 12
  by_id = {ex["id"].decode(): ex for ex in (source[i] for i in range(len(source)))}
  assert set(by_id) == set(manifest["kept"])
  for name, emotion in manifest["kept"].items():
    ex = by_id[name]
    code = label_schemes.IEMOCAP_CODES[int(ex["label"])]
    assert code == builder_lib.iemocap_code(emotion) and ex["raw_label"].decode() == emotion
    assert ex["audio_stats"].shape == (stats_lib.NUM_STATS,) and np.isfinite(ex["audio_stats"]).all()
    assert 0.3 < float(ex["duration"]) < 1.0 and ex["text"].decode().startswith(emotion)
  report = json.loads((builder.data_path / "build_report.json").read_text())
  reasons = {s["id"]: s["reason"].split(":")[0] for s in report["skipped"]}
  assert reasons == manifest["skipped"]
  # The statistics carry the label: louder classes have a larger mean |y| (the first statistic).
  mean_abs = {e: np.mean([by_id[n]["audio_stats"][0] for n, em in manifest["kept"].items() if em == e])
              for e in generate.EMOTIONS}
  assert mean_abs["anger"] > mean_abs["happy"] > mean_abs["sad"]


def test_extra_sources_enter_the_training_split_only(built):
  root, manifest, builder = built
  config = resnet1d_iemocap.get_config("smoke")
  config.input.tfds_name = ""
  config.input.preprocess.tfidf = {"min_df": 1}
  config.input.extra_train_sources = [dict(tfds_name="labelled_audio/default", split="train",
                                           data_dir=str(root / "data"))]
  iemocap = {"train": iemocap_seed003_examples(26, 0), "valid": iemocap_seed003_examples(13, 1),
             "test": iemocap_seed003_examples(13, 2)}
  pipe = pipeline_lib.InputPipeline(config, iemocap)
  kept_iemocap = {split: sum(pipe.preprocessor.keep(ex) for ex in examples) for split, examples in iemocap.items()}
  # hap / sad / ang / fea all belong to the seed 003 scheme, so every clip joins train.
  assert pipe.num_examples("train") == kept_iemocap["train"] + len(manifest["kept"])
  assert pipe.num_examples("valid") == kept_iemocap["valid"] and pipe.num_examples("test") == kept_iemocap["test"]
  pipe.fit_preprocessor()  # the scaler and TF-IDF see the generated clips (they are training data)
  assert "words" in pipe.preprocessor.vectorizer.vocabulary_  # a word only the clips' transcripts use
  batch = next(pipe.train_epoch(0))
  assert set(batch["meta/session"].tolist()) <= {-1, 1, 2, 3, 4, 5}
