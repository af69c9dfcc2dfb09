"""CMU-MOSEI as a TFDS dataset, from the SDK computational sequences or from the raw release.

Configs:
  csd_aligned    word-aligned GloVe/COVAREP/FACET/OpenFace per labelled segment (seed 001)
  csd_aligned_williams2018  GloVe/COVAREP/FACET only, Williams et al. (2018)'s re-split of train/valid
  csd_unaligned  each modality at its own rate per labelled segment (MulT-style models)
  raw            mel pieces, 48x48 face crops every 500 ms and transcript text per clip (MME2E)

Build (README.md in this folder):
  python -m tfds_builders.build cmu_mosei/csd_aligned --manual_dir=DIR --data_dir=DIR [--option key=value ...]
(the standard folds come from DIR/cmu_mosei_folds.json, an installed mmsdk, or --option folds_file=...).
Every skipped, imputed or non-finite item is counted in `build_report.json`, written into the
dataset version folder and summarised on stdout.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from tfds_builders.cmu_mosei import folds as folds_lib
from tfds_builders.cmu_mosei import sequences
from tfds_builders.cmu_mosei.config import CmuMoseiConfig
from tfds_builders.cmu_mosei.report import MoseiReport
from tfds_builders.common import beam_units

_DESCRIPTION = """CMU-MOSEI (Zadeh et al., ACL 2018): 23,259 labelled YouTube opinion segments with
sentiment in [-3, 3] and six emotion intensities in [0, 3]. Built from the CMU-MultimodalSDK
computational sequences (csd_* configs) or from the raw release (raw config)."""

_CITATION = """@inproceedings{zadeh2018multimodal,
  title={Multimodal Language Analysis in the Wild: {CMU-MOSEI} Dataset and Interpretable Dynamic Fusion Graph},
  author={Zadeh, AmirAli Bagher and Liang, Paul Pu and Poria, Soujanya and Cambria, Erik and Morency, Louis-Philippe},
  booktitle={ACL}, year={2018}}"""


def _tensor(shape, dtype=np.float32) -> tfds.features.Tensor:
  return tfds.features.Tensor(shape=shape, dtype=dtype)


class Builder(tfds.core.GeneratorBasedBuilder):
  """CMU-MOSEI from manually downloaded files (the SDK servers are often unreachable)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "csd_aligned, csd_unaligned and raw configs."}
  BUILDER_CONFIGS = [
      CmuMoseiConfig(name="csd_aligned", kind="csd_aligned",
                     description="SDK word alignment (average per word), then label segments; seed 001."),
      CmuMoseiConfig(name="csd_aligned_williams2018", kind="csd_aligned", split_source="williams2018",
                     modalities=("glove", "covarep", "facet"),
                     description="csd_aligned with Williams et al. (2018)'s modalities and video-level re-split."),
      CmuMoseiConfig(name="csd_unaligned", kind="csd_unaligned",
                     description="Each modality's rows within each label segment, at its own rate."),
      CmuMoseiConfig(name="raw", kind="raw",
                     description="Mel pieces, face crops every 500 ms, transcript and CSD labels per clip (MME2E)."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  csd_* configs: put the CMU-MultimodalSDK files in manual_dir (any sub-folder):
    CMU_MOSEI_TimestampedWordVectors.csd, CMU_MOSEI_COVAREP.csd, CMU_MOSEI_VisualFacet42.csd,
    CMU_MOSEI_VisualOpenFace2.csd, CMU_MOSEI_Labels.csd (+ CMU_MOSEI_TimestampedWords.csd for drop_sp).
  raw config: manual_dir holds CMU_MOSEI_Labels.csd and the unzipped release, either as
    <manual_dir>/Raw/{Audio/Full/WAV_16000, Videos/Full/Combined, Transcript/Segmented/Combined}
    or without the Raw/ level (MME2E's Audio/WAV_16000 and Transcript/Combined names also work).
  Splits: save the standard folds as <manual_dir>/cmu_mosei_folds.json
    ({"train": [...], "valid": [...], "test": [...]} video ids), or pass --option folds_file=<json>,
    or install the CMU-MultimodalSDK (mmsdk), which provides them;
  or use MME2E's lists: --option split_source=mme2e --option mme2e_split_dir=<dir>.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    cfg: CmuMoseiConfig = self.builder_config
    common = {
        "id": tfds.features.Text(),
        "video_id": tfds.features.Text(),
        "interval": _tensor((2,), np.float64),  # [start, end] of the labelled segment, seconds
    }
    if cfg.kind == "raw":
      features = {
          **common,
          "clip": _tensor((), np.int32),
          "text": tfds.features.Text(),
          "mel_pieces": _tensor((None, 128, 32)),
          "num_mel_pieces": _tensor((), np.int32),
          "faces": _tensor((None, 48, 48, 3), np.uint8),
          "num_faces": _tensor((), np.int32),
          "face_found": _tensor((None,), np.bool_),
          "emotions": _tensor((len(sequences.MME2E_EMOTIONS),)),
          "emotion_scores": _tensor((len(sequences.MME2E_EMOTIONS),)),
          "sentiment": _tensor(()),
      }
    else:
      features = {**common, "labels": _tensor((len(sequences.LABEL_NAMES),))}
      for m in cfg.modalities:
        features[m] = _tensor((None, sequences.MODALITIES[m].dim))
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict(features),
        homepage="http://multicomp.cs.cmu.edu/resources/cmu-mosei-dataset/",
        citation=_CITATION,
        description=_DESCRIPTION,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    cfg: CmuMoseiConfig = self.builder_config
    manual_dir = str(dl_manager.manual_dir)
    self._report = report = MoseiReport("cmu_mosei", cfg.name, options=cfg.options())
    report.meta.update({"version": str(self.version), "manual_dir": manual_dir})
    folds = folds_lib.resolve(cfg.folds_file, cfg.split_source, cfg.mme2e_split_dir, base_dir=manual_dir)
    report.meta["folds"] = {"source": folds.source, "videos": folds.sizes()}
    if cfg.split_source == "standard" and folds.sizes() != folds_lib.STANDARD_SIZES:
      # e.g. the PyPI `cmu-multimodal-sdk` copy has 2,250 train ids; worth a look, not an error.
      report.count("folds", "sizes_differ_from_standard_2249_300_678")
    if cfg.kind == "raw":
      from tfds_builders.cmu_mosei.raw_examples import RawExamples  # media deps only for raw
      self._source = RawExamples(manual_dir, cfg, folds, report)
    else:
      from tfds_builders.cmu_mosei.csd_examples import CsdExamples
      self._source = CsdExamples(manual_dir, cfg, folds, report)
    empty = [fold for fold in folds_lib.SPLITS if not self._source.by_split[fold]]
    if empty:
      # TFDS would only say "No examples were yielded" after generating the other splits.
      raise folds_lib.FoldsError(
          f"{folds.source}: no labelled {'clip' if cfg.kind == 'raw' else 'video'} of {manual_dir} falls in "
          f"split(s) {empty}. Check that the folds match this release (build_report counts: "
          f"{dict(report.counts.get('videos', {}))}).")
    self._parts = beam_units.parts_dir_of(self.data_dir)
    self._worker = self._source.worker()
    return {folds_lib.TFDS_SPLIT[fold]: self._generate_examples(fold) for fold in folds_lib.SPLITS}

  def _generate_examples(self, fold: str):
    """One unit per video (.csd configs) or clip (raw): a Beam transform, or in-process without Beam."""
    return beam_units.generate(folds_lib.TFDS_SPLIT[fold], self._source.units(fold), self._worker,
                               self._parts, self._use_beam)

  def _download_and_prepare(self, dl_manager, download_config=None, **kwargs):
    self._use_beam = beam_units.uses_beam(download_config)
    try:
      with beam_units.empty_split_explained(lambda empty: folds_lib.FoldsError(
          f"cmu_mosei/{self.builder_config.name}: split {empty!r} has no example left "
          "(every segment was skipped; reasons in the printed report).")):
        super()._download_and_prepare(dl_manager=dl_manager, download_config=download_config, **kwargs)
    finally:
      if hasattr(self, "_source"):
        self._source.close()
    # `self.data_dir` is TFDS's temporary folder here; it is renamed to the version folder on success.
    report = self._report
    beam_units.replay_parts(report, self._parts, [folds_lib.TFDS_SPLIT[f] for f in folds_lib.SPLITS])
    report.meta["examples_per_split"] = {
        name: int(info.num_examples) for name, info in self.info.splits.items()}
    path = report.write(self.data_dir)
    print(report.summary())
    print(f"{path.name} written into the dataset version folder.")
