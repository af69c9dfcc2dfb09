"""Builds the three CMU-MOSEI configs from a generated miniature release and checks them.

One fixture (10 videos, 4 of them broken on purpose, see dummy_data/generate.py FAULTS) is written
and each config is built once per module; the tests read the ArrayRecord output back.
"""

import json
import math
import os
import sys
import types

import h5py
import numpy as np
import pytest

from tfds_builders import build as build_cli
from tfds_builders.cmu_mosei import csd, folds as folds_lib, sdk_reference, sequences
from tfds_builders.cmu_mosei.dummy_data import generate

MODS = ("glove", "covarep", "facet", "openface")
FILES = {"glove": "CMU_MOSEI_TimestampedWordVectors.csd", "covarep": "CMU_MOSEI_COVAREP.csd",
         "facet": "CMU_MOSEI_VisualFacet42.csd", "openface": "CMU_MOSEI_VisualOpenFace2.csd"}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("mosei_release"))
  return generate.generate(out, raw=True)


def _build(release, tmp_path_factory, config: str, **options):
  data_dir = str(tmp_path_factory.mktemp(f"data_{config}"))
  builder = build_cli.build(f"cmu_mosei/{config}", data_dir, release["dir"], options)
  with open(os.path.join(builder.data_dir, "build_report.json")) as f:
    report = json.load(f)
  examples = {split: list(src) for split, src in builder.as_data_source().items()}
  return builder, examples, report


@pytest.fixture(scope="module")
def aligned(release, tmp_path_factory):
  return _build(release, tmp_path_factory, "csd_aligned")


@pytest.fixture(scope="module")
def unaligned(release, tmp_path_factory):
  return _build(release, tmp_path_factory, "csd_unaligned")


@pytest.fixture(scope="module")
def raw(release, tmp_path_factory):
  return _build(release, tmp_path_factory, "raw")


def _text(x):
  return x.decode() if isinstance(x, bytes) else str(x)


def _read(release, name, vid):
  path = os.path.join(release["dir"], FILES[name] if name in FILES else "CMU_MOSEI_Labels.csd")
  with h5py.File(path, "r") as f:
    g = f[list(f.keys())[0]]["data"][vid]
    return g["intervals"][()], g["features"][()]


def _by_id(examples):
  return {_text(e["id"]): e for split in examples.values() for e in split}


# --- csd_aligned ---------------------------------------------------------------------------------

def test_aligned_matches_sdk_reference(release, aligned):
  """Every example equals the loop-per-row SDK recipe (align to words, average, align to labels),
  and exactly the segments the seed keeps are present."""
  _, examples, _ = aligned
  got = _by_id(examples)
  f = release["faults"]
  faults = {f["missing_in_facet"], f["length_mismatch_openface"], f["corrupt_covarep_chunk"]}
  expected = {}
  for vid in sum(release["folds"].values(), []):
    if vid in faults or vid not in release["video_ids"]:
      continue
    others = {m: _read(release, m, vid) for m in MODS[1:]}
    words = sdk_reference.word_level(*_read(release, "glove", vid), others)
    words["glove"] = words.pop("words")
    label_iv, label_ft = _read(release, "labels", vid)
    for j, seg in enumerate(sdk_reference.segment_level(label_iv, words)):
      if seg is None or any(len(seg[m]) == 0 for m in MODS) or len({len(seg[m]) for m in MODS}) > 1:
        continue
      expected[f"{vid}[{j}]"] = (seg, label_ft[j])
  assert set(got) == set(expected)
  assert len(expected) >= 20
  for key, (seg, labels) in expected.items():
    for m in MODS:
      np.testing.assert_allclose(got[key][m], seg[m], rtol=1e-5, atol=1e-5, err_msg=f"{key} {m}")
    np.testing.assert_array_equal(got[key]["labels"], labels.astype(np.float32))


