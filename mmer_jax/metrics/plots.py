"""PNG plots: confusion matrices and learning curves."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: CI and clusters have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def confusion_matrix_png(confusion: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> Path:
  fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(class_names), 1.0 + 0.6 * len(class_names)))
  row_sums = confusion.sum(axis=1, keepdims=True)
  normalised = np.divide(confusion, row_sums, out=np.zeros(confusion.shape, float), where=row_sums > 0)
  ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
  for i in range(confusion.shape[0]):
    for j in range(confusion.shape[1]):
      ax.text(j, i, f"{confusion[i, j]}\n{normalised[i, j]:.0%}", ha="center", va="center",
              color="white" if normalised[i, j] > 0.5 else "black", fontsize=8)
  ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
  ax.set_yticks(range(len(class_names)), class_names)
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  ax.set_title(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def learning_curves_png(history: Sequence[dict], path: Path, metric: str) -> Path:
  """Train/valid loss and the selection metric per epoch."""
  epochs = [h["epoch"] for h in history]
  fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 3.5))
  ax_loss.plot(epochs, [h.get("train/loss") for h in history], marker="o", label="train")
  ax_loss.plot(epochs, [h.get("valid/loss") for h in history], marker="o", label="valid")
  ax_loss.set_xlabel("epoch")
  ax_loss.set_ylabel("loss")
  ax_loss.legend()
  ax_metric.plot(epochs, [h.get(f"valid/{metric}") for h in history], marker="o", color="C2")
  ax_metric.set_xlabel("epoch")
  ax_metric.set_ylabel(f"valid {metric}")
  for ax in (ax_loss, ax_metric):
    ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def multilabel_confusion_png(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
                             path: Path, title: str) -> Path:
  """One 2x2 confusion matrix per emotion, side by side."""
  n = len(class_names)
  fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.4), squeeze=False)
  for k, (ax, name) in enumerate(zip(axes[0], class_names)):
    cm = np.array([[((y_true[:, k] == t) & (y_pred[:, k] == p)).sum() for p in (0, 1)] for t in (0, 1)])
    ax.imshow(cm, cmap="Blues")
    for i in range(2):
      for j in range(2):
        ax.text(j, i, str(cm[i, j]), ha="center", va="center")
    ax.set_title(name, fontsize=9)
    ax.set_xticks([0, 1], ["0", "1"])
    ax.set_yticks([0, 1], ["0", "1"])
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
