"""Turns a split's model outputs into the metrics of its task type.

Multi-label thresholds:
- by default (clean): per-emotion thresholds tuned on validation (as upstream MME2E) score
  test; validation's own figures use them too, so only test is an unseen-threshold estimate.
- SAMSEMO's protocol (`config.evals.<name> = dict(type="samsemo_train_thresholds")`, see
  mmer_jax/train/epoch_actions.py; faithful to samsungnlp/samsemo run.py + src/evaluate.eval_emo): validation still tunes
  its own thresholds on itself, but test is scored with the thresholds tuned at the end of the LAST
  trained epoch on the training-step outputs (training mode: dropout on, BatchNorm batch
  statistics), not on the best checkpoint's. Lightning never clears run.py's `results_train` list,
  so those outputs are every training step's of the run so far; the trainer keeps them the same
  way, as the per-threshold counts they are tuned from (checkpointed, so a resumed run tunes on the
  same outputs as an uninterrupted one). Not reproduced: run.py's validation list is never cleared either, so its
  monitored validation F1 at epoch k pools the outputs of epochs 1..k; and it predicts positive
  for prob > t where this package uses prob >= t (equal only at probabilities exactly on the grid).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

import numpy as np
from ml_collections import ConfigDict

from mmer_jax.metrics import classification, multilabel, regression
from mmer_jax.metrics.classification import Table

TASK_TYPES = ("single_label", "multi_label", "regression")


def sigmoid(outputs: np.ndarray) -> np.ndarray:
  return 1.0 / (1.0 + np.exp(-np.asarray(outputs)))


def threshold_grid(task: ConfigDict) -> np.ndarray:
  return multilabel.threshold_grid(task.threshold_step)


def tune_on_outputs(task: ConfigDict, y_true: np.ndarray, outputs: np.ndarray) -> np.ndarray:
  """Per-class thresholds for logits `outputs`: sigmoid, then the best-F1 point of the task's grid."""
  return multilabel.tune_thresholds(y_true, sigmoid(outputs), threshold_grid(task))


@dataclasses.dataclass
class EvalResult:
  scalars: dict[str, float]
  table: Table                          # per-class / per-emotion metrics
  predictions: Table                    # one row per example: metadata, truth, prediction
  confusion: Optional[np.ndarray] = None
  thresholds: Optional[np.ndarray] = None
  y_true: Optional[np.ndarray] = None
  y_pred: Optional[np.ndarray] = None   # class ids, binary matrix or regression values


def evaluate_predictions(task: ConfigDict, y_true: np.ndarray, outputs: np.ndarray, *, loss: float,
                         meta: Optional[Mapping[str, np.ndarray]] = None,
                         thresholds: Optional[np.ndarray] = None) -> EvalResult:
  """`thresholds=None` on a multi-label task tunes them on this split (validation); pass the
  validation (or, with the "samsemo" protocol, the train) thresholds when evaluating test."""
  names = list(task.class_names)
  predictions = {k.removeprefix("meta/"): np.asarray(v).astype(str) for k, v in (meta or {}).items()}
  if task.type == "single_label":
    y_pred = outputs.argmax(axis=-1)
    scalars, table, confusion = classification.single_label_metrics(y_true, y_pred, names)
    predictions["label"], predictions["prediction"] = np.take(names, y_true), np.take(names, y_pred)
    for k, name in enumerate(names):
      predictions[f"logit_{name}"] = outputs[:, k]
    result = EvalResult(scalars, table, predictions, confusion=confusion, y_true=y_true, y_pred=y_pred)
  elif task.type == "multi_label":
    probs = sigmoid(outputs)
    if thresholds is None:
      thresholds = tune_on_outputs(task, y_true, outputs)
    scalars, table = multilabel.multilabel_metrics(y_true, probs, thresholds, names)
    y_pred = (probs >= thresholds).astype(int)
    for k, name in enumerate(names):
      predictions[f"true_{name}"], predictions[f"prob_{name}"] = y_true[:, k], probs[:, k]
    result = EvalResult(scalars, table, predictions, thresholds=thresholds,
                        y_true=(y_true > 0.5).astype(int), y_pred=y_pred)
  elif task.type == "regression":
    first = int(task.eval_from_column)  # seed 001 drops its sentiment column before scoring
    scalars, table = regression.regression_metrics(
        y_true[:, first:], outputs[:, first:], neutral_class=task.neutral_class, names=names[first:])
    for k, name in enumerate(names):
      predictions[f"true_{name}"], predictions[f"pred_{name}"] = y_true[:, k], outputs[:, k]
    result = EvalResult(scalars, table, predictions, y_true=y_true, y_pred=outputs)
  else:
    raise ValueError(f"config.task.type={task.type!r}; use one of {', '.join(TASK_TYPES)}.")
  result.scalars["loss"] = float(loss)
  result.scalars["num_examples"] = float(len(y_true))
  return result
