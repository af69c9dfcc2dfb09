"""Prediction from a trained run's workdir, and lazily computed features from raw media."""

import numpy as np
import pandas as pd
import pytest
import soundfile

from mmer_jax.features.media import MediaExample, MediaItem, MediaOptions
from mmer_jax.predict import Predictor, read_manifest
from mmer_jax.train import trainer
from tests.helpers import tiny_williams_config, williams_sources


def test_predictor_reproduces_the_runs_test_predictions(tmp_path):
  sources = williams_sources()
  trainer.train_and_evaluate(tiny_williams_config(num_epochs=1), tmp_path, sources=sources)
  predictor = Predictor(tmp_path)
  test = sources["test"]
  table = predictor.predict_examples(test, [ex["id"].decode() for ex in test], batch_size=8)
  report = pd.read_csv(tmp_path / "report" / "test_predictions.csv")
  merged = report.merge(table, on="id", suffixes=("_report", ""))
  assert len(merged) == len(test) == 20
  for name in ("happy", "fear"):
    np.testing.assert_allclose(merged[f"pred_{name}"], merged[f"pred_{name}_report"], atol=1e-5)


def test_media_example_computes_features_on_demand(tmp_path):
  sr = 16000
  t = np.arange(int(1.3 * sr)) / sr
  soundfile.write(tmp_path / "clip.wav", 0.3 * np.sin(2 * np.pi * 440 * t), sr)
  example = MediaExample(MediaItem(id="a", audio=str(tmp_path / "clip.wav"), text="hello"), MediaOptions(num_labels=5))
  pieces, count = example["mel_pieces"], int(example["num_mel_pieces"])
  # 1.3 s at hop 200 with centre padding -> 105 frames -> 4 pieces of 32 (last one zero-padded)
  assert pieces.shape == (4, 128, 32) and count == 4
  assert example["text"] == "hello" and example["labels"].shape == (5,)
  with pytest.raises(ValueError, match="has no video"):
    example["faces"]
  with pytest.raises(ValueError, match="text checkpoint"):
    example["text_cls"]
  with pytest.raises(KeyError, match="cannot be computed from raw media"):
    example["glove"]


def test_manifest_paths_are_resolved_and_checked(tmp_path):
  (tmp_path / "a.wav").write_bytes(b"")
  (tmp_path / "m.csv").write_text("id,audio,text\nx,a.wav,hi\n")
  items = read_manifest(tmp_path / "m.csv")
  assert items[0].audio == str(tmp_path / "a.wav") and items[0].text == "hi" and items[0].video is None
  (tmp_path / "bad.csv").write_text("id,audio\ny,missing.wav\n")
  with pytest.raises(FileNotFoundError, match="bad.csv:2: audio file"):
    read_manifest(tmp_path / "bad.csv")
