r"""Williams et al. (2018) early-fusion BiLSTM on the built-in synthetic MOSEI-shaped sample.

The main job (`make demo`) builds the synthetic sample into <workdir>/data, trains, evaluates the best
checkpoint and writes <workdir>/report/report.md with tables and PNG plots:

  python launch.py --config=configs/williams_sample.py --workdir=workdirs/demo
  python launch.py --config=configs/williams_sample.py:smoke --workdir=/tmp/smoke   # seconds

Settings are seed 001's (`run_cluster.sh`): s=45 words, 1 BiLSTM(64) layer, 100 nodes, dropout 0.2,
linear output over the 7 labels, MAE loss, Adam 1e-3, batch 32, selection on validation loss; the
seed's 2 epochs are raised to 15 with early stopping (patience 3) because the sample is small.

Expected result (measured on the 2-core CPU, see README): emotion MAE ~0.17 on validation and test,
against 0.54 for predicting the training mean (0.49 for the median); ~35 s end to end including the
build, ~1,100 train samples/s in steady state.
"""

from configs import common


def get_config(arg: str | None = None):
  args = common.parse_arg(arg, smoke=False)
  c = common.base_config()
  c.seed = 1122017
  c.num_epochs = 15
  c.model_name = "williams_ef_blstm"
  c.model.num_outputs = 7
  c.model.num_layers = 1
  c.model.num_nodes = 100
  c.model.dropout = 0.2
  c.model.final_activation = "linear"
  c.model.use_mask = False        # Keras ran the LSTM over the zero padding too
  c.input.tfds_name = "synthetic_mosei/aligned"
  c.input.data_dir = ""            # empty: <workdir>/data, built on first use
  c.input.build_if_missing = True  # the sample needs no manual_dir, so launch.py may build it
  c.input.preprocessor = "williams_ef"
  c.input.preprocess.steps = 45
  c.input.preprocess.visual = "facet"
  c.input.preprocess.pad = "end"
  c.input.preprocess.num_outputs = 7
  c.input.batch_size = 32
  c.input.eval_batch_size = 64
  c.input.cache = True             # ~50 MB of preprocessed features: later epochs skip decoding
  c.task.type = "regression"
  c.task.class_names = ["sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear"]
  c.task.eval_from_column = 1      # the seed scores the 6 emotions, dropping sentiment
  c.task.neutral_class = True      # --predict_neutral_class
  c.loss.name = "mae"
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.evaluation.selection_metric = "loss"
  c.evaluation.mode = "min"
  c.evaluation.early_stopping_patience = 3
  if args.smoke:
    c.num_epochs = 2
    c.input.preprocess.steps = 20
    c.model.num_nodes = 16
  return c
