"""Seed 001's evaluation of CMU-MOSEI emotion regression (`model_evaluation.evaluate_model`).

Predictions (N, 6) in [happy, sad, anger, surprise, disgust, fear] order (sentiment dropped):
- MAE / MSE over all cells against the true fine scores;
- fine snapping to the nearest distinct true value in the split, coarse snapping to {0,1,2,3}
  (ties go to the lower value, so 0.5 -> 0);
- presence: snapped (fine) score != 0; dominant: the emotions equal to the row maximum (ties kept);
  with `neutral_class`, a row with no emotion gets a 7th "neutral" column;
- multilabel classification metrics for presence and dominance: exact-set accuracy, per-class and
  macro/weighted F1 and recall, and ROC-AUC computed on the binary predictions, as the seed does.

Unlike the seed (sklearn's macro over all columns), macro F1 and recall average only the classes
with support in the split: with `neutral_class` a split where every segment shows some emotion has
no `neutral` row, and its F1 of 0 would pull presence F1 macro down by a seventh.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mmer_jax.datasets import cmu_mosei
from mmer_jax.metrics import numpy_metrics as nm
from mmer_jax.metrics.classification import Table, present_mean

EMOTIONS = cmu_mosei.CSD_EMOTIONS


def snap(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
  """Nearest grid value; exact ties resolve to the lower grid value."""
  grid = np.sort(np.asarray(grid, float))
  distance = np.abs(values[..., None] - grid)
  return grid[np.argmin(distance, axis=-1)]  # argmin takes the first (lowest) on ties


def presence(scores: np.ndarray, neutral_class: bool) -> np.ndarray:
  present = (scores != 0).astype(int)
  return _with_neutral(present) if neutral_class else present


def dominance(scores: np.ndarray, neutral_class: bool) -> np.ndarray:
  row_max = scores.max(axis=1, keepdims=True)
  dominant = ((scores == row_max) & (row_max > 0)).astype(int)
  return _with_neutral(dominant) if neutral_class else dominant


def _with_neutral(classes: np.ndarray) -> np.ndarray:
  return np.concatenate([classes, (classes.sum(axis=1, keepdims=True) == 0).astype(int)], axis=1)


def _classification(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], prefix: str
                    ) -> tuple[dict[str, float], Table]:
  support = y_true.sum(axis=0)
  _, recall, f1, _ = nm.precision_recall_f1(y_true, y_pred)
  _, recall_weighted, f1_weighted, _ = nm.precision_recall_f1(y_true, y_pred, average="weighted")
  scalars = {
      f"{prefix}_accuracy": nm.accuracy(y_true, y_pred),
      f"{prefix}_f1_macro": present_mean(f1, support),
      f"{prefix}_f1_weighted": f1_weighted,
      f"{prefix}_recall_macro": present_mean(recall, support),
      f"{prefix}_recall_weighted": recall_weighted,
  }
  # AUC needs both outcomes, so it already skips classes without positives (and all-positive ones).
  aucs = [nm.roc_auc(y_true[:, k], y_pred[:, k]) for k in range(y_true.shape[1])]
  valid = ~np.isnan(aucs)
  scalars[f"{prefix}_roc_auc_macro"] = float(np.nanmean(aucs)) if valid.any() else float("nan")
  scalars[f"{prefix}_roc_auc_weighted"] = (float(np.average(np.asarray(aucs)[valid], weights=support[valid]))
                                          if valid.any() and support[valid].sum() else float("nan"))
  table = {"task": np.full(len(names), prefix, dtype=object), "class": np.asarray(names, dtype=object),
           "f1": f1, "recall": recall, "roc_auc": np.asarray(aucs, np.float64), "support": support}
  return {k: float(v) for k, v in scalars.items()}, table


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, *, neutral_class: bool = True,
                       names: Sequence[str] = EMOTIONS) -> tuple[dict[str, float], Table]:
  """`y_true`, `y_pred`: (N, 6) emotion scores (sentiment already dropped)."""
  y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
  scalars = {"mae": nm.mean_absolute_error(y_true, y_pred), "mse": nm.mean_squared_error(y_true, y_pred)}
  fine_grid = np.unique(y_true)
  true_fine, pred_fine = snap(y_true, fine_grid), snap(y_pred, fine_grid)
  coarse = np.arange(4.0)
  scalars["coarse_accuracy"] = float((snap(y_true, coarse) == snap(y_pred, coarse)).mean())
  scalars["fine_accuracy"] = float((true_fine == pred_fine).mean())
  class_names = list(names) + (["neutral"] if neutral_class else [])
  tables = []
  for prefix, fn in (("presence", presence), ("dominant", dominance)):
    s, t = _classification(fn(true_fine, neutral_class), fn(pred_fine, neutral_class), class_names, prefix)
    scalars.update(s)
    tables.append(t)
  return {k: float(v) for k, v in scalars.items()}, {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
