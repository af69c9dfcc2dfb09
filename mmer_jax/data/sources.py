"""Random-access example sources: built TFDS datasets (ArrayRecord), read without TensorFlow.

tensorflow_datasets (31 MB resident) is imported when a dataset is opened, not with the module:
a run on a built dataset loads it anyway, but a run on in-memory sources (tests, the benchmarks'
jax side) needs none of it (issue 29).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from mmer_jax import datasets
from mmer_jax.errors import ConfigError, DataError, did_you_mean


class DatasetNotBuiltError(DataError):
  """The configured dataset is not in data_dir; the message gives the command that builds it."""


def tfds_source(tfds_name: str, split: str, data_dir: str) -> Sequence[dict[str, Any]]:
  """`tfds.data_source` for `name/config` and a TFDS split expression (`session1+session2`, `train[:50%]`)."""
  import tensorflow_datasets as tfds  # noqa: PLC0415
  data_dir = str(Path(data_dir).expanduser())
  name = tfds_name.split(":")[0]
  _check_known(name.split("/")[0], data_dir)
  try:
    builder = tfds.builder(tfds_name, data_dir=data_dir)
  except Exception:  # tfds raises DatasetNotFoundError / registry errors for unknown names.
    builder = _builder_from_directory(name, data_dir)
    if builder is None:
      raise DatasetNotBuiltError(_build_hint(tfds_name, data_dir)) from None
  if not builder.is_prepared():
    raise DatasetNotBuiltError(_build_hint(tfds_name, data_dir))
  known = set(builder.info.splits.keys())
  for part in split.replace("+", " ").split():
    base = part.split("[")[0]
    if base not in known:
      raise ConfigError(f"config.input.splits names split {base!r}, which {tfds_name} does not have."
                        f"{did_you_mean(base, known)} "
                     f"Its splits: {', '.join(sorted(known))}.")
  return builder.as_data_source(split=split)


def _check_known(dataset: str, data_dir: str) -> None:
  """A name that is neither one of our datasets nor a dataset present in data_dir is a typo."""
  known = list(datasets.NAMES)
  if dataset not in known and not Path(data_dir, dataset).exists():
    from mmer_jax.registry import UnknownNameError  # noqa: PLC0415
    raise UnknownNameError(f"Unknown dataset {dataset!r} in config.input.tfds_name.{did_you_mean(dataset, known)} "
                           f"Known datasets: {', '.join(known)} "
                           f"(or any dataset already built in {data_dir}).")


def _builder_from_directory(name: str, data_dir: str):
  """Finds a built `<data_dir>/<name>/<config>/<version>` without the builder code being registered."""
  path = Path(data_dir, *name.split("/"))
  versions = sorted(p for p in path.glob("*") if (p / "dataset_info.json").exists()) if path.exists() else []
  if not versions:
    return None
  import tensorflow_datasets as tfds  # noqa: PLC0415
  return tfds.builder_from_directory(str(versions[-1]))


def _build_hint(tfds_name: str, data_dir: str) -> str:
  """Two lines: what is missing and the command that builds it (`--manual_dir` only for the builders
  that read a release; the synthetic sample is generated, so `build_if_missing=True` does it too)."""
  dataset = tfds_name.split("/")[0]
  if not datasets.needs_manual_download(dataset):
    return (f"Dataset {tfds_name!r} is not built in {data_dir}; it needs no download: set "
            f"--config.input.build_if_missing=True, or build it with\n"
            f"  python -m tfds_builders.build {tfds_name} --data_dir={data_dir}")
  return (f"Dataset {tfds_name!r} is not built in {data_dir} (or point config.input.data_dir at where it "
          f"was built). Build it from your copy of the release (README 'Datasets'):\n"
          f"  python -m tfds_builders.build {tfds_name} --manual_dir=<release folder> --data_dir={data_dir}")
