r"""Builds a dataset from the user's copy of its release into ArrayRecord shards.

  python -m tfds_builders.build iemocap/full --manual_dir=~/data/IEMOCAP_full_release \
      --data_dir=~/tensorflow_datasets --option text_checkpoint=/path/to/bert \
      --beam_pipeline_options="runner=DirectRunner,direct_num_workers=0,direct_running_mode=multi_processing"

`--option key=value` sets a field of the builder's config (see each builder's README); values are
parsed as Python literals when possible (numbers, booleans, lists), else kept as strings.
The IEMOCAP, SAMSEMO and CMU-MOSEI builders generate examples with Apache Beam:
`--beam_pipeline_options` (the `tfds build` syntax) picks the runner and its workers; without it the
builders compute their examples in this process, without Beam (the same code, no pipeline start-up).
`direct_num_workers=0` uses every CPU.

Exit status: 0 built; 2 a mistake (an unknown dataset, config or option, a bad option value, a missing
or wrong --manual_dir): one or two lines saying the fix, and nothing left under --data_dir.
`--verbose` shows the traceback and the media decoders' own messages.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Iterator

from absl import app, flags
from absl import logging as absl_logging

import tensorflow_datasets as tfds

import tfds_builders
from mmer_jax import progress
from mmer_jax.errors import EXIT_USER_ERROR, ConfigError, DataError, UserError, did_you_mean
from mmer_jax.features import video as video_lib
from mmer_jax.registry import UnknownNameError
from tfds_builders.common import beam_units

_DATASET = flags.DEFINE_string("dataset", None, "name/config, e.g. samsemo/en. May also be positional.")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "Folder holding the dataset's original release.")
_DATA_DIR = flags.DEFINE_string("data_dir", "~/tensorflow_datasets", "Where the built dataset is written.")
_OPTIONS = flags.DEFINE_multi_string("option", [], "key=value overrides of the builder config's fields.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Rebuild even if the dataset is already built.")
_NAME = flags.DEFINE_string("name", None, "Config name for a build with --option overrides "
                            "(default: <config>_<hash of the options>).")
_BEAM = flags.DEFINE_string(
    "beam_pipeline_options", None, "Comma-separated Beam pipeline options, e.g. "
    "runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing "
    "(default: no Beam, examples computed in this process).")
if "verbose" not in flags.FLAGS:  # launch.py, which imports this module to build the sample, has its own
  flags.DEFINE_bool("verbose", False, "Show the traceback of a mistake, and the media decoders' own messages "
                    "(FFmpeg).")


def parse_options(pairs: list[str]) -> dict[str, object]:
  options = {}
  for pair in pairs:
    if "=" not in pair:
      raise ConfigError(f"--option {pair} must look like key=value.")
    key, raw = pair.split("=", 1)
    try:
      options[key] = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
      options[key] = raw
  return options


def user_options(config: tfds.core.BuilderConfig) -> list[str]:
  """The fields of a builder config that `--option` may set: not TFDS's own (name, version,
  description, release_notes, supported_versions, tags), which name and describe a config."""
  internal = {f.name for f in dataclasses.fields(tfds.core.BuilderConfig)}
  return sorted(f.name for f in dataclasses.fields(config) if f.name not in internal)


def where_documented(name: str) -> str:
  """The file that says what a builder's manual_dir must hold and which options it has."""
  readme = Path(tfds_builders.__file__).parent / name / "README.md"
  return f"tfds_builders/{name}/{readme.name if readme.exists() else f'{name}_dataset_builder.py'}"


def custom_config_name(base: str, options: dict[str, object]) -> str:
  """TFDS forbids reusing a predefined config's name for changed fields, and a changed build must
  not overwrite the default one: `<config>_<8 hex of the options>` names it stably."""
  digest = hashlib.sha1(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:8]
  return f"{base}_{digest}"


