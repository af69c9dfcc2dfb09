"""The synthetic, word-aligned CMU-MOSEI-shaped sample: the built-in data of the main job.

It has the feature names, widths and 7 labels of `cmu_mosei/csd_aligned`, so those facts are
CMU-MOSEI's (`mmer_jax.datasets.cmu_mosei`); it is generated, so a build needs no download.
"""

from __future__ import annotations

from mmer_jax.datasets import cmu_mosei
from mmer_jax.datasets.dataset import Dataset

DATASET = Dataset(
    name="synthetic_mosei",
    configs=("aligned",),
    modalities=("text", "audio", "vision"),
    manual_download=False)

LABEL_NAMES = cmu_mosei.LABEL_NAMES
# Its features: those of csd_aligned without OpenFace, in the order the generator draws them (a
# different order would change every generated number).
FEATURE_DIMS = {name: cmu_mosei.FEATURE_DIMS[name] for name in ("glove", "facet", "covarep")}
