r"""A folder of wavs plus a CSV of labels: extra labelled training audio (generated or collected).

Seed 003 appends generated speech (GAN and autoencoder clips of CMU-MOSEI test utterances) to its
IEMOCAP training data. This builder turns any such folder into examples that IEMOCAP configs can
mix into their TRAINING split only (`input.extra_train_sources`), never into validation or test:

  python -m tfds_builders.build labelled_audio/seed003_gan --manual_dir=<folder with gans/ and the csv>
  # then, in a config:  c.input.extra_train_sources = [dict(tfds_name="labelled_audio/seed003_gan")]

Manual dir: the CSV (`csv_name`) with one row per clip: the wav path relative to `audio_dir`
(`file_column`), the label (`label_column`) and optionally a transcript (`text_column`).

Example features: `id` (the wav path), `label` (ClassLabel over IEMOCAP's raw codes, so IEMOCAP label
schemes apply unchanged; names like "happy", "anger" map to "hap", "ang"), `raw_label`, `text`,
`audio_stats` (seed 003's 276 statistics, `mmer_jax.features.audio_stats`), `duration` (s) and,
with `waveform=True`, the 16 kHz mono `waveform`. Everything lands in one split, `train`.

Rows whose wav is missing, unreadable or empty, or whose label is not an emotion we know, are
skipped and counted with the reason in `build_report.json` next to the data.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds

from mmer_jax.datasets import iemocap
from mmer_jax.datasets.labelled_audio import LABEL_ALIASES
from mmer_jax.errors import ConfigError, DataError
from mmer_jax.features import audio as audio_lib
from mmer_jax.features import audio_stats as stats_lib
from tfds_builders.build_report import BuildReport

SAMPLE_RATE = 16000

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Point --manual_dir at a folder holding the label CSV (config field `csv_name`) and the wav files
(under `audio_dir`). For seed 003's generated samples: its `mosei_test_filtered.csv` (columns
fname, label, ASR) and the `gans/` (or `autoencoder/`) folder of clips from the authors' share.
"""


@dataclasses.dataclass
class LabelledAudioConfig(tfds.core.BuilderConfig):
  csv_name: str = "labels.csv"
  audio_dir: str = ""          # relative to manual_dir
  file_column: str = "file"
  label_column: str = "label"
  text_column: str = "text"    # optional: missing column -> empty transcripts
  waveform: bool = False       # also store the 16 kHz waveform


BUILDER_CONFIGS = [
    LabelledAudioConfig(name="default", description="labels.csv (file, label[, text]) next to the wavs."),
    LabelledAudioConfig(name="seed003_gan", description="Seed 003's GAN clips: mosei_test_filtered.csv + gans/.",
                        csv_name="mosei_test_filtered.csv", audio_dir="gans", file_column="fname",
                        text_column="ASR"),
    LabelledAudioConfig(name="seed003_autoencoder", description="Seed 003's autoencoder clips.",
                        csv_name="mosei_test_filtered.csv", audio_dir="autoencoder", file_column="fname",
                        text_column="ASR"),
]


def iemocap_code(label: str) -> str | None:
  """The IEMOCAP code of a label name or code, or None when it is not an emotion we know."""
  key = label.strip().lower()
  code = LABEL_ALIASES.get(key, key)
  return code if code in iemocap.CODES else None


class Builder(tfds.core.GeneratorBasedBuilder):
  """Labelled wav clips with seed 003's utterance statistics (array_record; no TensorFlow)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Wavs + label CSV -> IEMOCAP-coded labels, 276 audio statistics."}
  BUILDER_CONFIGS = BUILDER_CONFIGS
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  def _info(self) -> tfds.core.DatasetInfo:
    f = tfds.features
    features = {
        "id": f.Text(), "label": f.ClassLabel(names=iemocap.CODES), "raw_label": f.Text(),
        "text": f.Text(), "audio_stats": f.Tensor(shape=(stats_lib.NUM_STATS,), dtype=np.float32),
        "duration": f.Tensor(shape=(), dtype=np.float32),
    }
    if self.builder_config.waveform:
      features["waveform"] = f.Tensor(shape=(None,), dtype=np.float32)
    return tfds.core.DatasetInfo(builder=self, description=__doc__, features=f.FeaturesDict(features),
                                 metadata=tfds.core.MetadataDict(sample_rate=SAMPLE_RATE))

  def _split_generators(self, dl_manager):
    cfg = self.builder_config
    root = Path(dl_manager.manual_dir)
    table = root / cfg.csv_name
    if not table.exists():
      raise DataError(f"{table} is missing (the label CSV; --option csv_name=... names another).\n"
                      f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")
    self._report = BuildReport("labelled_audio", cfg.name, options=dataclasses.asdict(cfg))
    return {"train": self._generate_examples(table, root / cfg.audio_dir)}

  def _generate_examples(self, table: Path, audio_dir: Path) -> Iterator[tuple[str, dict]]:
    cfg, report = self.builder_config, self._report
    with table.open(newline="", encoding="utf-8") as handle:
      rows = list(csv.DictReader(handle))
    for column in (cfg.file_column, cfg.label_column):
      if rows and column not in rows[0]:
        raise ConfigError(f"{table.name} has no column {column!r}; its columns: {list(rows[0])} "
                          f"(--option file_column=... / label_column=... name others).")
    seen = set()
    for row in rows:
      name, raw_label = row[cfg.file_column].strip(), row[cfg.label_column]
      code = iemocap_code(raw_label)
      if code is None:
        report.skip(name, f"unknown_label: {raw_label!r}", "train")
        continue
      if name in seen:
        report.skip(name, "listed_twice", "train")
        continue
      try:
        waveform = audio_lib.load_audio(audio_dir / name, SAMPLE_RATE)
        stats = stats_lib.audio_stats(waveform, SAMPLE_RATE)
      except (audio_lib.AudioReadError, ValueError) as error:
        report.skip(name, f"unreadable_audio: {error}", "train")
        continue
      seen.add(name)
      report.count("train", code)
      example = {"id": name, "label": code, "raw_label": raw_label, "text": row.get(cfg.text_column) or "",
                 "audio_stats": stats, "duration": np.float32(len(waveform) / SAMPLE_RATE)}
      if cfg.waveform:
        example["waveform"] = waveform.astype(np.float32)
      yield name, example

  def _download_and_prepare(self, dl_manager, download_config=None, **kwargs):
    super()._download_and_prepare(dl_manager=dl_manager, download_config=download_config, **kwargs)
    self._report.write(self.data_dir)  # TFDS renames this temporary folder to the version folder
    print(self._report.summary())
