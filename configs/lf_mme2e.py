r"""MME2E's late-fusion baselines LF_RNN and LF_TRANSFORMER on hand-crafted / frozen features.

  python launch.py --config=configs/lf_mme2e.py:model=rnn,data=cmu_mosei --workdir=workdirs/lf_rnn_mosei
  python launch.py --config=configs/lf_mme2e.py:model=transformer,data=cmu_mosei --workdir=workdirs/lf_tr_mosei
  python launch.py --config=configs/lf_mme2e.py:model=rnn,data=iemocap --workdir=workdirs/lf_rnn_iemocap
  python launch.py --config=configs/lf_mme2e.py:smoke --workdir=/tmp/smoke

Data:
- `mosei`: `cmu_mosei/csd_unaligned` (GloVe 300 / COVAREP 74 / FACET 35 per frame), MME2E's six
  emotions [anger, disgust, fear, happy, sad, surprise] present iff the averaged annotation > 0.
  The SDK's standard folds by default; MME2E's own lists (14,524 / 1,765 / 4,188) come from building
  with `--option split_source=mme2e --option mme2e_split_dir=<its MOSEI_SPLIT folder>`.
- `iemocap`: `iemocap/seed002` (frozen BERT token states 768 + ComParE LLDs 65; no visual
  features), MME2E's 6 classes (ang, exc, fru, hap, neu, sad) as one-hot targets. Clean split:
  sessions 1-3 / 4 / 5; MME2E's lists (5,162 / 737 / 1,481) come from building with
  `--option split_dir=<its IEMOCAP_SPLIT folder>` and `input.splits = train/valid/test`.
Upstream's own hand-crafted files (IEMOCAP_HCF_FEATURES, MOSEI_HCF_FEATURES: text 300, audio 144 incl.
2 padding features, FAU 35) are not public; these are the closest features we build.

Upstream README command (both baselines): `-lr=5e-4 -ep=60 -bs=32 --early-stop=8 --loss=bce
--num-emotions=6 --hand-crafted --clip=2`: Adam lr 5e-4, batch 32, 60 epochs, early stopping after 8
epochs without improvement of the average F1 (the unweighted mean of per-emotion F1; `f1_macro`),
gradient norm clipped at 2, BCE with pos_weight = negatives/positives per class from train labels,
per-emotion thresholds tuned on validation over arange(0.05, 1, 0.05) and applied to test.
LF_TRANSFORMER: 2 encoder layers (the CLI default), heads 4 / 2 / 5 for text / audio / vision.
`masked=False` (`faithful` arg) reproduces upstream's unpacked LSTMs and its unmasked text attention.

Reported: upstream's README gives no numbers for these baselines and the paper's tables were not
retrievable here (`seed_models.md` §000); compare with anchors.md B.1 (MOSEI micro-F1 0.53-0.58) and
B.3 (IEMOCAP-6 average F1 ~57 for the end-to-end model, which the baselines should not beat).
"""

from configs import common, mme2e_upstream
from mmer_jax.datasets import cmu_mosei, iemocap

MOSEI_EMOTIONS = list(cmu_mosei.EMOTIONS)
IEMOCAP_CLASSES = list(iemocap.SCHEME_CLASSES["mme2e_6class"])
MODELS = {"rnn": "lf_rnn", "transformer": "lf_transformer"}
DATA = ("cmu_mosei", "iemocap")


def get_config(arg: str | None = None):
  args = common.parse_arg(arg, smoke=False, model="rnn", data="cmu_mosei", faithful=False)
  if args.model not in MODELS or args.data not in DATA:
    raise ValueError(f"model={args.model!r} (use rnn|transformer), data={args.data!r} (use cmu_mosei|iemocap).")
  c = common.base_config()
  c.seed = 0
  c.num_epochs = 60
  c.model_name = MODELS[args.model]
  c.model.num_classes = 6
  c.model.masked = not args.faithful
  c.input.preprocessor = "late_fusion"
  c.input.preprocess.normalize = True
  if args.data == "cmu_mosei":
    c.model.modalities = ["text", "audio", "vision"]
    c.input.tfds_name = "cmu_mosei/csd_unaligned"
    c.input.splits = dict(train="train", valid="validation", test="test")
    c.input.preprocess.max_lengths = dict(text=50, audio=500, vision=150)
    c.task.class_names = list(MOSEI_EMOTIONS)
  else:
    c.model.modalities = ["text", "audio"]
    c.input.tfds_name = "iemocap/seed002"
    c.input.splits = dict(train="session1+session2+session3", valid="session4", test="session5")
    c.input.preprocess.max_lengths = dict(text=128, audio=1000)
    c.input.preprocess.label_scheme = "mme2e_6class"
    c.task.class_names = list(IEMOCAP_CLASSES)
    c.evaluation.slice_by = ["meta/session", "meta/gender"]
  if args.model == "transformer":
    c.model.num_layers = 2
    c.model.num_heads = dict(text=4, audio=2, vision=5)
  c.input.batch_size = 32
  c.input.eval_batch_size = 64
  c.input.cache = True
  mme2e_upstream.multi_label_task(c)
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 5e-4
  c.optimizer.clip_norm = 2.0
  c.evaluation.selection_metric = "f1_macro"
  c.evaluation.mode = "max"
  c.evaluation.early_stopping_patience = 8
  if args.smoke:
    c.num_epochs = 1
    c.input.batch_size = 8
    c.input.eval_batch_size = 16
    c.input.preprocess.max_lengths = {m: 16 for m in c.model.modalities}
    if args.model == "transformer":
      c.model.num_layers = 1
      c.model.dim_feedforward = 32
  return c
