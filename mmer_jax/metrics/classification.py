"""Single-label metrics with the seeds' names: WA = accuracy, UA = balanced accuracy (mean recall)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def single_label_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
                         ) -> tuple[dict[str, float], pd.DataFrame, np.ndarray]:
  """Scalars, a per-class table (precision/recall/F1/support) and the confusion matrix."""
  labels = np.arange(len(class_names))
  precision, recall, f1, support = skm.precision_recall_fscore_support(
      y_true, y_pred, labels=labels, zero_division=0)
  scalars = {
      "accuracy": skm.accuracy_score(y_true, y_pred),
      "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred) if len(np.unique(y_true)) else 0.0,
      "f1_macro": skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
      "f1_weighted": skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0),
      "f1_micro": skm.f1_score(y_true, y_pred, labels=labels, average="micro", zero_division=0),
      "precision_weighted": skm.precision_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0),
      "recall_weighted": skm.recall_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0),
  }
  table = pd.DataFrame({"class": list(class_names), "precision": precision, "recall": recall,
                        "f1": f1, "support": support})
  confusion = skm.confusion_matrix(y_true, y_pred, labels=labels)
  return {k: float(v) for k, v in scalars.items()}, table, confusion
