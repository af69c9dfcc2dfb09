"""A folder of wavs plus a CSV of labels (seed 003's generated clips, or any such collection).

Its labels are IEMOCAP's raw codes (so IEMOCAP label schemes apply unchanged); spelled-out emotion
names in the CSV are mapped to codes here. It only ever joins a training split.
"""

from __future__ import annotations

from mmer_jax.datasets.dataset import Dataset

DATASET = Dataset(
    name="labelled_audio",
    configs=("default", "seed003_gan", "seed003_autoencoder"),
    modalities=("audio", "text"),
    manual_download=True)

# Spelled-out emotion names -> IEMOCAP codes (codes themselves are accepted as they are).
LABEL_ALIASES = {
    "anger": "ang", "angry": "ang", "happy": "hap", "happiness": "hap", "excited": "exc",
    "sad": "sad", "sadness": "sad", "frustrated": "fru", "frustration": "fru", "fear": "fea",
    "fearful": "fea", "surprise": "sur", "surprised": "sur", "neutral": "neu", "disgust": "dis",
}
