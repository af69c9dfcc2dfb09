"""One home per dataset: what each dataset is, before any code builds or reads it.

One module per dataset (its names and builder configs, label codes and emotion orders, splits,
file-layout constants, modalities, whether a build needs a manual download). Builders, label
schemes, preprocessors and feature readers import these facts from here. A leaf: it imports only
the standard library, so anything in mmer_jax or tfds_builders may depend on it.
"""

from __future__ import annotations

from mmer_jax.datasets import cmu_mosei, iemocap, labelled_audio, manifest, samsemo, synthetic_mosei
from mmer_jax.datasets.dataset import Dataset

DATASETS: dict[str, Dataset] = {m.DATASET.name: m.DATASET for m in (
    cmu_mosei, iemocap, labelled_audio, manifest, samsemo, synthetic_mosei)}
NAMES: tuple[str, ...] = tuple(sorted(DATASETS))


def needs_manual_download(name: str) -> bool:
  """Whether building `name` reads a release the user fetched (unknown names: assume so)."""
  return name not in DATASETS or DATASETS[name].manual_download
