"""IEMOCAP (USC SAIL): label codes, the label schemes' class orders, sessions and the release layout.

The builder (`tfds_builders/iemocap`) stores every raw EmoEvaluation majority code; the label schemes
(`mmer_jax.data.label_schemes`) map codes to the classes listed here.
"""

from __future__ import annotations

import os

from mmer_jax.datasets.dataset import Dataset

DATASET = Dataset(
    name="iemocap",
    configs=("full", "mme2e", "seed002", "seed003", "seed004", "labels_text"),
    modalities=("audio", "text", "vision", "mocap"),
    manual_download=True)

# Every majority code of the EmoEvaluation summary lines. The builder's ClassLabel uses this order.
CODES: tuple[str, ...] = ("ang", "hap", "exc", "sad", "fru", "fea", "sur", "neu", "dis", "oth", "xxx")
# Full corpus counts per code (10,039 utterances), used to document and sanity-check the schemes.
CODE_COUNTS: dict[str, int] = {
    "xxx": 2507, "fru": 1849, "neu": 1708, "ang": 1103, "sad": 1084, "exc": 1041, "hap": 595,
    "sur": 107, "fea": 40, "oth": 3, "dis": 2}

# Class orders of the label schemes (index order), and the further codes a scheme folds into a class.
SIX_CLASSES = ("ang", "exc", "fru", "hap", "neu", "sad")   # MME2E / conversation-emotion order
SCHEME_CLASSES: dict[str, tuple[str, ...]] = {
    "iemocap_4class": ("ang", "hap", "neu", "sad"),        # seed 002's alphabetical LabelEncoder
    "seed004_4class": ("neu", "ang", "exc", "sad"),        # seed 004's MoCap/fusion order
    "mme2e_6class": SIX_CLASSES,
    "iemocap_6class": SIX_CLASSES,
    "seed003_6class": ("ang", "hap", "sad", "fea", "sur", "neu"),
}
SCHEME_MERGES: dict[str, dict[str, str]] = {
    "iemocap_4class": {"exc": "hap"},
    "seed003_6class": {"exc": "hap", "fru": "sad"},        # the seed's "change 7 to 2"
}

NUM_SESSIONS = 5
# Category words of the categorical evaluator lines, in the order of the stored vote vector.
VOTE_CATEGORIES = ("Neutral", "Anger", "Happiness", "Excited", "Sadness", "Frustration", "Fear",
                   "Surprise", "Disgust", "Other")

# Motion capture: value columns per stream (rotated 55 markers x XYZ, head rotation + translation,
# hand 6 markers x XYZ) and the folder of each under `Session<n>/dialog/`.
MOCAP_STREAM_WIDTHS = {"rotated": 165, "head": 6, "hand": 18}
MOCAP_STREAM_DIRS = {"rotated": "MOCAP_rotated", "head": "MOCAP_head", "hand": "MOCAP_hand"}


def session_split(session: int) -> str:
  """The TFDS split of one session (`session1` .. `session5`; LOSO folds join them with `+`)."""
  return f"session{session}"


def dialog_mocap_name(dialog: str) -> str:
  """The MoCap file stem of a dialog: `Ses05M_script01_1b` is stored as `Ses05M_script01_1`."""
  return "Ses05M_script01_1" if dialog == "Ses05M_script01_1b" else dialog


def dialog_mocap_path(session_dir: str | os.PathLike, dialog: str, stream: str) -> str:
  if stream not in MOCAP_STREAM_DIRS:
    raise ValueError(f"Unknown MoCap stream {stream!r}; choose from {sorted(MOCAP_STREAM_DIRS)}.")
  return os.path.join(os.fspath(session_dir), "dialog", MOCAP_STREAM_DIRS[stream],
                      dialog_mocap_name(dialog) + ".txt")

# Where an utterance sits in its conversation, in the builder's stored fields: a dialog's turns are
# ordered by their start time, and the speaker is the actor's F/M letter that `gender` stores (the
# letter of the utterance id's last part).
DIALOG_ORDER_FIELD = "start"
SPEAKER_FIELD = "gender"
SPEAKER_NAMES: tuple[tuple[str, str], ...] = (("F", "Female"), ("M", "Male"))
