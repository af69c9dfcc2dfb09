"""A synthetic, word-aligned CMU-MOSEI-shaped dataset: the built-in sample for the main job.

It has the feature names and widths of `cmu_mosei/csd_aligned` (GloVe 300, FACET 35, COVAREP 74, the
7 labels [sentiment, happy, sad, anger, surprise, disgust, fear]) and segments grouped into videos
(`vid[i]` ids), split by video. Each segment's word count follows real CMU-MOSEI segments (their
measured durations at the speech rate of the transcripts spec §7 measures: median 17 words, a long
tail; mmer_jax/data/real_lengths.py), clipped to [min_words, max_words]. Labels are drawn first and the features are generated from them, so
a model can learn: GloVe words lean towards an emotion direction scaled by its intensity, and FACET /
COVAREP carry an emotion-specific temporal ramp that survives per-instance z-normalisation.
Nothing here comes from the real corpus; it needs no manual_dir.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from mmer_jax.data import real_lengths
from mmer_jax.datasets import synthetic_mosei

LABEL_NAMES = synthetic_mosei.LABEL_NAMES
WIDTHS = synthetic_mosei.FEATURE_DIMS
SPLIT_SHARES = {"train": 0.7, "validation": 0.15, "test": 0.15}


@dataclasses.dataclass
class SyntheticConfig(tfds.core.BuilderConfig):
  num_videos: int = 300
  min_words: int = 1     # segment lengths: real_lengths.cmu_mosei_segment_words, clipped to these
  max_words: int = 300
  seed: int = 20180715


class Builder(tfds.core.GeneratorBasedBuilder):
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Synthetic word-aligned MOSEI-shaped sample.",
                   "1.1.0": "Segment lengths follow real CMU-MOSEI segments (were uniform 8-60 words)."}
  BUILDER_CONFIGS = [SyntheticConfig(name="aligned", description="Word-aligned GloVe/FACET/COVAREP.")]

  def _info(self) -> tfds.core.DatasetInfo:
    features = {name: tfds.features.Tensor(shape=(None, width), dtype=np.float32)
                for name, width in WIDTHS.items()}
    features.update({
        "id": tfds.features.Text(),
        "video_id": tfds.features.Text(),
        "labels": tfds.features.Tensor(shape=(len(LABEL_NAMES),), dtype=np.float32),
    })
    return tfds.core.DatasetInfo(
        builder=self, features=tfds.features.FeaturesDict(features),
        description=__doc__, metadata=tfds.core.MetadataDict(label_names=list(LABEL_NAMES)))

  def _split_generators(self, dl_manager):
    del dl_manager
    cfg = self.builder_config
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(cfg.num_videos)
    bounds = np.cumsum([0] + [int(round(s * cfg.num_videos)) for s in SPLIT_SHARES.values()])
    bounds[-1] = cfg.num_videos
    return {split: self._generate_examples(order[lo:hi])
            for split, lo, hi in zip(SPLIT_SHARES, bounds[:-1], bounds[1:])}

  def _generate_examples(self, video_indices):
    cfg = self.builder_config
    # Fixed "world": emotion directions in each feature space, shared by every split.
    world = np.random.default_rng(cfg.seed + 1)
    directions = {name: world.normal(0, 1, (6, width)).astype(np.float32) / np.sqrt(width) * 4
                  for name, width in WIDTHS.items()}
    vocabulary = world.normal(0, 0.3, (500, WIDTHS["glove"])).astype(np.float32)
    for video in video_indices:
      rng = np.random.default_rng(cfg.seed + 1000 + int(video))
      video_id = f"synth{video:04d}"
      for segment in range(int(rng.integers(1, 6))):
        labels = _draw_labels(rng)
        steps = int(np.clip(real_lengths.cmu_mosei_segment_words(1, rng)[0], cfg.min_words, cfg.max_words))
        emotions = labels[1:] / 3.0
        glove = vocabulary[rng.integers(0, len(vocabulary), steps)] + emotions @ directions["glove"]
        ramp = np.linspace(-1, 1, steps, dtype=np.float32)[:, None]
        example = {
            "glove": glove + rng.normal(0, 0.2, glove.shape),
            "facet": ramp * (emotions @ directions["facet"]) + rng.normal(0, 0.5, (steps, WIDTHS["facet"])),
            "covarep": ramp * (emotions @ directions["covarep"]) + rng.normal(0, 0.5, (steps, WIDTHS["covarep"])),
        }
        example = {k: v.astype(np.float32) for k, v in example.items()}
        example.update({"id": f"{video_id}[{segment}]", "video_id": video_id, "labels": labels})
        yield example["id"], example


def _draw_labels(rng: np.random.Generator) -> np.ndarray:
  """One dominant emotion at 1-3 plus weak others, on MOSEI's 1/3 grid; sentiment from valence."""
  emotions = np.round(rng.uniform(0, 0.7, 6) * rng.integers(0, 2, 6) * 3) / 3
  dominant = rng.choice(6, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05])
  emotions[dominant] = np.round(rng.uniform(1, 3) * 3) / 3
  valence = emotions[0] - emotions[1:].max()
  sentiment = np.clip(np.round(valence * 3) / 3, -3, 3)
  return np.concatenate([[sentiment], emotions]).astype(np.float32)