def test_aligned_examples_are_word_aligned(aligned):
  _, examples, _ = aligned
  for e in _by_id(examples).values():
    steps = {e[m].shape[0] for m in MODS}
    assert len(steps) == 1 and steps.pop() > 0
    assert e["glove"].shape[1] == 300 and e["covarep"].shape[1] == 74
    assert e["facet"].shape[1] == 35 and e["openface"].shape[1] == 713


def test_fold_assignment(release, aligned):
  _, examples, report = aligned
  folds = release["folds"]
  assert set(examples) == {"train", "validation", "test"}
  for fold, split in folds_lib.TFDS_SPLIT.items():
    rows = examples[split]
    assert rows, f"empty {split} split"
    vids = {_text(e["video_id"]) for e in rows}
    assert vids <= set(folds[fold]), split
    for e in rows:
      assert _text(e["id"]).rsplit("[", 1)[0] == _text(e["video_id"])
  outside = release["video_ids"][generate.NOT_IN_FOLDS]
  assert outside not in {_text(e["video_id"]) for rows in examples.values() for e in rows}
  assert report["counts"]["videos"]["not_in_any_fold"] == 1
  assert report["counts"]["videos"]["in_folds_without_labels"] == 1   # 'zzzNoLabels0'
  assert report["folds"] == {"source": f"folds_file:{os.path.join(release['dir'], 'cmu_mosei_folds.json')}",
                             "videos": {"train": 5, "valid": 2, "test": 3}}
  assert report["counts"]["examples"] == {s: len(r) for s, r in examples.items()}


def test_ids_keep_real_formats(release, aligned):
  _, examples, _ = aligned
  vids = {_text(e["video_id"]) for rows in examples.values() for e in rows}
  assert any(v.startswith("-") for v in vids) and any(v.startswith("_") for v in vids)
  assert any(v.isdigit() for v in vids) and any("__" in v for v in vids)


def test_label_order(release, aligned):
  """labels = the CSD row [sentiment, happy, sad, anger, surprise, disgust, fear] of segment i."""
  _, examples, _ = aligned
  videos = {v["vid"]: v for v in release["videos"]}
  got = _by_id(examples)
  for key, e in got.items():
    vid, j = key[:-1].rsplit("[", 1)
    np.testing.assert_array_equal(e["labels"], videos[vid]["labels"][int(j)])
  labels = np.stack([e["labels"] for e in got.values()])
  assert labels[:, 0].min() < 0 and (labels[:, 1:] >= 0).all()   # only sentiment can be negative
  assert sequences.LABEL_NAMES[0] == "sentiment" and sequences.MME2E_FROM_CSD == (3, 5, 6, 1, 2, 4)


def test_robustness_counts(release, aligned):
  _, examples, report = aligned
  f = release["faults"]
  n_rows = {v["vid"]: len(v["segments"]) for v in release["videos"]}
  skipped = report["skipped_by_reason"]
  assert skipped["video_missing_in_facet"] == n_rows[f["missing_in_facet"]]
  assert skipped["openface_entry_length_mismatch"] == n_rows[f["length_mismatch_openface"]]
  assert skipped["covarep_entry_unreadable"] == n_rows[f["corrupt_covarep_chunk"]]
  assert skipped["zero_length_label_segment"] == 1
  reasons = {s["id"]: s["reason"] for s in report["skipped"]}
  assert reasons[release["zero_length_segment"]] == "zero_length_label_segment"
  assert reasons[release["facet_gap_segment"]] == "segment_without_rows_facet"
  gap_vid, _ = release["facet_gap_word"]
  assert any(k.startswith(gap_vid) and r.startswith("step_count_mismatch") for k, r in reasons.items())
  # NaN/inf are kept (the seed applies nan_to_num later) and counted.
  nan_vid = f["nonfinite_covarep"]
  bad = [e for e in examples["train"] if _text(e["video_id"]) == nan_vid and not np.isfinite(e["covarep"]).all()]
  assert len(bad) == report["counts"]["nonfinite_segments"]["covarep"] >= 1
  assert report["counts"]["nonfinite_values"]["covarep"] == sum(int((~np.isfinite(e["covarep"])).sum()) for e in bad)
  assert report["counts"]["words"]["zero_length_skipped"] == 1
  # Every labelled fold segment is either an example or a counted skip.
  fold_vids = set(sum(release["folds"].values(), [])) & set(n_rows)
  total = sum(len(r) for r in examples.values())
  assert total + report["num_skipped"] == sum(n_rows[v] for v in fold_vids)


