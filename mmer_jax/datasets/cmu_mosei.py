"""CMU-MOSEI (Zadeh et al., ACL 2018): its forms, label columns, emotion order, splits and features.

The builder (`tfds_builders/cmu_mosei`) reads the SDK's computational sequences (.csd) or the raw
release; `tfds_builders/cmu_mosei/sequences.py` names the .csd files behind each feature.
"""

from __future__ import annotations

from mmer_jax.datasets.dataset import Dataset

DATASET = Dataset(
    name="cmu_mosei",
    configs=("csd_aligned", "csd_aligned_williams2018", "csd_unaligned", "raw"),
    modalities=("text", "audio", "vision"),
    manual_download=True)

# Column order of the 7 CSD labels (SDK README, maintainer).
LABEL_NAMES = ("sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear")
# The six emotion columns in CSD order (the regression targets of Williams et al.).
CSD_EMOTIONS = LABEL_NAMES[1:]
# MME2E's emotion order; an emotion is present when its averaged annotation is > 0.
EMOTIONS = ("anger", "disgust", "fear", "happy", "sad", "surprise")
# The CSD label column of each emotion in EMOTIONS order: (3, 5, 6, 1, 2, 4).
EMOTION_COLUMNS = tuple(LABEL_NAMES.index(e) for e in EMOTIONS)

# Feature dimension D of each .csd sequence (the feature name is the TFDS example key).
FEATURE_DIMS = {"glove": 300, "covarep": 74, "facet": 35, "openface": 713}

# The SDK's folds and the TFDS split each becomes (the project's configs read `validation`, as TFDS
# datasets do).
FOLDS = ("train", "valid", "test")
TFDS_SPLIT = {"train": "train", "valid": "validation", "test": "test"}
