"""A dataset built from the user's own manifest (a table of clips: README "Your own data").

Its classes are whatever label columns the user named; each is stored as `label_<key>` and described
(column, kind, class order) in the build's metadata, which `mmer_jax/data/manifest_task.py` reads.
"""

from __future__ import annotations

from mmer_jax.datasets.dataset import Dataset

DATASET = Dataset(
    name="manifest",
    configs=("default",),
    modalities=("audio", "text", "vision"),
    manual_download=True)

LABEL_PREFIX = "label_"   # a label column `<key>` is stored as `label_<key>`
