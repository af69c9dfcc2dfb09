"""The scikit-learn metrics that evaluation calls, in numpy, so that validation during training does
not load scikit-learn and scipy (about 140 MB resident before the first step, issue 29).

Each function follows scikit-learn's definition and order of operations (version 1.9), so the values
are equal to its own, not merely close (tests/test_numpy_metrics.py compares them):
- precision, recall and F1 divide counts; a zero denominator gives 0, sklearn's `zero_division=0`,
  the only setting this package uses;
- `labels` picks and orders the classes of 1-D class ids; an indicator matrix (N, C) has one class per
  column; averages: None (per class), "binary" (the class 1), "micro", "macro" and "weighted" (by
  support; a plain mean when no class has support, as sklearn falls back to);
- `roc_auc` is sklearn's `roc_auc_score` for one binary column: the ROC curve through every distinct
  score with collinear points dropped (`roc_curve(drop_intermediate=True)`), integrated by trapezoids.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
  """The share of rows predicted exactly; for an indicator matrix every column of the row must match."""
  same = np.asarray(y_true) == np.asarray(y_pred)
  return float(np.average(same.all(axis=1) if same.ndim == 2 else same))


def _counts(y_true: np.ndarray, y_pred: np.ndarray, labels: Optional[Sequence]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """True positives, predicted and true counts per class, int64 (C,) each."""
  y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
  if y_true.ndim == 2:  # indicator matrix: one binary problem per column
    t, p = y_true.astype(bool), y_pred.astype(bool)
    if labels is not None:
      t, p = t[:, list(labels)], p[:, list(labels)]
  else:
    labels = np.union1d(y_true, y_pred) if labels is None else np.asarray(labels)
    t, p = y_true[:, None] == labels[None, :], y_pred[:, None] == labels[None, :]
  return ((t & p).sum(axis=0, dtype=np.int64), p.sum(axis=0, dtype=np.int64), t.sum(axis=0, dtype=np.int64))


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
  denominator = np.asarray(denominator, np.float64)
  zero = denominator == 0
  result = np.asarray(numerator, np.float64) / np.where(zero, 1.0, denominator)
  result[zero] = 0.0
  return result


def _average(values: np.ndarray, weights: Optional[np.ndarray]) -> float:
  if weights is None or weights.sum() == 0:  # sklearn ignores weights that sum to zero
    return float(np.nanmean(values))
  return float(np.average(values, weights=weights))


def precision_recall_f1(y_true: np.ndarray, y_pred: np.ndarray, *, labels: Optional[Sequence] = None,
                        average: Optional[str] = None):
  """sklearn's `precision_recall_fscore_support(..., zero_division=0)`: per class
  (precision, recall, f1, support) arrays for `average=None`, else three floats and None
  ("binary": 1-D 0/1 labels, the class 1 alone)."""
  if average == "binary":
    labels = [1]
  tp, predicted, true = _counts(y_true, y_pred, labels)
  if average == "micro":
    tp, predicted, true = tp.sum(keepdims=True), predicted.sum(keepdims=True), true.sum(keepdims=True)
  precision, recall = _divide(tp, predicted), _divide(tp, true)
  f1 = _divide(2.0 * tp.astype(np.float64), 1.0 * true.astype(np.float64) + predicted.astype(np.float64))
  if average is None:
    return precision, recall, f1, true
  weights = true if average == "weighted" else None
  return _average(precision, weights), _average(recall, weights), _average(f1, weights), None


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence) -> np.ndarray:
  """(C, C) int64 counts, rows true and columns predicted in `labels` order; other ids are left out."""
  labels = np.asarray(labels)
  t, p = np.asarray(y_true)[:, None] == labels, np.asarray(y_pred)[:, None] == labels
  return (t.T.astype(np.int64) @ p.astype(np.int64))


def mean_absolute_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
  """Mean over outputs (columns) of each column's mean, sklearn's `multioutput="uniform_average"`."""
  return float(np.average(np.average(np.abs(_columns(y_pred) - _columns(y_true)), axis=0)))


def mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
  return float(np.average(np.average((_columns(y_true) - _columns(y_pred)) ** 2, axis=0)))


def _columns(y: np.ndarray) -> np.ndarray:
  y = np.asarray(y, np.float64)
  return y.reshape(-1, 1) if y.ndim == 1 else y


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
  """Area under the ROC curve of one binary column; nan unless both outcomes occur (as sklearn)."""
  y_true, y_score = np.asarray(y_true), np.asarray(y_score)
  classes = np.unique(y_true)
  if len(classes) != 2:
    return float("nan")
  # Descending scores; the order within ties does not matter, only the counts at a tie's last row.
  order = np.argsort(y_score, kind="stable")[::-1]
  score, positive = y_score[order], (y_true[order] == classes[1]).astype(np.float64)
  ends = np.concatenate([np.flatnonzero(np.diff(score)), [len(score) - 1]])
  tps = np.cumsum(positive)[ends]
  fps = 1 + ends.astype(np.float64) - tps
  if len(fps) > 2:  # drop the points that lie on a straight segment
    keep = np.concatenate([[True], np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), [True]])
    fps, tps = fps[keep], tps[keep]
  fpr = np.concatenate([[0.0], fps]) / fps[-1]
  tpr = np.concatenate([[0.0], tps]) / tps[-1]
  return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2.0))