def test_options_from_command_line(release, tmp_path_factory):
  """--option strings: subset of modalities, zero imputation, NaN zeroing and sp removal."""
  _, examples, report = _build(release, tmp_path_factory, "csd_aligned", folds_file="cmu_mosei_folds.json",
                               modalities="glove,covarep,facet",
                               missing="zeros", nonfinite="zero", drop_sp="true")
  got = _by_id(examples)
  assert "openface" not in next(iter(got.values()))
  f = release["faults"]
  imputed = [e for e in got.values() if _text(e["video_id"]) == f["missing_in_facet"]]
  assert imputed and all(not e["facet"].any() and e["glove"].shape[0] == e["facet"].shape[0] for e in imputed)
  assert report["partial_by_reason"]["imputed_zeros_facet"] >= len(imputed)
  assert all(np.isfinite(e["covarep"]).all() for e in got.values())
  assert report["partial_by_reason"]["nonfinite_zeroed_covarep"] >= 1
  # sp rows have all-zero GloVe vectors in the fixture; none survive drop_sp.
  assert report["counts"]["words"]["sp_dropped"] > 0
  assert all(np.abs(e["glove"]).sum(axis=1).min() > 0 for e in got.values())
  assert report["options"]["modalities"] == ["glove", "covarep", "facet"]


# --- csd_unaligned -------------------------------------------------------------------------------

def test_unaligned_keeps_native_rates(release, unaligned):
  _, examples, _ = unaligned
  got = _by_id(examples)
  assert got
  gaps = {release["facet_gap_segment"].split("[")[0], release["facet_gap_word"][0]}
  for key, e in [(k, e) for k, e in got.items() if _text(e["video_id"]) not in gaps][:12]:
    vid = _text(e["video_id"])
    start, end = e["interval"]
    for m in ("covarep", "facet"):
      iv, feats = _read(release, m, vid)
      inside = ((end - iv[:, 0]) > 1e-5) & ((iv[:, 1] - start) > 1e-5)
      order = np.argsort(iv[:, 0], kind="stable")
      np.testing.assert_allclose(e[m], feats[order][inside[order]], rtol=1e-6)
    duration = end - max(start, 0.0)
    assert e["covarep"].shape[0] == pytest.approx(100 * duration, abs=3)    # ~100 Hz
    assert e["facet"].shape[0] == pytest.approx(30 * duration, abs=3)       # ~30 Hz
  lengths = {tuple(e[m].shape[0] for m in MODS) for e in got.values()}
  assert all(len(set(t)) > 1 for t in lengths)   # modalities keep different step counts


# --- raw -----------------------------------------------------------------------------------------

