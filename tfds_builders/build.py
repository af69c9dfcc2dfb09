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
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import logging
from pathlib import Path

from absl import app, flags
from absl import logging as absl_logging

import tensorflow_datasets as tfds

import tfds_builders
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


def parse_options(pairs: list[str]) -> dict[str, object]:
  options = {}
  for pair in pairs:
    if "=" not in pair:
      raise ValueError(f"--option {pair!r} must look like key=value.")
    key, raw = pair.split("=", 1)
    try:
      options[key] = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
      options[key] = raw
  return options


def custom_config_name(base: str, options: dict[str, object]) -> str:
  """TFDS forbids reusing a predefined config's name for changed fields, and a changed build must
  not overwrite the default one: `<config>_<8 hex of the options>` names it stably."""
  digest = hashlib.sha1(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:8]
  return f"{base}_{digest}"


def make_builder(dataset: str, data_dir: str, options: dict[str, object] | None = None,
                 custom_name: str | None = None):
  """Instantiates `tfds_builders/<name>` with config `<config>` and field overrides."""
  name, _, config_name = dataset.partition("/")
  builder_cls = tfds_builders.builder_class(name)
  configs = {c.name: c for c in builder_cls.BUILDER_CONFIGS}
  config_name = config_name or builder_cls.BUILDER_CONFIGS[0].name
  if config_name not in configs:
    raise KeyError(f"Unknown config {config_name!r} of {name}. Known configs: {', '.join(configs)}.")
  config = configs[config_name]
  if options:
    known = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(options) - known)
    if unknown:
      raise KeyError(f"Unknown option(s) {unknown} for {name}/{config_name}. Known: {sorted(known)}.")
    config = dataclasses.replace(config, name=custom_name or custom_config_name(config.name, options), **options)
  return builder_cls(config=config, data_dir=str(Path(data_dir).expanduser()))


def build(dataset: str, data_dir: str, manual_dir: str | None = None,
          options: dict[str, object] | None = None, overwrite: bool = False, name: str | None = None,
          beam_options: str | None = None):
  """Builds and returns the builder; with options, the dataset is `<name>/<builder.builder_config.name>`.

  `beam_options`: `key=value,...` Beam pipeline options for the builders that generate with Beam."""
  builder = make_builder(dataset, data_dir, options, name)
  mode = tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
  if overwrite:
    mode = tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS
  download_config = tfds.download.DownloadConfig(
      manual_dir=str(Path(manual_dir).expanduser()) if manual_dir else None, download_mode=mode,
      beam_options=beam_units.pipeline_options(beam_options))
  builder.download_and_prepare(download_config=download_config, file_format="array_record")
  return builder


def main(argv):
  dataset = _DATASET.value or (argv[1] if len(argv) > 1 else None)
  if not dataset:
    raise app.UsageError(f"Name a dataset: one of {', '.join(tfds_builders.builder_names())}.")
  # TFDS and Beam log every shard and bundle at INFO; the build prints its own summary instead
  # (`--verbosity=0` brings the INFO lines back).
  if not flags.FLAGS["verbosity"].present:
    absl_logging.set_verbosity(absl_logging.WARNING)
  logging.getLogger("apache_beam").setLevel(logging.WARNING)
  beam = _BEAM.value
  if beam and "sdk_harness_log_level" not in beam:
    beam += ",default_sdk_harness_log_level=WARNING"
  builder = build(dataset, _DATA_DIR.value, _MANUAL_DIR.value, parse_options(_OPTIONS.value), _OVERWRITE.value,
                  _NAME.value, beam)
  print(f"Built {builder.info.full_name} in {builder.data_dir}")
  print(f"Train on it with --config.input.tfds_name={builder.name}/{builder.builder_config.name} "
        f"--config.input.data_dir={_DATA_DIR.value}")
  for split, info in builder.info.splits.items():
    print(f"  {split}: {info.num_examples} examples")


if __name__ == "__main__":
  app.run(main)
