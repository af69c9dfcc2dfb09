"""The task of a manifest dataset, read from its build: label column, kind and classes -> the config.

A config trains on `manifest/<name>` (tfds_builders/manifest) without knowing the user's labels.
Its manifest branch (configs/common.py `manifest_input`) leaves `input.manifest.kind` empty, and
`resolve(config)`, which `experiment.check_names` calls before anything is built, fills in from
the build's metadata:
- `input.manifest.label` (the config's `labels=` argument: a label column's key or the user's own
  column name; default the build's first label column) and `input.manifest.kind`;
- `task.type`, `task.class_names`, `model.num_classes`;
- `loss.name` and `evaluation.selection_metric` / `mode` for that kind: softmax cross-entropy and
  weighted F1 (single label), sigmoid BCE and the support-weighted F1 with per-class thresholds tuned
  on validation (multi-label), MSE and MAE (a regression value).
A run saves the resolved config (config.json), so evaluation and prediction need no dataset. Then
every stored input the config's preprocessor reads (its `inputs()`) must be in the build; if one
is not, a one-line DataError says how to rebuild, before anything is trained.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from ml_collections import ConfigDict

from mmer_jax.data import label_schemes
from mmer_jax.errors import ConfigError, DataError, did_you_mean

# kind -> (task.type, loss.name, evaluation.selection_metric, evaluation.mode)
KIND_TASK = {
    "single": ("single_label", "softmax_ce", "f1_weighted", "max"),
    "multi": ("multi_label", "sigmoid_bce", "f1_samsemo_avg", "max"),
    "regression": ("regression", "mse", "mae", "min"),
}
# How a build gets a stored input (tfds_builders/manifest options).
_HOW = {
    "mel_pieces": "an audio column and --option mel=true", "num_mel_pieces": "an audio column and --option mel=true",
    "waveform": "an audio column and --option waveform=true",
    "audio_stats": "an audio column and --option audio_stats=true",
    "compare_lld": "an audio column and --option compare_lld=true",
    "faces": "a video column and --option faces=true", "num_faces": "a video column and --option faces=true",
    "text_cls": "--option text_checkpoint=<folder>", "text_pooled": "--option text_checkpoint=<folder>",
    "text_tokens": "--option text_checkpoint=<folder>", "text_tokens_mask": "--option text_checkpoint=<folder>",
}


@dataclasses.dataclass(frozen=True)
class ManifestInfo:
  """What a built manifest dataset says about itself."""
  tfds_name: str
  metadata: Mapping[str, Any]
  features: tuple[str, ...]

  @property
  def labels(self) -> Mapping[str, Mapping[str, Any]]:
    return self.metadata["labels"]

  def label(self, wanted: str) -> str:
    """The key of the label column `wanted` (a key or the user's column name; '' = the default)."""
    if not wanted:
      return self.metadata["default_label"]
    for key, spec in self.labels.items():
      if wanted in (key, spec["column"]) or wanted.lower() == spec["column"].lower():
        return key
    names = [spec["column"] for spec in self.labels.values()]
    raise ConfigError(f"labels={wanted!r}: {self.tfds_name} has the label column(s) {', '.join(names)}."
                      f"{did_you_mean(wanted, names)} Choose one with the config argument labels=<column>.")


def is_manifest(config: ConfigDict) -> bool:
  return (config.input.tfds_name or "").split("/")[0] == label_schemes.MANIFEST


def read_info(tfds_name: str, data_dir: str) -> ManifestInfo:
  """The metadata and feature names of `manifest/<name>` in `data_dir` (the newest version built)."""
  import tensorflow_datasets as tfds  # noqa: PLC0415
  name = tfds_name.split("/", 1)[1] if "/" in tfds_name else ""
  if not name:
    raise ConfigError("Name the manifest dataset: --config.input.tfds_name=manifest/<name> (the name the build "
                      "printed), or the config argument dataset=manifest:<name>.")
  folder = Path(data_dir).expanduser() / label_schemes.MANIFEST / name
  versions = sorted(p for p in folder.glob("*") if (p / "dataset_info.json").is_file()) if folder.is_dir() else []
  if not versions:
    built = sorted(p.name for p in folder.parent.glob("[!.]*") if p.is_dir()) if folder.parent.is_dir() else []
    raise DataError(f"Dataset {tfds_name!r} is not built in {data_dir}{' (built: ' + ', '.join(built) + ')' if built else ''}. "
                    f"Build it with python -m tfds_builders.build manifest --manual_dir=<folder> --name={name} "
                    f"--data_dir={data_dir} --option text=<column> --option label=<column> ...")
  builder = tfds.builder_from_directory(str(versions[-1]))
  metadata = dict(builder.info.metadata or {})
  if "labels" not in metadata:
    raise DataError(f"{versions[-1]} holds no label metadata; rebuild it with tfds_builders.build manifest.")
  return ManifestInfo(tfds_name, metadata, tuple(builder.info.features.keys()))


def resolve(config: ConfigDict) -> None:
  """Fills a manifest config's task from the build (a no-op for other datasets and resolved configs)."""
  if not is_manifest(config):
    return
  manifest = config.input.manifest
  if manifest is None:
    raise ConfigError(f"input.tfds_name={config.input.tfds_name!r} is a manifest dataset, but this config was "
                      "loaded for another dataset: load it with its dataset=manifest:<name> argument "
                      "(e.g. configs/text_classifier.py:dataset=manifest:<name>).")
  if manifest.kind:
    return
  info = read_info(config.input.tfds_name, config.input.data_dir)
  key = info.label(manifest.label or "")
  spec = info.labels[key]
  task_type, loss, metric, mode = KIND_TASK[spec["kind"]]
  manifest.label, manifest.kind = key, spec["kind"]
  if "roles" in manifest:  # the columns `--mode=predict` reads (mmer_jax/predict.py read_manifest)
    manifest.roles = dict(info.metadata.get("roles", {}))
  config.task.type = task_type
  config.task.class_names = list(spec["classes"])
  config.model.num_classes = len(spec["classes"])
  config.loss.name = loss
  config.evaluation.selection_metric, config.evaluation.mode = metric, mode
  check_inputs(config, info)


def check_inputs(config: ConfigDict, info: ManifestInfo) -> None:
  """A one-line DataError when the build lacks an input the config's preprocessor reads."""
  from mmer_jax.data.preprocess import options as preprocess_options  # noqa: PLC0415  (imports every preprocessor)
  reads = getattr(preprocess_options.build(config), "inputs", None)
  missing = [name for name in (reads() if reads else ()) if name not in info.features]
  if missing:
    modalities = ", ".join(info.metadata.get("modalities", [])) or "none"
    fix = (f"rebuild it with {_HOW[missing[0]]}, or choose modalities / a text mode it has" if missing[0] in _HOW
           else "no manifest build stores it: choose modalities without it")
    raise DataError(f"{info.tfds_name} has no {missing[0]!r}, which the {config.input.preprocessor} inputs of this "
                    f"config read (the manifest maps {modalities}): {fix}.")
