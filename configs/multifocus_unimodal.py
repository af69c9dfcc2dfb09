r"""Seed 002 unimodal BLSTM models (acoustic or lexical), one table row per (modality, pooling).

  python launch.py --config=configs/multifocus_unimodal.py:modality=audio,pooling=attention \
      --workdir=workdirs/mf_audio_attention
  python launch.py --config=configs/multifocus_unimodal.py:modality=text,pooling=cls --workdir=...
  python launch.py --config=configs/multifocus_unimodal.py:modality=audio,pooling=mean,protocol=faithful ...
  python launch.py --config=configs/multifocus_unimodal.py:modality=text,pooling=attention,labels=iemocap_6class ...
  python launch.py --config=configs/multifocus_unimodal.py:smoke --workdir=/tmp/smoke

modality: audio (65 ComParE LLDs) | text (768-d BERT token states); pooling: last | mean |
attention (| cls for text). Model: 2-layer BiLSTM(128) -> pooling -> Linear(256, 4). Seed settings:
Adam lr 1e-4, batch 32; acoustic 15 epochs; lexical 10 epochs with weight decay 1e-5 (PyTorch
coupled L2). Data and protocols: see configs/multifocus_common.py.
`labels=` any single-label IEMOCAP scheme of mmer_jax/data/label_schemes.py: iemocap_4class (default,
the seed's: ang, hap+exc, neu, sad), iemocap_6class (ang exc fru hap neu sad), seed003_6class,
seed004_4class; the head gets one output per class (no seed figures for the others).

The fusion configs start from these runs: MM-B from the `mean` runs, MMMLA from the `attention`
runs (their `encoder` parameters are copied; see configs/multifocus_mmb.py, multifocus_mmmla.py).

Reported TEST results of the seed README (random 80/20, best test epoch; WA = accuracy,
UA = balanced accuracy, then per-class recall ang/hap/neu/sad, %):
  audio last       loss 1.1296  WA 49.82  UA 50.03  | 38.79 38.44 57.91 64.97
  audio mean       loss 1.0815  WA 54.98  UA 54.45  | 37.38 49.38 63.00 68.02
  audio attention  loss 0.959   WA 60.05  UA 60.89  | 61.21 46.88 65.42 70.05
  text  last       loss 0.9051  WA 63.04  UA 61.50  | 56.54 68.12 67.02 54.31
  text  cls        loss 0.9369  WA 63.13  UA 63.18  | 62.62 65.00 61.66 63.45
  text  mean       loss 1.0551  WA 62.68  UA 60.56  | 52.34 70.31 67.83 51.78
  text  attention  loss 0.9641  WA 63.13  UA 64.83  | 73.36 55.62 59.79 70.56
Expect the clean (session-held-out) protocol to score lower than these.
"""

from configs import common, multifocus_common

REPORTED_TEST = {  # (modality, pooling) -> (WA %, UA %)
    ("audio", "last"): (49.82, 50.03), ("audio", "mean"): (54.98, 54.45),
    ("audio", "attention"): (60.05, 60.89), ("text", "last"): (63.04, 61.50),
    ("text", "cls"): (63.13, 63.18), ("text", "mean"): (62.68, 60.56),
    ("text", "attention"): (63.13, 64.83),
}


def get_config(arg: str | None = None):
  args = common.parse_arg(arg, smoke=False, modality="audio", pooling="attention", protocol="clean",
                          labels="iemocap_4class")
  if (args.modality, args.pooling) not in REPORTED_TEST:
    raise ValueError(f"modality={args.modality!r}, pooling={args.pooling!r} is not a seed row; "
                     f"rows: {sorted(REPORTED_TEST)}.")
  c = multifocus_common.base(args, modalities=(args.modality,), labels=args.labels)
  c.model_name = "multifocus_unimodal"
  c.model.modality = args.modality
  c.model.pooling = args.pooling
  c.model.units = 128
  c.model.num_layers = 2
  c.model.attention_dim = 64
  if args.modality == "audio":
    c.num_epochs = 15
  else:
    c.num_epochs = 10
    c.optimizer.weight_decay = 1e-5
  if args.smoke:
    multifocus_common.shrink_for_smoke(c)
  return c