def make_builder(dataset: str, data_dir: str, options: dict[str, object] | None = None,
                 custom_name: str | None = None):
  """Instantiates `tfds_builders/<name>` with config `<config>` and field overrides.

  Writes nothing: an unknown name or option, or an option value the builder refuses, is a
  `UserError` saying the fix."""
  name, _, config_name = dataset.partition("/")
  builder_cls = tfds_builders.builder_class(name)
  configs = {c.name: c for c in builder_cls.BUILDER_CONFIGS}
  config_name = config_name or builder_cls.BUILDER_CONFIGS[0].name
  if config_name not in configs:
    raise UnknownNameError(f"Unknown config {config_name!r} of {name}.{did_you_mean(config_name, configs)} "
                           f"Known configs: {', '.join(configs)}.")
  config = configs[config_name]
  if options:
    known = user_options(config)
    unknown = sorted(set(options) - set(known))
    if unknown:
      raise UnknownNameError(f"Unknown option {unknown[0]!r} for {name}/{config_name}."
                             f"{did_you_mean(unknown[0], known)} Known options: {', '.join(known)}.")
    config = dataclasses.replace(config, name=custom_name or custom_config_name(config.name, options), **options)
  try:
    return builder_cls(config=config, data_dir=str(Path(data_dir).expanduser()))
  except (ValueError, TypeError) as error:  # the builder's own checks of the option values
    if not options or isinstance(error, UserError):
      raise
    raise ConfigError(str(error).replace(f"/{config.name} ", f"/{config_name} ")) from error


def check_manual_dir(dataset: str, manual_dir: str | None) -> None:
  """A builder that reads a release needs --manual_dir to name an existing folder; said before TFDS
  creates anything under data_dir. (Whether the folder holds the release, the builder says.)"""
  name = dataset.partition("/")[0]
  if not tfds_builders.builder_class(name).MANUAL_DOWNLOAD_INSTRUCTIONS:
    return
  if not manual_dir:
    raise DataError(f"{dataset} builds from your copy of the release: add --manual_dir=<its folder>.\n"
                    f"What the folder must hold: {where_documented(name)}.")
  folder = Path(manual_dir).expanduser()
  problem = "is not a folder" if not folder.is_dir() else "is empty" if not any(folder.iterdir()) else None
  if problem:
    raise DataError(f"--manual_dir={manual_dir} {problem}. Point it at your copy of the {name} release "
                    f"({where_documented(name)}).")


def _entries(root: Path, depth: int) -> set[Path]:
  """`root` and the paths up to `depth` levels below it (names only: no shard is read)."""
  found, level = set(), [root] if root.exists() else []
  for _ in range(depth + 1):
    found.update(level)
    level = [child for path in level if path.is_dir() for child in path.iterdir()]
  return found


@contextlib.contextmanager
def nothing_left_on_refusal(data_dir: Path, name: str) -> Iterator[None]:
  """A build that stops on a `UserError` (e.g. a --manual_dir that does not hold the release)
  removes what it created under data_dir: TFDS writes `<name>/.config/metadata.json`, the config
  folder and `downloads/` before the builder looks at the release. Only this dataset's new paths
  (and new, file-less `downloads/`) go, so other datasets in a shared data_dir are untouched."""
  data_dir_existed = data_dir.exists()
  downloads_existed = (data_dir / "downloads").exists()
  before = _entries(data_dir / name, 2)
  try:
    yield
  except UserError:
    if not data_dir_existed:
      shutil.rmtree(data_dir, ignore_errors=True)
    else:
      for path in sorted(_entries(data_dir / name, 2) - before, key=lambda p: len(p.parts)):
        if path.is_dir() and not path.is_symlink():
          shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
          path.unlink()
      downloads = data_dir / "downloads"
      if not downloads_existed and not any(p.is_file() for p in downloads.rglob("*")):
        shutil.rmtree(downloads, ignore_errors=True)
    raise


