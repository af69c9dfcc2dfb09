"""Single-label metrics with the seeds' names: WA = accuracy, UA = balanced accuracy (mean recall).

Macro averages (`f1_macro`, UA) run over the classes present in the split's labels: a class with no
example has no recall, and counting its F1 as 0 would drag the average down by a class the split
cannot test (CMU-MOSEI's `neutral`, or a rare emotion missing from one session). The per-class table
keeps every class with its support, so the absent ones stay visible; the report names them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def present_mean(values: Sequence[float], support: Sequence[float]) -> float:
  """Mean of per-class `values` over the classes with support > 0.

  0.0 when no class has support, the value sklearn's `zero_division=0` gives an empty average, so
  a degenerate split still yields a number that model selection can compare.
  """
  present = np.asarray(support) > 0
  return float(np.mean(np.asarray(values, np.float64)[present])) if present.any() else 0.0


def single_label_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
                         ) -> tuple[dict[str, float], pd.DataFrame, np.ndarray]:
  """Scalars, a per-class table (precision/recall/F1/support) and the confusion matrix."""
  labels = np.arange(len(class_names))
  precision, recall, f1, support = skm.precision_recall_fscore_support(
      y_true, y_pred, labels=labels, zero_division=0)
  scalars = {
      "accuracy": skm.accuracy_score(y_true, y_pred),
      # Recall of an absent class is undefined, so UA is the mean over present classes (as sklearn's
      # balanced_accuracy_score), computed from the table so that both say the same.
      "balanced_accuracy": present_mean(recall, support),
      "f1_macro": present_mean(f1, support),
      "f1_weighted": skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0),
      "f1_micro": skm.f1_score(y_true, y_pred, labels=labels, average="micro", zero_division=0),
      "precision_weighted": skm.precision_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0),
      "recall_weighted": skm.recall_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0),
  }
  table = pd.DataFrame({"class": list(class_names), "precision": precision, "recall": recall,
                        "f1": f1, "support": support})
  confusion = skm.confusion_matrix(y_true, y_pred, labels=labels)
  return {k: float(v) for k, v in scalars.items()}, table, confusion
