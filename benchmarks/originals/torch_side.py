"""The PyTorch originals, loaded from their checkouts, with their own train and eval steps.

Runs in the torch virtualenv (`make venv-torch`). A train step is what the original's loop does
per batch: model.train(), forward, loss, backward, (clip where the original clips), optimiser
step, `loss.item()`; an eval step is model.eval() + no_grad forward + loss + `.item()`. Inputs are
random with the spec's shapes, every sequence at full length; `build_real` instead builds one batch
per step of a real-shape plan, padded by the original's own rule (real_shapes.py).
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import sys
import shutil
import tempfile
import types
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from originals import notebook, real_shapes, torch_shims


@dataclasses.dataclass
class Runner:
  model: nn.Module
  forward: Callable[[], torch.Tensor]  # -> logits
  loss_fn: Callable[[torch.Tensor], torch.Tensor]
  optimizer: torch.optim.Optimizer
  clip: float = 0.0
  info: dict = dataclasses.field(default_factory=dict)

  def train_step(self) -> float:
    self.model.train()
    self.optimizer.zero_grad()
    loss = self.loss_fn(self.forward())
    loss.backward()
    if self.clip:
      torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
    self.optimizer.step()
    return loss.item()

  def eval_step(self) -> float:
    self.model.eval()
    with torch.no_grad():
      return self.loss_fn(self.forward()).item()


def _randn(*shape):
  return torch.randn(*shape, dtype=torch.float32)


def _bce(batch, classes):
  labels = (torch.rand(batch, classes) < 0.3).float()
  return lambda logits: F.binary_cross_entropy_with_logits(logits, labels)


def _ce(batch, classes):
  labels = torch.randint(0, classes, (batch,))
  return lambda logits: F.cross_entropy(logits, labels)


def _on_path(folder: Path) -> None:
  if str(folder) not in sys.path:
    sys.path.insert(0, str(folder))


def _namespace() -> dict:
  # What the notebooks' definition cells reference from their import cells.
  return {"torch": torch, "nn": nn, "F": F, "np": np}


# --- wenliangdai/Multimodal-End2end-Sparse ------------------------------------------------------

def _mme2e_baseline(spec, root, cls_name):
  _on_path(root / "mme2e_upstream")
  torch_shims.install()  # src/utils.py imports torchvision at module level
  d, b = spec.dims, spec.batch
  # The original wraps the sizes in np.array; torch 2.x rejects numpy ints as LSTM sizes (torch 1.x
  # took them), so they go in as an object array, whose elements stay Python ints.
  sizes = np.array([d["text_dim"], d["audio_dim"], d["vision_dim"]], dtype=object)
  args = {"hfc_sizes": sizes, "num_emotions": d["classes"],
          "modalities": "tav", "trans_nlayers": d.get("layers", 2)}
  if cls_name == "LF_RNN":
    from src.models.baselines.lf_rnn import LF_RNN as cls
  else:
    from src.models.baselines.lf_transformer import LF_Transformer as cls
  model = cls(args)
  text = _randn(b, d["text"], d["text_dim"])
  # Audio and vision arrive packed (all utterances' frames stacked) with per-utterance lengths.
  audio, audio_lens = _randn(b * d["audio"], d["audio_dim"]), [d["audio"]] * b
  vision, vision_lens = _randn(b * d["vision"], d["vision_dim"]), [d["vision"]] * b
  forward = lambda: model(vision, vision_lens, audio, audio_lens, text)  # noqa: E731
  return Runner(model, forward, _bce(b, d["classes"]), torch.optim.Adam(model.parameters(), lr=1e-4))


def _albert_folder(tokens: int) -> Path:
  """A randomly initialised ALBERT-base in ./albert-base-v2, the name e2e_t.py loads: no download,
  same architecture as the pretrained one (weights do not change the speed). return_dict=False
  because the original unpacks the output as a tuple (transformers 3.x behaviour)."""
  from transformers import AlbertConfig, AlbertModel
  work = Path(tempfile.mkdtemp(prefix="vs_originals_albert_"))
  atexit.register(shutil.rmtree, work, ignore_errors=True)
  config = AlbertConfig(hidden_size=768, num_attention_heads=12, intermediate_size=3072, embedding_size=128,
                        num_hidden_layers=12, max_position_embeddings=max(512, tokens), return_dict=False)
  AlbertModel(config).save_pretrained(work / "albert-base-v2")
  return work


def _mme2e_upstream(spec, root):
  """Upstream MME2E (src/models/e2e.py) or, for "mesm", its sparse variant (src/models/sparse_e2e.py,
  which needs facebookresearch's sparseconvnet: not on PyPI, so it fails here naming the module)."""
  _on_path(root / "mme2e_upstream")
  torch_shims.install()
  d, b = spec.dims, spec.batch
  os.chdir(_albert_folder(d["tokens"]))
  args = {"num_emotions": d["classes"], "modalities": "tav", "feature_dim": 256, "trans_nlayers": d["layers"],
          "trans_nheads": d["heads"], "trans_dim": d["trans_dim"], "text_model_size": "base",
          "sparse_threshold": d.get("threshold", 0.9)}
  if spec.key == "mesm":
    from src.models.sparse_e2e import MME2E_Sparse as cls
  else:
    from src.models.e2e import MME2E as cls
  model = cls(args, torch.device("cpu"))
  model.mtcnn = torch_shims.PassThroughMTCNN()  # faces go in as crops on both sides (spec note)
  text = {"input_ids": torch.randint(5, 30000, (b, d["tokens"])),
          "attention_mask": torch.ones(b, d["tokens"], dtype=torch.long)}
  faces = torch.rand(b * d["faces"], 48, 48, 3) * 255  # frames x H x W x C, as the loader gives them
  specs = _randn(b * d["pieces"], 1, 128, 32)
  forward = lambda: model(faces, [d["faces"]] * b, specs, [d["pieces"]] * b, text)  # noqa: E731
  return Runner(model, forward, _bce(b, d["classes"]), torch.optim.Adam(model.parameters(), lr=1e-4))


# --- samsungnlp/samsemo ---------------------------------------------------------------------------

def _samsemo(spec, root):
  _on_path(root / "samsemo")
  from src.model_E2E import MME2E
  d, b = spec.dims, spec.batch
  names = [f"e{i}" for i in range(d["classes"])]
  hyp = types.SimpleNamespace(emotions=names, modalities="tav", trans_nlayers=4, trans_nheads=4, trans_dim=64,
                              dropout=0.1)
  model = MME2E(hyp)
  text = _randn(b, 1, d["text_dim"])  # precomputed BERT states; the model reads the CLS row
  specs, spec_lens = _randn(b, d["pieces"], 1, 128, 32), torch.full((b,), d["pieces"])
  faces, face_lens = _randn(b, d["faces"], 3, 48, 48), torch.full((b,), d["faces"])
  forward = lambda: model(text, specs, spec_lens, faces, face_lens)[0]  # noqa: E731
  opt = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-6)
  return Runner(model, forward, _bce(b, d["classes"]), opt, clip=0.8)  # run.py clips at 0.8