def build(dataset: str, data_dir: str, manual_dir: str | None = None,
          options: dict[str, object] | None = None, overwrite: bool = False, name: str | None = None,
          beam_options: str | None = None):
  """Builds and returns the builder; with options, the dataset is `<name>/<builder.builder_config.name>`.

  `beam_options`: `key=value,...` Beam pipeline options for the builders that generate with Beam.
  Mistakes raise `UserError`s and leave nothing under data_dir."""
  builder = make_builder(dataset, data_dir, options, name)
  check_manual_dir(dataset, manual_dir)
  mode = tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
  if overwrite:
    mode = tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS
  download_config = tfds.download.DownloadConfig(
      manual_dir=str(Path(manual_dir).expanduser()) if manual_dir else None, download_mode=mode,
      beam_options=beam_units.pipeline_options(beam_options))
  if not progress.library_bars():
    tfds.disable_progress_bar()  # TFDS's bars would fill a log file with carriage returns
  # TFDS prints "Downloading and preparing dataset Unknown size (download: Unknown size, ...)" before
  # the builder has looked at the release, and "... Subsequent calls will reuse this data." after it:
  # nothing is downloaded here, and the builder's report and the CLI's summary say what was built.
  builder._log_download_bytes = builder._log_download_done = lambda: None
  with nothing_left_on_refusal(Path(data_dir).expanduser(), builder.name):
    builder.download_and_prepare(download_config=download_config, file_format="array_record")
  return builder


def refusal(error: UserError, dataset: str) -> str:
  """At most two lines: the message's first line, and where the builder's documentation is when
  the message went on (a release layout's long instructions)."""
  lines = str(error).strip().splitlines() or [type(error).__name__]
  if len(lines) <= 2:
    return "\n".join(lines)
  name = dataset.partition("/")[0]
  more = f"What --manual_dir must hold: {where_documented(name)}" if name in tfds_builders.builder_names() else ""
  return "\n".join(filter(None, [lines[0], more]))


class _CustomConfigNotice(logging.Filter):
  """Drops TFDS's warning "Using custom data configuration: IemocapConfig(name=..., version=None,
  release_notes=None, ...)": a build with --option is custom by design, and the repr is noise."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Using custom data configuration")


def main(argv):
  dataset = _DATASET.value or (argv[1] if len(argv) > 1 else None)
  if not dataset:
    print(f"Error: name a dataset/config to build, e.g. `python -m tfds_builders.build iemocap/full "
          f"--manual_dir=...`. Builders: {', '.join(tfds_builders.builder_names())}.", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)
  # TFDS and Beam log every shard and bundle at INFO; the build prints its own summary instead
  # (`--verbosity=0` brings the INFO lines back).
  if not flags.FLAGS["verbosity"].present:
    absl_logging.set_verbosity(absl_logging.WARNING)
  logging.getLogger("apache_beam").setLevel(logging.WARNING)
  logging.getLogger("absl").addFilter(_CustomConfigNotice())
  video_lib.show_decoder_messages(flags.FLAGS.verbose)
  beam = _BEAM.value
  if beam and "sdk_harness_log_level" not in beam:
    beam += ",default_sdk_harness_log_level=WARNING"
  try:
    builder = build(dataset, _DATA_DIR.value, _MANUAL_DIR.value, parse_options(_OPTIONS.value), _OVERWRITE.value,
                    _NAME.value, beam)
  except UserError as error:
    if flags.FLAGS.verbose:
      raise
    print(f"Error: {refusal(error, dataset)}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)
  print(f"Built {builder.info.full_name} in {builder.data_dir}")
  print(f"Train on it with --config.input.tfds_name={builder.name}/{builder.builder_config.name} "
        f"--config.input.data_dir={_DATA_DIR.value}")
  for split, info in builder.info.splits.items():
    print(f"  {split}: {info.num_examples} examples")


def parse_flags(argv):
  """absl's parser, with an unknown or malformed flag said in two lines and exit status 2 (as every
  other mistake here) instead of absl's exit 1."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:
    print(f"Error: {error}\nRun `python -m tfds_builders.build --helpshort` to see the flags.", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
