"""Writes a run's evaluation report: per-split JSON/CSV tables, PNG plots and a Markdown summary.

The one module of a run that needs pandas and matplotlib (with `plots` and `slices`): the trainer
imports it when it writes the report, after training, so that neither is resident while it trains.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from ml_collections import ConfigDict

from mmer_jax.metrics import plots
from mmer_jax.metrics.classification import Table
from mmer_jax.metrics.evaluate import EvalResult


def write_split(report_dir: Path, split: str, result: EvalResult, task: ConfigDict,
                slice_keys: Sequence[str] = ()) -> dict[str, Path]:
  report_dir.mkdir(parents=True, exist_ok=True)
  paths = {
      "metrics": report_dir / f"{split}_metrics.json",
      "table": report_dir / f"{split}_per_class.csv",
      "predictions": report_dir / f"{split}_predictions.csv",
  }
  payload = {"split": split, "metrics": result.scalars, "macro_average": macro_coverage(result.table)}
  if result.thresholds is not None:
    payload["thresholds"] = dict(zip(task.class_names, map(float, result.thresholds)))
  paths["metrics"].write_text(json.dumps(payload, indent=1))
  pd.DataFrame([result.scalars]).to_csv(report_dir / f"{split}_metrics.csv", index=False)
  pd.DataFrame(result.table).to_csv(paths["table"], index=False)
  pd.DataFrame(result.predictions).to_csv(paths["predictions"], index=False)
  if result.confusion is not None:
    paths["confusion"] = plots.confusion_matrix_png(
        result.confusion, task.class_names, report_dir / f"{split}_confusion.png", f"{split} confusion matrix")
  elif task.type == "multi_label":
    paths["confusion"] = plots.multilabel_confusion_png(
        result.y_true, result.y_pred, task.class_names, report_dir / f"{split}_confusion.png",
        f"{split}: per-emotion confusion")
  sliced = slice_table(result, task, slice_keys)
  if sliced is not None:
    paths["slices"] = report_dir / f"{split}_slices.csv"
    sliced.to_csv(paths["slices"], index=False)
  return paths


def slice_table(result: EvalResult, task: ConfigDict, slice_keys: Sequence[str]) -> Optional[pd.DataFrame]:
  """Per-slice metrics (language, speaker traits) when the predictions carry that metadata."""
  keys = [k for k in slice_keys if k in result.predictions]
  if not keys or task.type == "regression":
    return None
  from mmer_jax.metrics import slices  # noqa: PLC0415  (optional module with the slicing logic)
  meta = {k: np.asarray(result.predictions[k], dtype=object) for k in keys}
  return slices.slice_table(meta, result.y_true, result.y_pred, task_type=task.type,
                            class_names=list(task.class_names), slice_keys=keys)


def macro_coverage(table: Table) -> dict[str, dict]:
  """Which classes the split's macro averages cover, read off the per-class table's support.

  The metric modules average only classes with support (`classification.present_mean`); this says
  which those were. One entry per group of classes: "all" for single- and multi-label tables,
  "presence" and "dominant" for the regression task's two classifications.
  """
  names = np.asarray(table["class"] if "class" in table else table["emotion"]).astype(str)
  support = np.asarray(table["support"])
  groups = np.asarray(table["task"]).astype(str) if "task" in table else np.full(len(names), "all")
  coverage = {}
  for group in dict.fromkeys(groups.tolist()):  # first-seen order
    rows = groups == group
    absent = names[rows & (support <= 0)].tolist()
    coverage[group] = {"classes": int(rows.sum()), "present": int(rows.sum()) - len(absent), "absent": absent}
  return coverage


def coverage_note(table: Table) -> str:
  """One line for under a table: "... over the classes present in the split: 6 of 7 (absent: neutral)."."""
  parts = []
  for group, c in macro_coverage(table).items():
    text = f"{c['present']} of {c['classes']}" + (f" (absent: {', '.join(c['absent'])})" if c["absent"] else "")
    parts.append(text if group == "all" else f"{group} {text}")
  return "Macro averages (F1, precision, recall, UA, AUC) are over the classes present in the split: " + \
      "; ".join(parts) + "."


def write_summary(report_dir: Path, results: Mapping[str, EvalResult], history: Sequence[dict],
                  selection_metric: str, header: str) -> Path:
  """report.md: headline metrics per split, per-class tables and links to the plots."""
  lines = [f"# {header}", ""]
  if history:
    plots.learning_curves_png(history, report_dir / "learning_curves.png", selection_metric)
    lines += ["![learning curves](learning_curves.png)", ""]
  headline = pd.DataFrame({split: r.scalars for split, r in results.items()}).T
  lines += ["## Metrics", "", _markdown(headline.reset_index(names="split")), ""]
  lines += [f"- {split}: {coverage_note(r.table)}" for split, r in results.items()] + [""]
  for split, result in results.items():
    lines += [f"## {split}", "", _markdown(pd.DataFrame(result.table)), "", f"_{coverage_note(result.table)}_", ""]
    if (report_dir / f"{split}_confusion.png").exists():
      lines += [f"![{split} confusion]({split}_confusion.png)", ""]
    if (report_dir / f"{split}_slices.csv").exists():
      lines += ["### Slices", "", _markdown(pd.read_csv(report_dir / f"{split}_slices.csv")), "",
                "_Each row's macro averages are over the classes present in that slice (`macro_classes`)._", ""]
  path = report_dir / "report.md"
  path.write_text("\n".join(lines))
  return path


def _markdown(frame: pd.DataFrame) -> str:
  """A GitHub table without the optional `tabulate` dependency."""
  def fmt(v):
    return f"{v:.4f}" if isinstance(v, (float, np.floating)) else str(v)
  header = "| " + " | ".join(map(str, frame.columns)) + " |"
  rule = "|" + "---|" * len(frame.columns)
  rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
  return "\n".join([header, rule, *rows])
