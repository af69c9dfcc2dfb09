r"""Builds a dataset from the user's copy of its release into ArrayRecord shards.

  python -m tfds_builders.build iemocap/default --manual_dir=~/data/IEMOCAP_full_release \
      --data_dir=~/tensorflow_datasets --option text_checkpoint=/path/to/bert

`--option key=value` sets a field of the builder's config (see each builder's README); values are
parsed as Python literals when possible (numbers, booleans, lists), else kept as strings.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from absl import app, flags

import tensorflow_datasets as tfds

import tfds_builders

_DATASET = flags.DEFINE_string("dataset", None, "name/config, e.g. samsemo/en. May also be positional.")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "Folder holding the dataset's original release.")
_DATA_DIR = flags.DEFINE_string("data_dir", "~/tensorflow_datasets", "Where the built dataset is written.")
_OPTIONS = flags.DEFINE_multi_string("option", [], "key=value overrides of the builder config's fields.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Rebuild even if the dataset is already built.")


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


def make_builder(dataset: str, data_dir: str, options: dict[str, object] | None = None):
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
    config = dataclasses.replace(config, **options)
  return builder_cls(config=config, data_dir=str(Path(data_dir).expanduser()))


def build(dataset: str, data_dir: str, manual_dir: str | None = None,
          options: dict[str, object] | None = None, overwrite: bool = False):
  builder = make_builder(dataset, data_dir, options)
  mode = tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
  if overwrite:
    mode = tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS
  download_config = tfds.download.DownloadConfig(
      manual_dir=str(Path(manual_dir).expanduser()) if manual_dir else None, download_mode=mode)
  builder.download_and_prepare(download_config=download_config, file_format="array_record")
  return builder


def main(argv):
  dataset = _DATASET.value or (argv[1] if len(argv) > 1 else None)
  if not dataset:
    raise app.UsageError(f"Name a dataset: one of {', '.join(tfds_builders.builder_names())}.")
  builder = build(dataset, _DATA_DIR.value, _MANUAL_DIR.value, parse_options(_OPTIONS.value), _OVERWRITE.value)
  print(f"Built {builder.info.full_name} in {builder.data_dir}")
  for split, info in builder.info.splits.items():
    print(f"  {split}: {info.num_examples} examples")


if __name__ == "__main__":
  app.run(main)
