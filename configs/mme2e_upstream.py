r"""Upstream MME2E (Dai et al., NAACL 2021; wenliangdai/Multimodal-End2end-Sparse) on IEMOCAP or CMU-MOSEI.

  python -m tfds_builders.build iemocap/mme2e --manual_dir=<IEMOCAP_full_release> --data_dir=~/tensorflow_datasets
  python launch.py --config=configs/mme2e_upstream.py:dataset=iemocap --config.text.checkpoint=/models/albert-base-v2 \
      --workdir=workdirs/mme2e_iemocap
  python launch.py --config=configs/mme2e_upstream.py:dataset=iemocap,split=lists --config.text.checkpoint=... \
      --workdir=workdirs/mme2e_iemocap_lists     # MME2E's own split lists, see below
  python launch.py --config=configs/mme2e_upstream.py:dataset=cmu_mosei --config.text.checkpoint=... --workdir=...
  python launch.py --config=configs/mme2e_upstream.py:mods=va --workdir=...      # no text, no checkpoint
  python launch.py --config=configs/mme2e_upstream.py:smoke --config.text.checkpoint=<folder> --workdir=/tmp/smoke

README command: -lr=5e-5 -ep=40 -mod=tav -bs=8 --img-interval=500 --early-stop=6 --loss=bce
--num-emotions=6 --trans-dim=64 --trans-nlayers=4 --trans-nheads=4 --text-lr-factor=10
--text-model-size=base --text-max-len=100. So: ALBERT-base fine-tuned on token ids, it and the text
head at lr/10 (`config.text.encoder_lr_factor` 0.1 -> `param_group_lr`), CNNs without dropout, Adam
without weight decay, BCE with pos_weight = neg/pos from the train labels, thresholds per emotion
tuned on validation over arange(0.05, 1, 0.05) and applied to test, selection and early stopping
(patience 6) on the unweighted mean F1.

Text (`text=`): `finetune` (default, upstream's): `config.text.checkpoint` is a local ALBERT (or any
BERT-family) folder with config.json + flax_model.msgpack or model.safetensors and its tokenizer
(`albert=<folder>` is an alias); max length 100 (`config.text.max_length`). `frozen`: the builder's
frozen features (`text_pooled`; build with `--option text_checkpoint=<folder>` and train on the
`<config>_<hash>` name it prints); the text head then learns at the full rate.
`recipe=seed` (default) trains as upstream did (Adam 5e-5, encoder and text head at x0.1 = 5e-6);
`recipe=adamw` uses the usual BERT-family fine-tuning recipe instead (configs/common.py
`finetune_optimizer`: AdamW 1e-4 for the CNNs and heads, encoder at x0.3 = 3e-5, decay 0.01 except
biases and norm scales, 6% warm-up then linear decay, clipping at 1); no figures for it yet.

Data: `iemocap/mme2e` (mel pieces + faces). `split=sessions` (default): train Sessions 1-3, select on
Session 4, test on Session 5 (speaker-independent), with per-session and per-gender tables.
`split=lists`: MME2E's own lists (5162/737/1481, speakers shared across splits), built with
`--option split_dir=<its IEMOCAP_SPLIT folder> --name=mme2e_lists`. Labels ang, exc, fru, hap, neu, sad
one-hot. `dataset=cmu_mosei`: `cmu_mosei/raw` (anger, disgust, fear, happy, sad, surprise; binarised > 0).

Reported: IEMOCAP 6-class average per-emotion accuracy 84.5 (paper, via issue #15, MME2E's lists); the
average F1 57.69 listed for the paper on a leaderboard (variant not stated). No verified MOSEI
figures; none measured for `split=sessions`.
"""

from configs import common, mme2e_samsemo
from mmer_jax.datasets import cmu_mosei, iemocap

DATASETS = {
    "iemocap": dict(tfds_name="iemocap/mme2e", class_names=list(iemocap.SCHEME_CLASSES["mme2e_6class"])),
    "cmu_mosei": dict(tfds_name="cmu_mosei/raw", class_names=list(cmu_mosei.EMOTIONS),
                  splits=dict(train="train", valid="validation", test="test")),
}
RECIPES = ("seed", "adamw")
IEMOCAP_SPLITS = {
    "sessions": ("iemocap/mme2e", dict(train="session1+session2+session3", valid="session4", test="session5")),
    "lists": ("iemocap/mme2e_lists", dict(train="train", valid="valid", test="test")),
}
TEXT_HEAD_GROUP = "^(text_encoder|t_out)/"  # --text-lr-factor applies to the encoder and its head