# --- ViraAkshat/CS772-Project (seed 002) --------------------------------------------------------

def _cs772(spec, root):
  d, b = spec.dims, spec.batch
  folder = root / "cs772"
  audio, audio_lens = _randn(b, d["audio"], d["audio_dim"]), torch.full((b,), d["audio"], dtype=torch.long)
  text, text_lens = _randn(b, d["text"], d["text_dim"]), torch.full((b,), d["text"], dtype=torch.long)
  units, layers, att, classes = d["units"], d["layers"], d["attention"], d["classes"]
  if spec.key.startswith("unimodal"):
    ns = notebook.load_notebook(folder / "UnimodalClassifiers.ipynb", _namespace())
    if spec.key == "unimodal_audio":
      model = ns["BLSTMWithContextBasedAttention"](d["audio_dim"], units, layers, att, classes)
      forward = lambda: model(audio, audio_lens)  # noqa: E731
    else:
      model = ns["BLSTM_lastblock"](d["text_dim"], units, layers, classes)
      forward = lambda: model(text, text_lens)  # noqa: E731
    return Runner(model, forward, _ce(b, classes), torch.optim.Adam(model.parameters(), lr=1e-4))
  ns = notebook.load_notebook(folder / "MMClassifiers.ipynb", _namespace())
  device = torch.device("cpu")
  if spec.key == "mmb":
    acoustic = ns["BLSTM_avg_pooling"](d["audio_dim"], units, layers, classes)
    lexical = ns["BLSTM_avg_pooling"](d["text_dim"], units, layers, classes)
    model = ns["MultimodalClassifier_baseline"](acoustic.state_dict(), lexical, units, classes, device=device)
    forward = lambda: model(audio, audio_lens, text, text_lens)  # noqa: E731
  else:
    acoustic = ns["BLSTMWithContextBasedAttention"](d["audio_dim"], units, layers, att, classes)
    lexical = ns["BLSTMWithContextBasedAttention"](d["text_dim"], units, layers, att, classes)
    # The constructor loads weights into a bare global `LL_attention_a` (the notebook session had
    # one); give it a throwaway module of the same shape so construction runs as it did there.
    ns["LL_attention_a"] = ns["ContextBasedAttention_mm"](2 * units, att)
    model = ns["MultimodalClassifier_GMU"](acoustic.state_dict(), lexical, units, units, classes, att, device=device)
    forward = lambda: model(audio, audio_lens, text, text_lens)[0]  # noqa: E731
  return Runner(model, forward, _ce(b, classes), torch.optim.Adam(model.parameters(), lr=1e-4))


# --- zamud3164/Emotion_Recognition (seed 003) ---------------------------------------------------

def _acit4630(spec, root):
  d, b = spec.dims, spec.batch
  ns = notebook.load_notebook(root / "acit4630" / "source" / "iemocap_training" / "CNN_v1.ipynb", _namespace())
  model = ns["ResNet1D"](ns["BasicBlock"], [2, 2, 2, 2, 2], num_classes=d["classes"])
  x = _randn(b, 1, d["features"])
  forward = lambda: model(x)[0]  # noqa: E731 - (logits, softmax): the loss takes the logits
  opt = torch.optim.SGD(model.parameters(), lr=0.001, weight_decay=1e-4, momentum=0.4)
  return Runner(model, forward, _ce(b, d["classes"]), opt)


