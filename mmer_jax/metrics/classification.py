"""Single-label metrics with the seeds' names: WA = accuracy, UA = balanced accuracy (mean recall).

Macro averages (`f1_macro`, UA) run over the classes present in the split's labels: a class with no
example has no recall, and counting its F1 as 0 would drag the average down by a class the split
cannot test (CMU-MOSEI's `neutral`, or a rare emotion missing from one session). The per-class table
keeps every class with its support, so the absent ones stay visible; the report names them.

Tables are columns (name -> one value per row), not DataFrames: validation runs every epoch and
needs neither pandas nor scikit-learn (`numpy_metrics`); the report writer makes the DataFrame.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mmer_jax.metrics import numpy_metrics as nm

Table = dict[str, np.ndarray]  # column name -> one value per row (class, or emotion)


def present_mean(values: Sequence[float], support: Sequence[float]) -> float:
  """Mean of per-class `values` over the classes with support > 0.

  0.0 when no class has support, the value sklearn's `zero_division=0` gives an empty average, so
  a degenerate split still yields a number that model selection can compare.
  """
  present = np.asarray(support) > 0
  return float(np.mean(np.asarray(values, np.float64)[present])) if present.any() else 0.0


def single_label_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
                         ) -> tuple[dict[str, float], Table, np.ndarray]:
  """Scalars, a per-class table (precision/recall/F1/support) and the confusion matrix."""
  labels = np.arange(len(class_names))
  precision, recall, f1, support = nm.precision_recall_f1(y_true, y_pred, labels=labels)
  precision_weighted, recall_weighted, f1_weighted, _ = nm.precision_recall_f1(
      y_true, y_pred, labels=labels, average="weighted")
  scalars = {
      "accuracy": nm.accuracy(y_true, y_pred),
      # Recall of an absent class is undefined, so UA is the mean over present classes (as sklearn's
      # balanced_accuracy_score), computed from the table so that both say the same.
      "balanced_accuracy": present_mean(recall, support),
      "f1_macro": present_mean(f1, support),
      "f1_weighted": f1_weighted,
      "f1_micro": nm.precision_recall_f1(y_true, y_pred, labels=labels, average="micro")[2],
      "precision_weighted": precision_weighted,
      "recall_weighted": recall_weighted,
  }
  table = {"class": np.asarray(class_names, dtype=object), "precision": precision, "recall": recall,
           "f1": f1, "support": support}
  confusion = nm.confusion_matrix(y_true, y_pred, labels)
  return {k: float(v) for k, v in scalars.items()}, table, confusion