def test_raw_examples(release, raw):
  _, examples, report = raw
  got = _by_id(examples)
  videos = {v["vid"]: v for v in release["videos"]}
  assert got and set(examples) == {"train", "validation", "test"}
  cut_short = {p["id"] for p in report["partial"] if p["reason"].startswith("audio_truncated")}
  assert cut_short and {k.rsplit("_", 1)[0] for k in cut_short} == {release["raw_faults"]["truncated_wav"]}
  for key, e in got.items():
    vid, clip = key.rsplit("_", 1)
    assert _text(e["video_id"]) == vid and int(e["clip"]) == int(clip)
    v = videos[vid]
    row = v["clips"].index(int(clip))
    labels = v["labels"][row]
    np.testing.assert_array_equal(e["emotion_scores"], labels[[3, 5, 6, 1, 2, 4]])
    np.testing.assert_array_equal(e["emotions"], (labels[[3, 5, 6, 1, 2, 4]] > 0).astype(np.float32))
    assert e["sentiment"] == labels[0]
    start, end = e["interval"]
    samples = int(16000 * end) - int(16000 * max(start, 0.0))
    if key in cut_short:  # the truncated wav holds fewer samples than the clip spans
      assert e["num_mel_pieces"] < math.ceil((samples // 200 + 1) / 32)
    else:
      assert e["num_mel_pieces"] == math.ceil((samples // 200 + 1) / 32)
    assert e["mel_pieces"].shape == (min(e["num_mel_pieces"], 32), 128, 32)
    assert e["faces"].shape == (e["num_faces"], 48, 48, 3) and e["face_found"].shape == (e["num_faces"],)
  found = np.concatenate([e["face_found"] for e in got.values()])
  assert found.any() and not found.all()
  assert any("_____" in _text(e["text"]) for e in got.values())
  assert report["counts"]["label_join"]["interval"] == 3
  assert report["counts"]["label_join"].get("sorted_rule_disagrees", 0) == 0
  assert report["counts"]["transcript_encoding"]["cp1252"] == 1
  assert report["counts"]["transcript_lines_skipped"]["too_few_fields"] == 3
  assert report["counts"]["clips"]["unlabelled"] == 6
  assert report["skipped_by_reason"]["empty_time_range"] == 1   # the zero-length label segment


def test_raw_clip_level_mme2e_split(release):
  """With MME2E's lists, raw clips are assigned by `<vid>_<clip>` (clip level), not by video."""
  from tfds_builders.cmu_mosei.config import CmuMoseiConfig
  from tfds_builders.cmu_mosei.raw_examples import RawExamples
  from tfds_builders.cmu_mosei.report import MoseiReport

  lists = {}
  for fold in folds_lib.SPLITS:
    with open(os.path.join(release["mme2e_dir"], f"{fold}_split.txt")) as f:
      lists[fold] = set(f.read().split())
  vid = release["raw_videos"][0]
  moved = next(i for i in sorted(lists["train"]) if i.startswith(vid + "_"))
  lists["train"].discard(moved)
  lists["test"].add(moved)   # one clip of a train video now belongs to test
  mme2e = os.path.join(release["dir"], "mme2e_moved")
  os.makedirs(mme2e, exist_ok=True)
  for fold, ids in lists.items():
    with open(os.path.join(mme2e, f"{fold}_split.txt"), "w") as f:
      f.write("".join(i + "\n" for i in sorted(ids)))
  cfg = CmuMoseiConfig(name="t", kind="raw", split_source="mme2e", mme2e_split_dir=mme2e)
  source = RawExamples(release["dir"], cfg, folds_lib.resolve(None, "mme2e", mme2e), MoseiReport("cmu_mosei", "t"))
  planned = {fold: {f"{c.vid}_{c.clip}" for c, _ in clips} for fold, clips in source.by_split.items()}
  source.close()
  assert moved in planned["test"] and moved not in planned["train"]
  for fold, ids in planned.items():
    assert ids and ids <= lists[fold]


# --- failure modes -------------------------------------------------------------------------------

def test_corrupt_file_fails_with_its_name(tmp_path):
  bad = tmp_path / "CMU_MOSEI_COVAREP.csd"
  bad.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(2000))
  with pytest.raises(csd.CsdError, match="CMU_MOSEI_COVAREP.csd.*corrupt"):
    csd.CsdFile(bad)


def test_metadata_json_and_plain_strings(tmp_path, release):
  path = os.path.join(release["dir"], "CMU_MOSEI_Labels.csd")
  with csd.CsdFile(path) as f:
    assert f.root_name == "All Labels" and f.metadata["root name"] == "All Labels"
    assert f.metadata["dimension names"][0] == "sentiment" and f.metadata["md5"] is None
  plain = tmp_path / "plain.csd"
  with h5py.File(plain, "w") as f:
    f.create_group("x/data")
    f["x"].create_group("metadata").create_dataset("root name", (1,), dtype=h5py.special_dtype(vlen=str))[0] = "x y"
  with csd.CsdFile(plain) as f:
    assert f.metadata["root name"] == "x y"


def test_fold_sources(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "mmsdk", None)   # make sure no installed SDK answers
  with pytest.raises(folds_lib.FoldsError, match="folds_file"):
    folds_lib.resolve(None, base_dir=str(tmp_path))
  (tmp_path / "cmu_mosei_folds.json").write_text(json.dumps({"train": ["q"], "valid": [], "test": []}))
  assert folds_lib.resolve(None, base_dir=str(tmp_path)).split_of("q") == "train"
  # A fake installed SDK is used when no file is given.
  std = types.ModuleType("std")
  std.standard_train_fold, std.standard_valid_fold, std.standard_test_fold = ["a", "-b"], ["81406"], ["_c"]
  names = ["mmsdk", "mmsdk.mmdatasdk", "mmsdk.mmdatasdk.dataset", "mmsdk.mmdatasdk.dataset.standard_datasets",
           "mmsdk.mmdatasdk.dataset.standard_datasets.CMU_MOSEI"]
  for n in names:
    monkeypatch.setitem(sys.modules, n, types.ModuleType(n))
  sys.modules[names[-1]].cmu_mosei_std_folds = std
  monkeypatch.setitem(sys.modules, names[-1] + ".cmu_mosei_std_folds", std)
  got = folds_lib.resolve(None)
  assert got.source == "mmsdk" and got.split_of("81406") == "valid" and got.split_of("-b") == "train"
  # An explicit file wins; non-string ids are refused with advice.
  path = tmp_path / "f.json"
  path.write_text(json.dumps({"train": ["x"], "valid": [], "test": ["y"]}))
  assert folds_lib.resolve(str(path)).split_of("y") == "test"
  path.write_text(json.dumps({"train": [81406], "valid": [], "test": []}))
  with pytest.raises(folds_lib.FoldsError, match="Quote every id"):
    folds_lib.resolve(str(path))
  path.write_text(json.dumps({"train": ["x"], "valid": ["x"], "test": []}))
  with pytest.raises(folds_lib.FoldsError, match="both"):
    folds_lib.resolve(str(path))


def test_williams2018_resplit(tmp_path):
  ids = {"train": [f"t{i}" for i in range(40)], "valid": [f"v{i}" for i in range(6)], "test": ["x", "y"]}
  (tmp_path / "f.json").write_text(json.dumps(ids))
  f = folds_lib.resolve(str(tmp_path / "f.json"), "williams2018")
  # 5% of train (2) -> test; 10% of the remaining 38 (3) -> valid; valid[3] is skipped as in the original.
  assert f.order["train"] == tuple(ids["train"][:35])
  assert f.order["valid"] == ("v0", "v1", "v2", "t35", "t36", "t37")
  assert f.order["test"] == ("v4", "v5", "t38", "t39")
  assert f.split_of("v3") is None and f.split_of("x") is None


def test_mme2e_lists_split_on_last_underscore(release):
  f = folds_lib.resolve(None, "mme2e", release["mme2e_dir"])
  for split, vids in release["folds"].items():
    for vid in vids:
      if vid in release["video_ids"]:
        assert f.split_of(vid) == split
  mjq = next(v for v in release["video_ids"] if "__" in v)
  assert f.split_of(mjq) is not None
  video = next(v for v in release["videos"] if v["vid"] == mjq)
  assert f.split_of_clip(mjq, video["clips"][0]) == f.split_of(mjq)
  assert f.split_of_clip(mjq, 999) is None


def test_missing_sequence_is_a_clear_error(release, tmp_path):
  for name in ("CMU_MOSEI_Labels.csd", "CMU_MOSEI_TimestampedWordVectors.csd", "cmu_mosei_folds.json"):
    os.symlink(os.path.join(release["dir"], name), tmp_path / name)
  with pytest.raises(csd.CsdError, match="No covarep computational sequence.*CMU_MOSEI_COVAREP.csd"):
    build_cli.build("cmu_mosei/csd_aligned", str(tmp_path / "data"), str(tmp_path))
