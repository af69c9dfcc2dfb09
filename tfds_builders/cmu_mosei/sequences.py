"""The standard CMU-MOSEI computational sequences: file names, root groups and dimensions."""

from __future__ import annotations

import dataclasses

from mmer_jax.datasets import cmu_mosei


@dataclasses.dataclass(frozen=True)
class SequenceSpec:
  key: str                        # feature name in the TFDS examples
  file_names: tuple[str, ...]     # standard SDK file names (first match wins)
  root_names: tuple[str, ...]     # top-level group names, used when a file was renamed
  dim: int | None                 # feature dimension D (None: words, stored as bytes)


MODALITIES: dict[str, SequenceSpec] = {
    "glove": SequenceSpec("glove", ("CMU_MOSEI_TimestampedWordVectors.csd",), ("glove_vectors",),
                          cmu_mosei.FEATURE_DIMS["glove"]),
    "covarep": SequenceSpec("covarep", ("CMU_MOSEI_COVAREP.csd",), ("COVAREP",), cmu_mosei.FEATURE_DIMS["covarep"]),
    "facet": SequenceSpec("facet", ("CMU_MOSEI_VisualFacet42.csd",), ("FACET 4.2", "FACET_4.2"),
                          cmu_mosei.FEATURE_DIMS["facet"]),
    "openface": SequenceSpec("openface", ("CMU_MOSEI_VisualOpenFace2.csd",), ("OpenFace_2", "OpenFace2.0"),
                             cmu_mosei.FEATURE_DIMS["openface"]),
}
LABELS = SequenceSpec("labels", ("CMU_MOSEI_Labels.csd",), ("All Labels",), len(cmu_mosei.LABEL_NAMES))
WORDS = SequenceSpec("words", ("CMU_MOSEI_TimestampedWords.csd",), ("words",), None)

# The text reference of the SDK's "align to words" recipe (Williams et al.: align('glove_vectors')).
WORD_REFERENCE = "glove"
# The CSD label columns, MME2E's emotion order and the CSD column of each are CMU-MOSEI's facts.
LABEL_NAMES = cmu_mosei.LABEL_NAMES
MME2E_EMOTIONS = cmu_mosei.EMOTIONS
MME2E_FROM_CSD = cmu_mosei.EMOTION_COLUMNS
SILENCE_TOKEN = b"sp"