def multi_label_task(c) -> None:
  """MME2E's task and loss (upstream main.py, shared by its baselines): multi-label BCE with
  pos_weight = negatives/positives per class on train, per-emotion thresholds tuned on validation
  over arange(0.05, 1, 0.05)."""
  c.task.type = "multi_label"
  c.task.threshold_step = 0.05
  c.loss.name = "sigmoid_bce"
  c.loss.pos_weight = "auto"


def upstream_config(args, model_name: str):
  common.check_choices(args, dataset=DATASETS, recipe=RECIPES, split=IEMOCAP_SPLITS)
  d = DATASETS[args.dataset]
  finetune = args.text == "finetune"
  c = common.base_config()
  c.seed = 0
  c.num_epochs = 40
  factor = {"seed": 0.1, "adamw": 0.3}[args.recipe] if finetune else 0.0
  c.text = common.text_section(args.text, checkpoint=args.albert, encoder_lr_factor=factor, max_length=100)
  c.model_name = model_name
  c.model.num_classes = len(d["class_names"])
  c.model.modalities = args.mods
  c.model.trans_dim, c.model.trans_layers, c.model.trans_heads = 64, 4, 4
  c.model.dropout = 0.1
  c.input.preprocessor = "mme2e"
  c.input.preprocess.text_input = "pooled"
  if args.dataset == "iemocap":
    c.input.tfds_name, c.input.splits = IEMOCAP_SPLITS[args.split]
    c.input.preprocess.meta_keys = ["id", "session", "gender"]
    c.evaluation.slice_by = ["meta/session", "meta/gender"]
  else:
    c.input.tfds_name, c.input.splits = d["tfds_name"], dict(d["splits"])
  c.input.batch_size = 8
  c.input.eval_batch_size = 8
  multi_label_task(c)
  c.task.class_names = d["class_names"]
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 5e-5
  c.optimizer.weight_decay = 0.0
  if finetune and "t" in args.mods:
    c.model.text_encoder = c.text.get_ref("checkpoint")
    c.model.text_pooling = c.text.get_ref("pooling")  # None: ALBERT's CLS, as upstream
    c.input.max_buckets = common.text_max_buckets(args.mods)
    c.input.preprocess.text_input = "ids"
    c.input.preprocess.tokenizer = c.text.get_ref("checkpoint")
    c.input.preprocess.text_max_length = c.text.get_ref("max_length")
    if args.recipe == "adamw":
      common.finetune_optimizer(c, "^text_encoder/", learning_rate=1e-4)
    else:
      c.optimizer.param_group_lr = {TEXT_HEAD_GROUP: c.text.get_ref("encoder_lr_factor")}
  c.evaluation.selection_metric = "f1_macro"
  c.evaluation.mode = "max"
  c.evaluation.early_stopping_patience = 6
  return c


def parse(arg, **extra):
  return common.parse_arg(arg, smoke=False, dataset="iemocap", mods="tav", text="finetune", albert="",
                          split="sessions", recipe="seed", **extra)


def get_config(arg: str | None = None):
  args = parse(arg)
  c = upstream_config(args, "mme2e")
  c.model.variant = "upstream"
  c.input.pack_items = mme2e_samsemo.pack_items(args.mods)
  if args.smoke:  # seconds on the builder's fixture (3-6 utterances per session)
    c.num_epochs = 1
    c.input.batch_size = c.input.eval_batch_size = 2
    c.text.max_length = 16
    c.input.max_buckets = 1  # one text shape: one compile of the CNNs (as pack_items below)
    c.input.preprocess.max_faces = c.input.preprocess.max_pieces = 4  # per utterance: small CNN batches
    c.input.pack_items = {key: [1.0] for key in c.input.pack_items}  # one shape: one compile
    c.model.cnn_channels = (8, 8, 8, 16, 16, 16)
    c.model.flatten_hidden = 32
    c.model.trans_dim, c.model.trans_layers, c.model.trans_ff = 16, 1, 32
  return c
