r"""Williams et al. early-fusion BiLSTM with seed 001's settings on CMU-MOSEI (`cmu_mosei/csd_aligned`).

Build the word-aligned data once from the CMU-MultimodalSDK .csd files (see
tfds_builders/cmu_mosei/README.md; the standard folds come from <manual_dir>/cmu_mosei_folds.json
or an installed mmsdk), then train:

  python -m tfds_builders.build cmu_mosei/csd_aligned --manual_dir=~/data/cmu_mosei_csd \
      --data_dir=~/tensorflow_datasets
  python launch.py --config=configs/williams_mosei.py --workdir=workdirs/williams_mosei
  python launch.py --config=configs/williams_mosei.py:smoke --workdir=/tmp/smoke   # a quick check

Settings are seed 001's `run_cluster.sh`: s=45 words (keep the last 45, zero-pad at the end),
1 BiLSTM(64) layer, 100 nodes, dropout 0.2, linear output over the 7 labels [sentiment, 6 emotions],
MAE loss, Adam 1e-3, batch 32, 2 epochs with early stopping on validation loss (patience 1),
FACET as the visual features, per-segment z-normalisation of FACET and COVAREP. Evaluation drops the
sentiment column and adds the neutral class, as the seed does. The seed's input-pipeline bug (its
tf.data shuffle/batch/repeat results are discarded, so each "epoch" sees N/32 single examples) is
not reproduced: batches really hold 32 segments.

Expected result: the seed repository reports no numbers and the real data is not available on the
project machine, so none has been measured here; Williams et al. (2018) report an overall MAE of
0.12 with their own split and features of the time (see configs/williams_mosei_paper.py).
"""

from configs import common
from mmer_jax.datasets import cmu_mosei

VISUALS = ("facet", "openface")


def get_config(arg: str | None = None):
  args = common.parse_arg(arg, smoke=False, visual="facet")
  if args.visual not in VISUALS:
    raise ValueError(f"visual={args.visual!r}; use one of {', '.join(VISUALS)}.")
  c = common.base_config()
  c.seed = 1122017
  c.num_epochs = 2
  c.model_name = "williams_ef_blstm"
  c.model.num_outputs = 7
  c.model.num_layers = 1
  c.model.num_nodes = 100
  c.model.dropout = 0.2
  c.model.final_activation = "linear"
  c.input.tfds_name = "cmu_mosei/csd_aligned"
  c.input.data_dir = "~/tensorflow_datasets"
  c.input.build_if_missing = False   # needs the user's .csd files (--manual_dir)
  c.input.preprocessor = "williams_ef"
  c.input.preprocess.steps = 45
  c.input.preprocess.visual = args.visual   # "facet" (seed default) or "openface"
  c.input.preprocess.pad = "end"
  c.input.batch_size = 32
  c.input.eval_batch_size = 64
  c.task.type = "regression"
  c.task.class_names = list(cmu_mosei.LABEL_NAMES)
  c.task.eval_from_column = 1      # the seed scores the 6 emotions, dropping sentiment
  c.task.neutral_class = True      # --predict_neutral_class
  c.loss.name = "mae"
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.evaluation.selection_metric = "loss"
  c.evaluation.mode = "min"
  c.evaluation.early_stopping_patience = 1
  if args.smoke:  # seconds on the builder's fixture (a few dozen segments per split)
    c.num_epochs = 1
    c.input.batch_size = 8
    c.input.preprocess.steps = 20
    c.model.num_nodes = 16
  return c
