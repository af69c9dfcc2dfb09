"""Sliced evaluation: the same metrics computed on subsets defined by example metadata.

SAMSEMO ships speaker and scene metadata (language, sex, age, race, covered face, ...); a per-slice
table shows where a model fails (e.g. Korean scenes or covered faces) that a single score hides.
None of the seed systems reports this. The function is pure: arrays in, DataFrame out; the report
writer decides where the table goes.

Metrics (scikit-learn's definitions, computed by `numpy_metrics`):
- multi_label: per-class binary F1 (`f1/<class>`), the number of positives per class
  (`pos/<class>`), macro F1 and SAMSEMO's "average" F1, which weights each class's F1 by its share
  of the positive labels in the slice (`f1_weighted`; `src/evaluate.eval_emo` in
  samsungnlp/samsemo, although its README calls it a plain average). Undefined binary F1 (no true
  and no predicted positives) counts as 0, as sklearn's `zero_division=0`, so slice figures match
  the global ones.
- single_label: accuracy, balanced accuracy and macro F1.

Macro F1 and balanced accuracy average the classes present in the slice's labels, as the split-level
metrics do (`classification.present_mean`): a small slice lacks some classes, and counting their F1
as 0 would make every small slice look bad. `macro_classes` gives how many classes each row averaged.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mmer_jax.metrics import numpy_metrics as nm
from mmer_jax.metrics.classification import present_mean

ALL = "all"
MISSING = "<missing>"
TASK_TYPES = ("multi_label", "single_label")


def slice_table(meta: Mapping[str, np.ndarray],
                y_true: np.ndarray,
                y_pred: np.ndarray,
                *,
                task_type: str,
                class_names: Sequence[str],
                slice_keys: Sequence[str],
                min_support: int = 1,
                bins: Mapping[str, Sequence[float]] | None = None) -> pd.DataFrame:
  """One row for all examples, then one per (slice key, value), with support and metrics.

  Args:
    meta: per-example metadata arrays of length N (strings, bytes or numbers), e.g. language.
    y_true: multi_label: (N, C) 0/1; single_label: (N,) class ids.
    y_pred: multi_label: (N, C) 0/1 decisions (threshold the scores first, e.g. with the tuned
      per-class thresholds); single_label: (N,) class ids or (N, C) scores (argmax is taken).
    task_type: "multi_label" or "single_label".
    class_names: the C class names, used for the per-class columns.
    slice_keys: keys of `meta` to slice by, in the order the rows should appear.
    min_support: slices with fewer examples keep their row and support but get NaN metrics, so
      nothing disappears silently while tiny slices are not over-read.
    bins: optional `{key: edges}` to bin numeric metadata (e.g. duration in seconds) into
      left-closed intervals `[a, b)`; values outside the edges go to `<missing>`.

  Returns:
    DataFrame with columns `slice`, `value`, `support` and the metric columns. Values of a key are
    sorted; missing values (None, NaN, empty strings) are grouped as `<missing>`.
  """
  if task_type not in TASK_TYPES:
    raise ValueError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}.")
  y_true, y_pred = _check_labels(np.asarray(y_true), np.asarray(y_pred), task_type, len(class_names))
  n = len(y_true)
  bins = dict(bins or {})
  unknown_bins = set(bins) - set(slice_keys)
  if unknown_bins:
    raise ValueError(f"bins given for {sorted(unknown_bins)}, which are not in slice_keys {list(slice_keys)}.")

  rows = [_row(ALL, ALL, np.ones(n, bool), y_true, y_pred, task_type, class_names, min_support)]
  for key in slice_keys:
    if key not in meta:
      raise KeyError(f"Slice key {key!r} is not in the metadata; available keys: {sorted(meta)}.")
    values = _slice_values(np.asarray(meta[key]), n, key, bins.get(key))
    for value in sorted(set(values), key=_sort_key):
      rows.append(_row(key, value, values == value, y_true, y_pred, task_type, class_names, min_support))
  return pd.DataFrame(rows)


def samsemo_weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
  """SAMSEMO's average F1: per-class binary F1 weighted by each class's share of positives."""
  positives = y_true.sum(axis=0).astype(np.float64)
  if positives.sum() == 0:
    return math.nan
  f1s = nm.precision_recall_f1(y_true, y_pred)[2]
  return float(np.dot(f1s, positives / positives.sum()))


def _check_labels(y_true, y_pred, task_type, num_classes):
  if task_type == "multi_label":
    if y_true.ndim != 2 or y_true.shape[1] != num_classes or y_pred.shape != y_true.shape:
      raise ValueError(
          f"multi_label expects y_true and y_pred of shape (N, {num_classes}); got {y_true.shape} "
          f"and {y_pred.shape}.")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
      if not np.isin(y, (0, 1)).all():
        raise ValueError(f"multi_label {name} must hold 0/1 decisions; threshold scores before slicing.")
    return y_true.astype(np.int64), y_pred.astype(np.int64)
  if y_pred.ndim == 2:
    y_pred = y_pred.argmax(axis=1)
  if y_true.ndim != 1 or y_pred.shape != y_true.shape:
    raise ValueError(f"single_label expects (N,) class ids; got y_true {y_true.shape}, y_pred {y_pred.shape}.")
  return y_true.astype(np.int64), y_pred.astype(np.int64)


def _slice_values(raw: np.ndarray, n: int, key: str, edges: Sequence[float] | None) -> np.ndarray:
  """Per-example slice labels as strings (binned when `edges` is given)."""
  if raw.shape != (n,):
    raise ValueError(f"Metadata {key!r} has shape {raw.shape}; expected one value per example ({n},).")
  if edges is not None:
    numbers = pd.to_numeric(pd.Series(raw), errors="coerce")
    binned = pd.cut(numbers, bins=list(edges), right=False)
    return np.array([MISSING if pd.isna(b) else f"[{b.left:g}, {b.right:g})" for b in binned], dtype=object)
  return np.array([_as_label(v) for v in raw], dtype=object)


def _as_label(value: Any) -> str:
  if isinstance(value, bytes):
    value = value.decode("utf-8")
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return MISSING
  text = str(value).strip()
  return text if text else MISSING


def _sort_key(label: str):
  # Bins sort by their left edge, missing last, everything else alphabetically.
  if label == MISSING:
    return (2, 0.0, label)
  if label.startswith("[") and "," in label:
    try:
      return (0, float(label[1:label.index(",")]), label)
    except ValueError:
      pass
  return (1, 0.0, label)


def _row(key, value, mask, y_true, y_pred, task_type, class_names, min_support) -> dict[str, Any]:
  row: dict[str, Any] = {"slice": key, "value": value, "support": int(mask.sum())}
  enough = row["support"] >= max(min_support, 1)
  t, p = y_true[mask], y_pred[mask]
  if task_type == "multi_label":
    support = t.sum(axis=0)
    f1s = nm.precision_recall_f1(t, p)[2] if enough else [math.nan] * len(class_names)
    for name, f1, pos in zip(class_names, f1s, support):
      row[f"f1/{name}"] = float(f1)
      row[f"pos/{name}"] = int(pos)
    row["f1_macro"] = present_mean(f1s, support) if enough else math.nan
    row["f1_weighted"] = samsemo_weighted_f1(t, p) if enough else math.nan
  else:
    labels = list(range(len(class_names)))
    support = np.bincount(t, minlength=len(class_names))
    _, recall, f1s, _ = nm.precision_recall_f1(t, p, labels=labels)
    row["accuracy"] = nm.accuracy(t, p) if enough else math.nan
    row["balanced_accuracy"] = present_mean(recall, support) if enough else math.nan
    row["f1_macro"] = present_mean(f1s, support) if enough else math.nan
  row["macro_classes"] = int((support > 0).sum())
  return row
