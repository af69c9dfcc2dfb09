"""The Keras originals (seed 001 Williams et al., seed 004's MoCap head), built by their own code,
in the TF virtualenv.

`model_training.py` reads its data at import and the SEmoR notebook mounts Google Drive, so only
their model-building functions are executed (notebook.py), with the Keras names they use. A train
step is `train_on_batch` (forward, loss, gradients, optimiser update; returns the loss as numpy),
an eval step `test_on_batch`: one batch each, as `fit` and `evaluate` run them, without callbacks.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import numpy as np


@dataclasses.dataclass
class Runner:
  train_step: Callable[[], object]
  eval_step: Callable[[], object]
  info: dict


def _williams(spec, root: Path):
  from tensorflow.keras.layers import LSTM, BatchNormalization, Bidirectional, Dense, Dropout
  from tensorflow.keras.models import Sequential
  from tensorflow.keras.optimizers import Adam

  from originals import notebook
  names = dict(Sequential=Sequential, BatchNormalization=BatchNormalization, Bidirectional=Bidirectional,
               Dropout=Dropout, Dense=Dense, LSTM=LSTM)
  ns = notebook.load_script(root / "williams" / "model_training.py", names, ["build_model"])
  d, b = spec.dims, spec.batch
  model = ns["build_model"](d["features"], d["steps"], d["layers"], d["nodes"], d["dropout"], "linear")
  model.compile(loss="mae", optimizer=Adam(learning_rate=1e-3))  # run_cluster.sh: MAE regression, Adam
  rng = np.random.default_rng(0)
  x = rng.normal(size=(b, d["steps"], d["features"])).astype(np.float32)
  y = rng.normal(size=(b, d["outputs"])).astype(np.float32)
  return model, (lambda: model.train_on_batch(x, y)), (lambda: model.test_on_batch(x, y))


def _semor_mocap(spec, root: Path):
  import tensorflow as tf

  from originals import notebook
  ns = notebook.load_notebook(root / "semor" / "codes" / "Mocap_Rotate_Adam.ipynb", {"keras": tf.keras},
                              ["create_model_1"])
  d, b = spec.dims, spec.batch
  model = ns["create_model_1"]()
  # The notebook's config: Adam 1e-5, sparse cross-entropy "from logits" on the softmax output.
  model.compile(optimizer=tf.keras.optimizers.Adam(1e-5),
                loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  rng = np.random.default_rng(0)
  x = rng.normal(size=(b, d["frames"], d["features"], 1)).astype(np.float32)
  y = rng.integers(0, d["classes"], b).astype(np.int32)
  return model, (lambda: model.train_on_batch(x, y)), (lambda: model.test_on_batch(x, y))


BUILDERS = {"williams": _williams, "semor_mocap_cnn": _semor_mocap}


def build(spec, originals: Path, threads: int) -> Runner:
  if originals is None:
    raise ValueError("the keras side needs --originals (a folder of the originals' checkouts)")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)
  tf.keras.utils.set_random_seed(0)
  model, train, evaluate = BUILDERS[spec.key](spec, originals)
  return Runner(train, evaluate, {"framework": f"tensorflow {tf.__version__} (keras {tf.keras.__version__})",
                                  "threads": threads, "params": int(model.count_params())})
