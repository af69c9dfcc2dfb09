"""Beam builds on 2 worker processes give the examples and build report of an in-process build.

Each builder's fixture is built twice with its smallest media config: in this process (no Beam) and
through the DirectRunner in multi_processing mode with 2 workers. Examples must be byte-identical and
in the same order, and `build_report.json` equal (counts, skips and partial entries in order).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tfds_builders import build as build_cli
from tfds_builders.common import beam_units

TWO_WORKERS = "runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing"


def _built(dataset, data_dir, manual_dir, options=None, beam=None):
  builder = build_cli.build(dataset, str(data_dir), str(manual_dir), options, beam_options=beam)
  source = builder.as_data_source()
  splits = {split: [source[split][i] for i in range(len(source[split]))] for split in source}
  report = json.loads((Path(builder.data_dir) / "build_report.json").read_text())
  assert not (Path(builder.data_dir) / beam_units.PARTS_FOLDER).exists()
  return splits, report


def _assert_same(single, multi):
  (splits_1, report_1), (splits_2, report_2) = single, multi
  assert list(splits_1) == list(splits_2)
  for split, examples in splits_1.items():
    assert [e["id"] for e in examples] == [e["id"] for e in splits_2[split]], split  # same order
    for a, b in zip(examples, splits_2[split]):
      assert sorted(a) == sorted(b)
      for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), (split, a["id"], key)
  assert report_1 == report_2


def _both(tmp_path, dataset, manual_dir, options=None):
  single = _built(dataset, tmp_path / "one", manual_dir, options)
  multi = _built(dataset, tmp_path / "two", manual_dir, options, beam=TWO_WORKERS)
  return single, multi


def test_iemocap_two_workers_equal_one(tmp_path):
  from tfds_builders.iemocap.dummy_data import generate
  generate.generate(tmp_path / "release")
  # Sessions 2-3: the corrupt wav, the missing MoCap hand file, the missing .wdseg.
  single, multi = _both(tmp_path, "iemocap/seed004", tmp_path / "release",
                        {"sessions": (2, 3), "faces": True, "max_faces": 2})
  _assert_same(single, multi)
  report = single[1]
  assert report["num_partial"] > 0 and report["counts"]["examples"] == {"session2": 4, "session3": 6}


def test_samsemo_two_workers_equal_one(tmp_path):
  from tfds_builders.samsemo.dummy_data import generate
  generate.generate(tmp_path / "release")
  single, multi = _both(tmp_path, "samsemo/en", tmp_path / "release")
  _assert_same(single, multi)
  assert single[1]["num_skipped"] > 0 and single[1]["num_partial"] > 0


def test_cmu_mosei_two_workers_equal_one(tmp_path):
  from tfds_builders.cmu_mosei.dummy_data import generate
  release = generate.generate(str(tmp_path / "release"), raw=True)
  for config in ("csd_aligned", "raw"):
    single, multi = _both(tmp_path / config, f"cmu_mosei/{config}", release["dir"])
    _assert_same(single, multi)
    assert single[1]["num_skipped"] > 0


def test_pipeline_options_parse_the_tfds_build_syntax():
  options = beam_units.pipeline_options(TWO_WORKERS).get_all_options()
  assert (options["runner"], options["direct_num_workers"], options["direct_running_mode"]) == (
      "DirectRunner", 2, "multi_processing")
  assert beam_units.pipeline_options("") is None
  with pytest.raises(ValueError, match="key=value"):
    beam_units.pipeline_options("DirectRunner")
