"""The manifest builder on generated manifests: roles, label kinds, splits, faults, Beam, MELD."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmer_jax.errors import ConfigError, DataError, UserError
from tfds_builders import build as build_cli
from tfds_builders.common import beam_build_test
from tfds_builders.manifest import splitting
from mmer_jax.data import manifest_table as table_lib
from tfds_builders.manifest.dummy_data import generate

MELD = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "meld"
# Cheap media for the builds that are not about media.
LIGHT = {"faces": False, "max_mel_pieces": 4}


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
  return generate.generate(tmp_path_factory.mktemp("manifest_release"))


def _build(layout: dict, data_dir, **options):
  return build_cli.build("manifest", str(data_dir), layout["dir"], {**layout["options"], **options})


def _examples(builder) -> dict[str, dict[str, dict]]:
  source = builder.as_data_source()
  return {split: {ex["id"].decode(): ex for ex in (source[split][i] for i in range(len(source[split])))}
          for split in source}


def _report(builder) -> dict:
  return json.loads((Path(builder.data_dir) / "build_report.json").read_text())


@pytest.fixture(scope="module")
def csv_build(fixture, tmp_path_factory):
  builder = _build(fixture["csv"], tmp_path_factory.mktemp("data"), max_faces=4, max_mel_pieces=8, waveform=True)
  return builder, _examples(builder), _report(builder)


def test_rows_land_in_their_splits_and_every_fault_is_reported_with_its_reason(fixture, csv_build):
  builder, examples, report = csv_build
  expected = fixture["csv"]
  assert {split: sorted(ids) for split, ids in examples.items()} == {
      split: sorted(ids) for split, ids in expected["kept"].items()}
  skipped = {s["id"]: s["reason"].split(":")[0] for s in report["skipped"]}
  partial = {s["id"]: s["reason"].split(":")[0] for s in report["partial"] if not s["reason"].startswith("face_")}
  assert skipped == expected["skipped"] and partial == expected["partial"]
  for reason in ("missing_file", "unreadable_media", "empty_media", "unknown_label", "duplicate_id",
                 "segment_outside_file", "group_in_two_splits"):
    assert reason in report["skipped_by_reason"] or reason in report["partial_by_reason"], reason
  assert report["counts"]["manifest/manifest.csv"]["encoding=cp1252"] == 1
  assert report["counts"]["examples"] == {s: len(ids) for s, ids in expected["kept"].items()}


def test_labels_of_every_kind_and_their_scheme_in_the_metadata(csv_build):
  builder, examples, _ = csv_build
  meta = builder.info.metadata
  assert meta["labels"]["emotion"] == {"column": "emotion", "kind": "single",
                                       "classes": ["angry", "happy", "neutral", "sad"]}  # sorted, from train
  assert meta["labels"]["tags"]["kind"] == "multi" and meta["labels"]["tags"]["classes"] == [
      "excited", "negative", "positive"]
  assert meta["labels"]["arousal"] == {"column": "arousal", "kind": "regression", "classes": ["arousal"]}
  assert builder.info.features["label_emotion"].names == meta["labels"]["emotion"]["classes"]
  for split in examples.values():
    for ex in split.values():
      emotion = meta["labels"]["emotion"]["classes"][int(ex["label_emotion"])]
      tags = [t for t in generate.TAGS[emotion].split(";") if t]
      assert [c for c, on in zip(meta["labels"]["tags"]["classes"], ex["label_tags"]) if on] == sorted(tags)
      assert float(ex["label_arousal"]) == pytest.approx(generate.AROUSAL[emotion])
  assert meta["default_label"] == "emotion" and meta["splits_from"] == "column" and meta["scope"] == "global"


def test_text_audio_and_video_rows_get_their_features(csv_build):
  builder, examples, _ = csv_build
  rows = {**examples["train"], **examples["validation"], **examples["test"]}
  kinds = {"text": 0, "audio": 0, "audio+text": 0, "audio+video+text": 0, "frames+text": 0}
  for clip, ex in rows.items():
    has = {m: bool(ex[f"{m}_present"]) for m in ("text", "audio", "video")}
    assert has["text"] == bool(ex["text"].decode())
    assert (ex["num_mel_pieces"] > 0) == has["audio"] == (ex["waveform"].size > 0)
    assert (ex["faces"].shape[0] > 0) == has["video"] == (ex["num_faces"] > 0)
    if clip.startswith("c") and has["audio"] and has["video"]:
      kinds["audio+video+text"] += 1
      assert ex["start"] == pytest.approx(0.2) and ex["end"] == pytest.approx(1.1)
      assert ex["waveform"].size == int(16000 * 1.1) - int(16000 * 0.2)   # the segment, not the file
    elif clip.startswith("c"):
      key = "+".join(m for m in ("audio", "text") if has[m]) or "text"
      kinds["frames+text" if has["video"] else key] += 1
  assert all(kinds.values()), kinds
  assert rows["c001"]["text"].decode().startswith("I’m ")  # Windows-1252 0x92 read as a curly quote
  assert rows["c001"]["recorded_in"].decode() in ("lab", "home")  # other columns kept as metadata
  assert builder.info.metadata["meta_columns"] == {"recorded_in": "recorded_in"}
  assert builder.info.metadata["inputs"] == ["text", "mel_pieces", "num_mel_pieces", "waveform", "faces",
                                             "num_faces", "face_found"]


def test_split_files_keep_dialog_ids_per_split_and_the_order_column(fixture, tmp_path):
  builder = _build(fixture["jsonl"], tmp_path, **LIGHT)
  examples, report = _examples(builder), _report(builder)
  assert {s: sorted(ex) for s, ex in examples.items()} == {s: sorted(ids) for s, ids in fixture["jsonl"]["kept"].items()}
  assert report["num_skipped"] == 0  # dialogue 0 in train and in test is no leak: ids restart per file
  ex = examples["test"]["test_0_3"]
  assert (ex["dialog"].decode(), int(ex["order"]), ex["speaker"].decode()) == ("0", 3, "p1")
  assert builder.info.metadata["splits_from"] == "files" and builder.info.metadata["scope"] == "split"
  assert ex["label_tags"].dtype == np.float32 and ex["label_tags"].shape == (3,)


def test_grouped_split_is_seeded_and_no_group_crosses_splits(fixture, tmp_path):
  layout = fixture["nosplit"]

  builds = []

  def groups(seed, by="dialog"):
    builds.append(seed)  # a data_dir per build: a second build of one name must not reuse the first
    builder = build_cli.build("manifest", str(tmp_path / str(len(builds))), layout["dir"],
                              {**layout["options"], "split_seed": seed, "split_by": by}, name=f"{by}{seed}")
    examples = _examples(builder)
    key = "dialog" if by == "dialog" else "speaker"
    return {s: {ex[key].decode() for ex in rows.values()} for s, rows in examples.items()}, examples

  first, examples = groups(3)
  again, _ = groups(3)
  other, _ = groups(4)
  assert first == again and first != other
  assert sum(len(rows) for rows in examples.values()) == layout["rows"]
  assert {s: len(rows) for s, rows in examples.items()} == {"train": 18, "validation": 9, "test": 9}
  for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
    assert not first[a] & first[b]
  by_speaker, _ = groups(3, "speaker")
  assert not by_speaker["train"] & (by_speaker["validation"] | by_speaker["test"])


def test_assign_fills_ratios_with_whole_groups():
  groups = [f"g{i // 4}" for i in range(100)]  # 25 groups of 4
  splits = splitting.assign(groups, (0.8, 0.1, 0.1), 0, table_lib.SPLITS)
  assert [splits.count(s) for s in table_lib.SPLITS] == [80, 12, 8]
  assert all(len({s for g, s in zip(groups, splits) if g == group}) == 1 for group in set(groups))
  with pytest.raises(ConfigError, match="leaves validation, test empty"):
    splitting.assign(["a", "a"], (0.5, 0.25, 0.25), 0, table_lib.SPLITS)


def test_a_leaked_group_can_be_kept_and_reported(fixture, tmp_path):
  builder = _build(fixture["csv"], tmp_path, group_leak="keep", **LIGHT)
  report = _report(builder)
  assert "f_leak_c" in _examples(builder)["test"]
  assert [p["id"] for p in report["partial"] if p["reason"].startswith("group_in_two_splits")] == ["f_leak_c"]


def test_class_order_given_by_the_user_and_drop_partial(fixture, tmp_path):
  builder = _build(fixture["csv"], tmp_path, classes="emotion:sad,happy,angry,neutral,bored", drop_partial=True,
                   **LIGHT)
  assert builder.info.metadata["labels"]["emotion"]["classes"] == ["sad", "happy", "angry", "neutral", "bored"]
  skipped = {s["id"]: s["reason"].split(":")[0] for s in _report(builder)["skipped"]}
  assert "f_unknown" not in skipped  # bored is a class now
  assert skipped["f_broken"] == "unreadable_media" and skipped["f_outside"] == "segment_outside_file"


@pytest.mark.parametrize("options,match", [
    ({"text": "utterence"}, "no column 'utterence'. Did you mean 'utterance'"),
    ({"label": "emotoin"}, "no column 'emotoin'"),
    ({"label_kind": "ordinal"}, "label_kind='ordinal'"),
    ({"split_ratios": (0.5, 0.5)}, "split_ratios=(0.5, 0.5)"),   # checked even where a split column decides
    ({"id": "{clip}_{nothing}"}, "no column 'clip'"),
    ({"classes": "a,b"}, "one class list"),
    ({"texts": "utterance"}, "Unknown option 'texts'"),
])
def test_a_wrong_column_or_option_is_one_line(fixture, tmp_path, options, match):
  with pytest.raises(UserError) as error:
    _build(fixture["csv"], tmp_path, **options)
  message = str(error.value)
  assert "\n" not in message and (match is None or match in message), message
  assert not (tmp_path / "manifest").exists() or not any((tmp_path / "manifest").rglob("*.array_record*"))


def test_manifest_files_are_found_and_decoded(tmp_path):
  for name, data in (("utf8.csv", "text\nI’m\n".encode("utf-8")), ("cp.csv", "text\nI’m\n".encode("cp1252")),
                     ("u16.csv", "text\nI’m\n".encode("utf-16"))):
    (tmp_path / name).write_bytes(data)
    table = table_lib.read_table(tmp_path / name)
    assert table.rows[0].values["text"] == "I’m", name
  assert [table_lib.read_table(tmp_path / n).encoding for n in ("utf8.csv", "cp.csv", "u16.csv")] == [
      "utf-8", "cp1252", "utf-16"]
  with pytest.raises(ConfigError, match="Cannot tell which file"):
    table_lib.manifest_files(tmp_path, "")
  with pytest.raises(DataError, match="does not exist"):
    table_lib.manifest_files(tmp_path, "nope.csv")
  assert table_lib.manifest_files(tmp_path, "train=utf8.csv,dev=cp.csv") == {
      "train": tmp_path / "utf8.csv", "validation": tmp_path / "cp.csv"}


def test_two_beam_workers_build_the_same_bytes_and_report(fixture, tmp_path):
  layout = fixture["csv"]
  single, multi = beam_build_test._both(tmp_path, "manifest", layout["dir"],
                                        {**layout["options"], "max_faces": 2, "max_mel_pieces": 4})
  beam_build_test._assert_same(single, multi)
  assert single[1]["num_skipped"] > 0 and single[1]["num_partial"] > 0


@pytest.mark.skipif(not MELD.is_dir(), reason="MELD's CSVs are not in ../shared/data/meld")
def test_meld_builds_its_official_split_from_its_files_as_they_are(tmp_path):
  builder = build_cli.build("manifest", str(tmp_path), str(MELD), {
      "text": "Utterance", "label": "Emotion", "speaker": "Speaker", "dialog": "Dialogue_ID",
      "order": "Utterance_ID", "id": "dia{Dialogue_ID}_utt{Utterance_ID}"}, name="meld_text")
  assert {s: i.num_examples for s, i in builder.info.splits.items()} == {"train": 9989, "validation": 1109,
                                                                          "test": 2610}
  assert builder.info.features["label_emotion"].names == ["anger", "disgust", "fear", "joy", "neutral", "sadness",
                                                          "surprise"]
  report = _report(builder)
  assert report["num_skipped"] == 0 and report["counts"]["label_emotion/train"]["neutral"] == 4710
  test = builder.as_data_source("test")
  first = {test[i]["id"].decode(): test[i] for i in range(len(test))}["dia0_utt0"]
  assert (first["dialog"].decode(), int(first["order"])) == ("0", 0) and first["speaker"].decode()
  assert {"sentiment", "season", "episode", "starttime", "endtime", "sr_no"} <= set(builder.info.features)
