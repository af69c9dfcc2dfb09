"""Multi-label emotion metrics as SAMSEMO and MME2E define them.

Thresholds are tuned per emotion over a grid: by default on the validation split and then applied
to test; the `samsemo_train_thresholds` epoch action applies SAMSEMO's train thresholds to test
instead (see `mmer_jax.metrics.evaluate`).
Averages: `f1_macro` (plain mean, upstream MME2E) and `f1_samsemo_avg` (SAMSEMO's "Ave": per-emotion
F1 weighted by each emotion's number of positives). `wacc` is MME2E/CMU's weighted accuracy
(TP * N/P + TN) / (2N).

The macro means of F1, precision, recall, AUC and WAcc run over the emotions with at least one
positive in the split: an emotion without positives has no recall, and its F1 of 0 would measure the
split, not the model. `accuracy_mean` keeps every emotion (accuracy is defined on all-negative
columns). The per-emotion table keeps all rows with their support.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mmer_jax.metrics import numpy_metrics as nm
from mmer_jax.metrics.classification import Table, present_mean


def threshold_grid(step: float = 0.005) -> np.ndarray:
  """SAMSEMO's grid is arange(0.005, 1, 0.005); upstream MME2E uses arange(0.05, 1, 0.05)."""
  return np.arange(step, 1.0, step)


def tune_thresholds(y_true: np.ndarray, probs: np.ndarray, grid: np.ndarray) -> np.ndarray:
  """Per-emotion threshold maximising that emotion's binary F1 (first maximum on ties).

  Prediction = prob >= t. F1 = 2TP / (2TP + FP + FN), 0 where undefined (sklearn's
  `zero_division=0`). The counts for the whole grid come from sorted scores instead of one sklearn
  call per threshold: SAMSEMO's train thresholds are tuned on every training output of a run
  (hundreds of thousands of rows), and 199 x 5 sklearn calls cost seconds even on a small split.
  """
  return thresholds_from_counts(*threshold_counts(y_true, probs, grid), grid)


def threshold_counts(y_true: np.ndarray, probs: np.ndarray, grid: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per emotion and grid point, the positives and the negatives with prob >= t, (C, G) each, and the
  positives per emotion (C,). Counts of row blocks add up to the counts of their concatenation, so
  a run can keep the sums instead of every output (SAMSEMO's train thresholds, across a resume)."""
  positive = np.asarray(y_true) > 0.5
  probs, grid = np.asarray(probs, np.float64), np.asarray(grid, np.float64)
  tp = np.empty((positive.shape[1], len(grid)), np.int64)
  fp = np.empty_like(tp)
  for k in range(positive.shape[1]):
    pos, neg = np.sort(probs[positive[:, k], k]), np.sort(probs[~positive[:, k], k])
    tp[k] = len(pos) - np.searchsorted(pos, grid, side="left")  # positives with prob >= t
    fp[k] = len(neg) - np.searchsorted(neg, grid, side="left")
  return tp, fp, positive.sum(axis=0).astype(np.int64)


def thresholds_from_counts(tp: np.ndarray, fp: np.ndarray, positives: np.ndarray, grid: np.ndarray) -> np.ndarray:
  """The best-F1 grid point per emotion from `threshold_counts` (first maximum on ties)."""
  denominator = tp + positives[:, None] + fp  # 2TP + FN + FP
  f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
  return np.asarray(grid, np.float64)[np.argmax(f1, axis=1)]


def weighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
  positives = float((y_true == 1).sum())
  negatives = float((y_true == 0).sum())
  tp = float(((y_pred == 1) & (y_true == 1)).sum())
  tn = float(((y_pred == 0) & (y_true == 0)).sum())
  if positives == 0 or negatives == 0:
    return float("nan")
  return (tp * negatives / positives + tn) / (2 * negatives)


def multilabel_metrics(y_true: np.ndarray, probs: np.ndarray, thresholds: np.ndarray,
                       class_names: Sequence[str]) -> tuple[dict[str, float], Table]:
  y_true = (np.asarray(y_true) > 0.5).astype(int)
  y_pred = (probs >= thresholds[None, :]).astype(int)
  rows = []
  for k in range(len(class_names)):
    t, p = y_true[:, k], y_pred[:, k]
    precision, recall, f1, _ = nm.precision_recall_f1(t, p, average="binary")
    auc = nm.roc_auc(t, probs[:, k])  # nan unless the column has both outcomes
    rows.append((nm.accuracy(t, p), precision, recall, f1, auc, weighted_accuracy(t, p)))
  # Contiguous columns: np.dot over a strided view sums in another order (f1_samsemo_avg's last digit).
  accuracy, precision, recall, f1, auc, wacc = np.array(rows, np.float64).T.copy()
  table = {"emotion": np.asarray(class_names, dtype=object), "threshold": np.asarray(thresholds, np.float64),
           "accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1, "auc": auc, "wacc": wacc,
           "support": y_true.sum(axis=0).astype(np.int64)}
  support = table["support"].astype(float)
  scalars = {
      "f1_macro": present_mean(f1, support),
      "f1_samsemo_avg": float(np.dot(f1, support / support.sum())) if support.sum() else 0.0,
      "accuracy_mean": accuracy.mean(),
      "precision_mean": present_mean(precision, support),
      "recall_mean": present_mean(recall, support),
      "auc_mean": np.nanmean(auc) if not np.isnan(auc).all() else float("nan"),
      "wacc_mean": np.nanmean(wacc) if not np.isnan(wacc).all() else float("nan"),
      "f1_micro": nm.precision_recall_f1(y_true, y_pred, average="micro")[2],
  }
  return {k: float(v) for k, v in scalars.items()}, table
