"""The standard CMU-MOSEI computational sequences: file names, root groups and dimensions."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class SequenceSpec:
  key: str                        # feature name in the TFDS examples
  file_names: tuple[str, ...]     # standard SDK file names (first match wins)
  root_names: tuple[str, ...]     # top-level group names, used when a file was renamed
  dim: int | None                 # feature dimension D (None: words, stored as bytes)


MODALITIES: dict[str, SequenceSpec] = {
    "glove": SequenceSpec("glove", ("CMU_MOSEI_TimestampedWordVectors.csd",), ("glove_vectors",), 300),
    "covarep": SequenceSpec("covarep", ("CMU_MOSEI_COVAREP.csd",), ("COVAREP",), 74),
    "facet": SequenceSpec("facet", ("CMU_MOSEI_VisualFacet42.csd",), ("FACET 4.2", "FACET_4.2"), 35),
    "openface": SequenceSpec("openface", ("CMU_MOSEI_VisualOpenFace2.csd",), ("OpenFace_2", "OpenFace2.0"), 713),
}
LABELS = SequenceSpec("labels", ("CMU_MOSEI_Labels.csd",), ("All Labels",), 7)
WORDS = SequenceSpec("words", ("CMU_MOSEI_TimestampedWords.csd",), ("words",), None)

# The text reference of the SDK's "align to words" recipe (Williams et al.: align('glove_vectors')).
WORD_REFERENCE = "glove"
# Column order of the 7 CSD labels (SDK README, maintainer).
LABEL_NAMES = ("sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear")
# MME2E's emotion order and the CSD label column of each: [anger, disgust, fear, happy, sad, surprise].
MME2E_EMOTIONS = ("anger", "disgust", "fear", "happy", "sad", "surprise")
MME2E_FROM_CSD = tuple(LABEL_NAMES.index(e) for e in MME2E_EMOTIONS)  # (3, 5, 6, 1, 2, 4)
SILENCE_TOKEN = b"sp"
