"""Prediction from a trained run's workdir, and lazily computed features from raw media."""

import numpy as np
import pandas as pd
import pytest
import soundfile

from mmer_jax.features.media import MediaExample, MediaItem, MediaOptions
from mmer_jax.predict import Predictor, read_manifest
from mmer_jax.train import trainer
from tests.helpers import tiny_williams_config, williams_sources
from tests.test_features_text import tiny_bert  # noqa: F401  (a fixture: a random 2-layer BERT folder)


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


class _MaskEcho:
  """Stands in for a trained MME2E: its 'logits' are the share of valid face and mel-piece slots."""

  def __call__(self, variables, inputs):
    del variables
    return np.stack([inputs["vision_mask"].mean(1), inputs["audio_mask"].mean(1)], axis=1) * 8 - 4


def _predictor(tmp_path, preprocessor, class_names=("faces", "speech")):
  from ml_collections import ConfigDict
  predictor = Predictor.__new__(Predictor)
  predictor.workdir = tmp_path
  predictor.config = ConfigDict(dict(model_name="mme2e", task=dict(type="multi_label", class_names=list(class_names)),
                                     input=dict(buckets=None)))
  predictor.preprocessor = preprocessor
  predictor.buckets = {}
  predictor.variables, predictor._apply = None, _MaskEcho()
  predictor.thresholds = np.full(len(class_names), 0.5)
  return predictor


def test_each_row_uses_the_modalities_it_has_and_bad_rows_are_skipped(tmp_path):
  import cv2
  from mmer_jax.data.preprocess.mme2e import Mme2eOptions, Mme2ePreprocessor
  sr = 16000
  soundfile.write(tmp_path / "speech.wav", 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr), sr)
  (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
  frames = tmp_path / "frames"
  frames.mkdir()
  for i in range(3):  # plain grey frames: no face in any of them
    cv2.imwrite(str(frames / f"image_{i}.jpg"), np.full((96, 96, 3), 128, np.uint8))
  manifest = tmp_path / "m.csv"
  manifest.write_text("id,video,audio,text\nboth,frames,speech.wav,\naudio_only,,speech.wav,\n"
                      "text_only,,,hello\nbroken,,broken.wav,\n")
  preprocessor = Mme2ePreprocessor(Mme2eOptions(modalities="va", max_faces=4, max_pieces=4))
  table = _predictor(tmp_path, preprocessor).predict_media(read_manifest(manifest)).set_index("id")
  assert list(table.index) == ["both", "audio_only", "text_only", "broken"]  # one row per manifest row
  assert table.loc["both", "modalities"] == "audio+video" and table.loc["both", "faces_found"] == "0/3 frames"
  assert table.loc["audio_only", "modalities"] == "audio" and table.loc["audio_only", "faces_found"] == ""
  assert table.loc["audio_only", "prob_faces"] < 0.5 < table.loc["audio_only", "prob_speech"]  # no faces fed
  assert table.loc["text_only", "skipped"] == "Item 'text_only' has none of the inputs this model reads (audio, video)."
  assert table.loc["broken", "skipped"] and np.isnan(table.loc["broken", "prob_speech"])
  assert table.loc[["both", "audio_only"], "skipped"].tolist() == ["", ""]


class _TextAudioEcho:
  """Stands in for a trained text+audio MME2E: its 'logits' are the text vector's first value and the
  share of valid mel-piece slots."""

  def __call__(self, variables, inputs):
    del variables
    return np.stack([inputs["text"][:, 0], inputs["audio_mask"].mean(1) * 8 - 4], axis=1)


def test_text_is_a_modality_and_a_text_only_row_is_predicted_with_its_audio_masked(tmp_path, tiny_bert):
  from mmer_jax.data.preprocess.mme2e import Mme2eOptions, Mme2ePreprocessor
  sr = 16000
  soundfile.write(tmp_path / "speech.wav", 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr), sr)
  manifest = tmp_path / "m.csv"
  manifest.write_text("id,audio,text\nboth,speech.wav,i am happy\naudio_only,speech.wav,\ntext_only,,i am sad\n"
                      "both_again,speech.wav,i am sad\n")
  # As mme2e_samsemo.py builds it: frozen pooled text, sliced by speaker metadata a media row lacks.
  preprocessor = Mme2ePreprocessor(Mme2eOptions(modalities="ta", max_pieces=4, text_input="pooled",
                                                meta_keys=("id", "gender", "session")))
  predictor = _predictor(tmp_path, preprocessor, class_names=("text", "speech"))
  predictor._apply = _TextAudioEcho()
  table = predictor.predict_media(read_manifest(manifest), text_checkpoint=tiny_bert).set_index("id")
  assert table["skipped"].tolist() == ["", "", "", ""]
  assert table["modalities"].tolist() == ["text+audio", "audio", "text", "text+audio"]
  assert table.loc["text_only", "prob_speech"] < 0.5 < table.loc["both", "prob_speech"]  # no mel pieces fed
  # The text changed the output of rows that have audio too: it is read, and said to be.
  assert table.loc["both", "prob_text"] != table.loc["both_again", "prob_text"]
  assert table.loc["both_again", "prob_text"] == pytest.approx(table.loc["text_only", "prob_text"], abs=1e-6)

  without_encoder = predictor.predict_media(read_manifest(manifest)).set_index("id")
  assert without_encoder["skipped"].str.contains("--predict_text_checkpoint").all()  # the true reason, each row


def test_a_row_without_what_the_model_cannot_do_without_is_skipped_with_that_reason(tmp_path):
  from mmer_jax.data.preprocess.multifocus import MultiFocusInput
  (tmp_path / "m.csv").write_text("id,text\nt,i am sad\n")
  preprocessor = MultiFocusInput(label_scheme="iemocap_4class", modalities=("audio", "text"), max_audio_frames=8,
                                 max_text_tokens=4, normalize_audio=False, drop_noise_only=False)
  table = _predictor(tmp_path, preprocessor, class_names=("ang", "hap", "neu", "sad")).predict_media(
      read_manifest(tmp_path / "m.csv")).set_index("id")
  assert table.loc["t", "skipped"] == "Item 't' has no audio, but the model needs it."
  assert table.loc["t", "modalities"] == ""


def test_a_run_that_cannot_predict_from_media_says_so_in_one_line(tmp_path):
  from mmer_jax.data.preprocess.williams import WilliamsEarlyFusion
  from mmer_jax.errors import UserError
  (tmp_path / "m.csv").write_text("id,text\na,hello\n")
  predictor = _predictor(tmp_path, WilliamsEarlyFusion(steps=4, visual="facet", pad="end", num_outputs=7,
                                                       normalize="instance_z", order="text_visual_audio"))
  with pytest.raises(UserError, match=r"cannot predict from raw media\. Runs of these configs can: mme2e_samsemo\.py"):
    predictor.predict_media(read_manifest(tmp_path / "m.csv"))
