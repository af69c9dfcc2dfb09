"""`python -m tfds_builders.build` and the fixture generators as a user runs them: a mistake is one or two
lines (exit 2, no traceback, nothing under --data_dir), and a build logged to a file is plain lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TFDS_FIELDS = ("name", "version", "release_notes", "supported_versions", "description", "tags")


def _run(*args, cwd=ROOT, env=None):
  out = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
  return out.returncode, (out.stdout + out.stderr).decode()  # bytes: text mode would hide "\r"


def _build(data_dir, *args, **kwargs):
  return _run("-m", "tfds_builders.build", f"--data_dir={data_dir}", *args, **kwargs)


def _assert_refused(code, output, *expected):
  lines = output.strip().splitlines()
  assert code == 2 and 1 <= len(lines) <= 2, output
  assert lines[0].startswith("Error: ") and "Traceback" not in output, output
  for text in expected:
    assert text in output, output
  return lines


@pytest.mark.parametrize("args, expected", [
    ([], ["name a dataset/config to build", "Builders: cmu_mosei, iemocap,"]),
    (["iemocap/full", "--optionn", "x"], ["Unknown command line flag 'optionn'. Did you mean: option"]),
    (["iemocapp/full"], ["Unknown dataset builder 'iemocapp'. Did you mean 'iemocap'?"]),
    (["iemocap/fulll"], ["Unknown config 'fulll' of iemocap. Did you mean 'full'?", "Known configs: full,"]),
    (["iemocap/full", "--option", "audio_source=foo"], ["audio_source must be one of", "got 'foo'"]),
    (["iemocap/full"], ["add --manual_dir=", "tfds_builders/iemocap/README.md"]),
    (["iemocap/full", "--manual_dir=/no/such/folder"], ["--manual_dir=/no/such/folder is not a folder"]),
])
def test_a_build_mistake_is_one_or_two_lines_and_writes_nothing(tmp_path, args, expected):
  code, output = _build(tmp_path / "data", *args)
  _assert_refused(code, output, *expected)
  assert not (tmp_path / "data").exists()


def test_an_unknown_option_lists_only_the_options_a_user_sets(tmp_path):
  code, output = _build(tmp_path / "data", "iemocap/full", "--option", "stepz=20", f"--manual_dir={tmp_path}")
  [line] = _assert_refused(code, output, "Unknown option 'stepz' for iemocap/full.", "Known options: ")
  known = line.split("Known options: ")[1].rstrip(".").split(", ")
  assert "sessions" in known and "audio_source" in known
  assert not set(TFDS_FIELDS) & set(known), known  # BuilderConfig's own fields are not options
  assert not (tmp_path / "data").exists()


def test_a_folder_that_is_not_the_release_leaves_the_data_dir_as_it_was(tmp_path):
  """TFDS writes <data_dir>/<name>/.config/metadata.json and downloads/ before the builder looks at
  the release: a refused build removes them, and only them."""
  manual = tmp_path / "not_iemocap"
  manual.mkdir()
  (manual / "notes.txt").write_text("not a release\n")
  data_dir = tmp_path / "data"
  (data_dir / "samsemo" / "en").mkdir(parents=True)  # another dataset already built here
  (data_dir / "samsemo" / "en" / "keep.txt").write_text("x")
  code, output = _build(data_dir, "iemocap/full", f"--manual_dir={manual}")
  _assert_refused(code, output, "No Session<n>/dialog folder under", "IEMOCAP_full_release")
  assert sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*")) == [
      "samsemo", "samsemo/en", "samsemo/en/keep.txt"]


def test_verbose_keeps_the_traceback(tmp_path):
  code, output = _build(tmp_path / "data", "iemocap/fulll", "--verbose")
  assert code != 0 and "Traceback" in output and "Unknown config 'fulll'" in output


@pytest.mark.parametrize("module", ["iemocap", "samsemo", "labelled_audio", "cmu_mosei", "manifest"])
def test_generate_help_prints_help_and_writes_nothing(tmp_path, module):
  code, output = _run("-m", f"tfds_builders.{module}.dummy_data.generate", "--help", cwd=tmp_path)
  assert code == 0 and output.startswith("usage:"), output
  assert list(tmp_path.iterdir()) == []  # no folder named --help


def test_a_build_logged_to_a_file_is_plain_lines_and_verbose_brings_the_decoders_back(tmp_path):
  """Off a terminal: no tqdm carriage returns or ANSI escapes, no FFmpeg `[mpeg4 @ 0x...]` lines
  about the fixture's truncated video. `--verbose` and MMER_JAX_PROGRESS=bar bring both back, which
  shows the fixture does provoke them."""
  from tfds_builders.iemocap.dummy_data import generate
  generate.generate(tmp_path / "release")
  args = ["iemocap/mme2e", f"--manual_dir={tmp_path / 'release'}", "--option", "sessions=(1,)",
          "--option", "mel=False"]
  code, quiet = _build(tmp_path / "quiet", *args)
  assert code == 0, quiet
  assert "\r" not in quiet and "\x1b" not in quiet and "@ 0x" not in quiet, quiet
  assert "partial[video_truncated] = 1" in quiet and "session1: 7 examples" in quiet
  code, loud = _build(tmp_path / "loud", *args, "--verbose", env={"MMER_JAX_PROGRESS": "bar"})
  assert code == 0 and "[mpeg4 @ 0x" in loud and "\r" in loud, loud
