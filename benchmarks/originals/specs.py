"""Which models are compared with their originals, at which batch and input shapes.

Both sides build their random inputs from the same `dims` (all sequences full length: the
originals take lengths as lists, so a shared fixed length keeps the work identical). Real-shape
mode (real_shapes.py) draws per-sample lengths instead, for the models it lists. The
original's code is read at run time from `<originals>/<original>/` at the commit below
(../shared/specs/originals.tsv); nothing of it lives in this repository.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

# originals.tsv: key -> (GitHub repository, pinned commit)
ORIGINALS = {
    "samsemo": ("samsungnlp/samsemo", "b0bb99fae040141b691f74dcbcd7f71b4700e282"),
    "mme2e_upstream": ("wenliangdai/Multimodal-End2end-Sparse", "a1bb2e818db76cb887052d82916a6dcf012170ed"),
    "cs772": ("ViraAkshat/CS772-Project", "f736ed35f832edf8718054e5f7cfd5ef7b0aced4"),
    "acit4630": ("zamud3164/Emotion_Recognition", "e51b6420ea3c9aab3d81e39e67ce99d0d1fcabaf"),
    "williams": ("helenetran3/MER-experiments", "63e20eca448ea1ac838ae265043ca29b886a8203"),
    "semor": ("Ruddy202/multimodal-SEmoR", "dab9904dcc663a0f0f13e2bb80473093e07c9bf6"),
}
ORIGINAL_KEYS = frozenset(ORIGINALS)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  key: str
  title: str
  framework: str          # the original's: "torch" | "keras"
  original: str           # key in ORIGINALS
  batch: int
  shapes: str             # for the table
  dims: dict              # shared by both sides' input builders
  steps: int = 5          # timed train steps and eval steps per round (default; --steps overrides)
  warmup: int = 2         # untimed train and eval steps per process (jax compiles in the first)
  restart_each_round: bool = False  # both sides' peak memory does not fit at once: one process at a time
  note: str = ""
  # Real-shape mode draws its samples at random: a round of one small batch can sit far from the
  # distribution's mean (SAMSEMO, one batch of 16: 3.7 s scenes for a 5.65 s mean, ratio 0.53 where
  # three batches gave 0.86). None: `steps`.
  real_steps: Optional[int] = None

  def steps_for(self, lengths: str) -> int:
    return self.real_steps if lengths == "real" and self.real_steps else self.steps


_MOSEI = dict(text=20, audio=450, vision=135, text_dim=300, audio_dim=74, vision_dim=35, classes=6)
_SEED002 = dict(audio=451, audio_dim=65, text=32, text_dim=768, classes=4, units=128, layers=2, attention=64)

SPECS = {s.key: s for s in [
    ModelSpec("lf_rnn", "LF-RNN", "torch", "mme2e_upstream", 32, "MOSEI lengths 20/450/135", _MOSEI, steps=10),
    ModelSpec("lf_transformer", "LF-Transformer", "torch", "mme2e_upstream", 32, "MOSEI lengths 20/450/135",
              {**_MOSEI, "layers": 2}, steps=4),
    ModelSpec("mme2e_upstream", "upstream MME2E (ALBERT-base, random init)", "torch", "mme2e_upstream", 8,
              "100 tokens, 8 faces, 12 mel pieces",
              dict(tokens=100, faces=8, pieces=12, classes=6, trans_dim=64, layers=4, heads=4), steps=2,
              note="face detection (MTCNN) is excluded on both sides: faces go in as 48x48 crops"),
    ModelSpec("mesm", "MESM (upstream sparse MME2E)", "torch", "mme2e_upstream", 2,
              "100 tokens, 8 faces, 12 mel pieces",
              dict(tokens=100, faces=8, pieces=12, classes=6, trans_dim=64, layers=4, heads=4, threshold=0.9), steps=2,
              note="the original needs sparseconvnet (facebookresearch/SparseConvNet, not on PyPI)"),
    ModelSpec("samsemo_mme2e", "SAMSEMO MME2E", "torch", "samsemo", 16, "16 faces, 32 mel pieces",
              dict(faces=16, pieces=32, classes=5, text_dim=768), steps=1, warmup=1, restart_each_round=True,
              real_steps=3),
    ModelSpec("mmmla", "002 MMMLA", "torch", "cs772", 32, "451 frames, 32 tokens", _SEED002, steps=5),
    ModelSpec("mmb", "002 MM-B", "torch", "cs772", 32, "451 frames, 32 tokens", _SEED002, steps=5),
    ModelSpec("unimodal_audio", "002 acoustic BLSTM + attention", "torch", "cs772", 32, "451 frames",
              _SEED002, steps=5),
    ModelSpec("unimodal_text", "002 lexical BLSTM, last block", "torch", "cs772", 32, "32 tokens", _SEED002, steps=10),
    ModelSpec("resnet1d", "003 ResNet1D", "torch", "acit4630", 32, "2740 features", dict(features=2740, classes=6),
              steps=5),
    ModelSpec("williams", "001 EF-BLSTM (Keras)", "keras", "williams", 32, "45 steps x 409 features",
              dict(steps=45, features=409, outputs=7, layers=1, nodes=100, dropout=0.2), steps=20),
    ModelSpec("semor_mocap_cnn", "004 MoCap CNN head 1A (Keras)", "keras", "semor", 100, "MoCap 200x189",
              dict(frames=200, features=189, classes=4), steps=1, warmup=1, restart_each_round=True,
              note="the MoCap-only head (Mocap_Rotate_Adam.ipynb create_model_1); the BERT / wav2vec2 heads load "
                   "TF-Hub and bert-for-tf2 weights at build time, which this offline harness cannot fetch. "
                   "Runs at the notebook's batch 100 since the max-pool gradient stopped materialising "
                   "index arrays (XLA temporaries 35 -> 11 GB; mmer_jax/models/layers/pooling.py)"),
]}