BUILDERS = {
    "lf_rnn": lambda s, r: _mme2e_baseline(s, r, "LF_RNN"),
    "lf_transformer": lambda s, r: _mme2e_baseline(s, r, "LF_Transformer"),
    "mme2e_upstream": _mme2e_upstream,
    "mesm": _mme2e_upstream,
    "samsemo_mme2e": _samsemo,
    "mmmla": _cs772, "mmb": _cs772, "unimodal_audio": _cs772, "unimodal_text": _cs772,
    "resnet1d": _acit4630,
}


def build(spec, originals: Path, threads: int) -> Runner:
  if originals is None:
    raise ValueError("the torch side needs --originals (a folder of the originals' checkouts)")
  torch.set_num_threads(threads)
  torch.manual_seed(0)
  runner = BUILDERS[spec.key](spec, originals)
  runner.info = {"framework": f"torch {torch.__version__}", "threads": torch.get_num_threads(),
                 "params": sum(p.numel() for p in runner.model.parameters())}
  return runner


# --- real-shape mode (real_shapes.py) -------------------------------------------------------------

def _real_inputs(spec, batch: list, shapes: dict) -> Callable[[nn.Module], torch.Tensor]:
  """The batch as the original's data code hands it over (real_shapes.REAL[key] rules): FIXED and
  BATCH_MAX inputs as (b, padded, dim) with their lengths, PACKED ones concatenated + lengths list."""
  d, b = spec.dims, len(batch)
  if spec.key in ("lf_rnn", "lf_transformer"):
    text = _randn(b, shapes["text"], d["text_dim"])
    audio, audio_lens = _randn(sum(shapes["audio"]), d["audio_dim"]), list(shapes["audio"])
    vision, vision_lens = _randn(sum(shapes["vision"]), d["vision_dim"]), list(shapes["vision"])
    return lambda model: model(vision, vision_lens, audio, audio_lens, text)
  if spec.key == "mme2e_upstream":  # tokens padded to the fixed length, faces and mel pieces concatenated
    lengths = torch.tensor([s["text"] for s in batch])
    text = {"input_ids": torch.randint(5, 30000, (b, shapes["text"])),
            "attention_mask": (torch.arange(shapes["text"])[None] < lengths[:, None]).long()}
    faces = torch.rand(sum(shapes["vision"]), 48, 48, 3) * 255
    pieces = _randn(sum(shapes["audio"]), 1, 128, 32)
    return lambda model: model(faces, list(shapes["vision"]), pieces, list(shapes["audio"]), text)
  if spec.key == "samsemo_mme2e":  # the pickle's fixed 16 face and 32 piece slots, masked by lengths
    text = _randn(b, 1, d["text_dim"])
    faces, face_lens = _randn(b, 16, 3, 48, 48), torch.tensor(shapes["vision"])
    pieces, piece_lens = _randn(b, 32, 1, 128, 32), torch.tensor(shapes["audio"])
    return lambda model: model(text, pieces, piece_lens, faces, face_lens)[0]
  seqs = {}
  for name in ("audio", "text"):
    if name in shapes:
      lens = torch.tensor([s[name] for s in batch], dtype=torch.long)
      seqs[name] = (_randn(b, shapes[name], d[f"{name}_dim"]), lens)
  if spec.key == "unimodal_audio":
    return lambda model: model(*seqs["audio"])
  if spec.key == "unimodal_text":
    return lambda model: model(*seqs["text"])
  if spec.key == "mmb":
    return lambda model: model(*seqs["audio"], *seqs["text"])
  return lambda model: model(*seqs["audio"], *seqs["text"])[0]  # mmmla: (logits, attention)


def build_real(spec, originals: Path, threads: int, plan: dict) -> real_shapes.RealRunner:
  """The model as `build` makes it; one step per batch of the plan, in plan order, each batch padded
  by the original's own rule (real_shapes.original_shapes)."""
  runner = build(spec, originals, threads)
  classes = spec.dims["classes"]
  multi_label = spec.key in ("lf_rnn", "lf_transformer", "mme2e_upstream", "samsemo_mme2e")
  loss_for = (lambda b: _bce(b, classes)) if multi_label else (lambda b: _ce(b, classes))

  def steps(phase):
    out = []
    for batch in real_shapes.original_batches(plan, phase):
      call = _real_inputs(spec, batch, real_shapes.original_shapes(spec.key, batch))
      r = Runner(runner.model, lambda call=call: call(runner.model), loss_for(len(batch)), runner.optimizer,
                 runner.clip)
      out.append(r.train_step if phase == "train" else r.eval_step)
    return out

  train, evals = steps("train"), steps("eval")
  info = dict(runner.info,
              padding={p: real_shapes.padding_share(spec.key, plan, p, "original") for p in ("train", "eval")})
  return real_shapes.RealRunner(train, evals, [train[0], evals[0]], {p: len(plan[p]) for p in ("train", "eval")}, info)
