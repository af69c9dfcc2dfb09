"""Sliced evaluation table: hand-computed per-slice F1, SAMSEMO's weighted F1, binning, errors."""

import math

import numpy as np
import pandas as pd
import pytest

from mmer_jax.metrics.slices import samsemo_weighted_f1, slice_table

EMOTIONS = ["anger", "happiness", "sadness", "surprise", "neutral"]


@pytest.fixture
def multi_label_case():
  # 6 examples: 3 EN, 2 KO, 1 with missing language.
  y_true = np.array([
      [1, 0, 0, 0, 0],
      [0, 1, 0, 0, 0],
      [0, 0, 0, 0, 1],
      [0, 1, 0, 1, 0],
      [0, 0, 0, 0, 1],
      [1, 0, 0, 0, 0],
  ])
  y_pred = np.array([
      [1, 0, 0, 0, 0],   # EN: anger right
      [0, 1, 0, 0, 0],   # EN: happiness right
      [0, 1, 0, 0, 0],   # EN: neutral missed, false happiness
      [0, 1, 0, 0, 0],   # KO: happiness right, surprise missed
      [0, 0, 0, 0, 1],   # KO: neutral right
      [0, 0, 0, 0, 0],   # missing language: anger missed
  ])
  meta = {
      "language": np.array([b"EN", b"EN", b"EN", b"KO", b"KO", b""], dtype=object),
      "duration": np.array([1.0, 2.5, 4.0, 6.0, 9.5, 3.0]),
  }
  return meta, y_true, y_pred


def test_multi_label_rows_match_hand_computed_f1(multi_label_case):
  meta, y_true, y_pred = multi_label_case
  table = slice_table(meta, y_true, y_pred, task_type="multi_label", class_names=EMOTIONS,
                      slice_keys=["language"])
  assert list(table["value"]) == ["all", "EN", "KO", "<missing>"]
  assert list(table["support"]) == [6, 3, 2, 1]
  en = table.set_index("value").loc["EN"]
  # EN: anger F1 1; happiness tp1 fp1 fn0 -> 2/3; neutral tp0 fn1 -> 0; sadness/surprise absent -> 0.
  assert en["f1/anger"] == 1.0 and en["f1/happiness"] == pytest.approx(2 / 3) and en["f1/neutral"] == 0.0
  # Macro over the 3 classes with positives in EN (anger, happiness, neutral), not all 5.
  assert en["f1_macro"] == pytest.approx((1 + 2 / 3 + 0) / 3) and en["macro_classes"] == 3
  # SAMSEMO weights by positives: anger 1, happiness 1, neutral 1 of 3.
  assert en["f1_weighted"] == pytest.approx((1 + 2 / 3 + 0) / 3)
  assert en["pos/neutral"] == 1 and en["pos/surprise"] == 0
  ko = table.set_index("value").loc["KO"]
  # KO positives: happiness 1 (F1 1), surprise 1 (F1 0), neutral 1 (F1 1).
  assert ko["f1_weighted"] == pytest.approx(2 / 3)
  overall = table.iloc[0]
  assert overall["slice"] == "all"
  # All: anger tp1 fn1 -> 2/3 (2 positives); happiness tp2 fp1 -> 0.8 (2); surprise 0 (1); neutral
  # tp1 fn1 -> 2/3 (2); sadness 0 (0). Weighted = (2*2/3 + 2*0.8 + 0 + 2*2/3) / 7.
  assert overall["f1_weighted"] == pytest.approx((4 / 3 + 1.6 + 4 / 3) / 7)
  assert overall["f1_weighted"] == pytest.approx(samsemo_weighted_f1(y_true, y_pred))


def test_numeric_bins_and_min_support(multi_label_case):
  meta, y_true, y_pred = multi_label_case
  table = slice_table(meta, y_true, y_pred, task_type="multi_label", class_names=EMOTIONS,
                      slice_keys=["duration", "language"], bins={"duration": [0, 3, 6, 9]},
                      min_support=2)
  durations = table[table["slice"] == "duration"]
  # 9.5 s is beyond the last edge -> <missing>; bins ordered by their left edge.
  assert list(durations["value"]) == ["[0, 3)", "[3, 6)", "[6, 9)", "<missing>"]
  assert list(durations["support"]) == [2, 2, 1, 1]
  small = durations.set_index("value").loc["[6, 9)"]
  assert math.isnan(small["f1_macro"]) and math.isnan(small["f1/anger"])
  assert not math.isnan(durations.set_index("value").loc["[0, 3)", "f1_macro"])


def test_single_label_accuracy_balanced_accuracy_and_score_argmax():
  y_true = np.array([0, 0, 1, 1, 2, 2])
  scores = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.9  # argmax -> [0, 1, 1, 1, 2, 0]
  meta = {"sex": np.array(["female", "male", "female", "male", "female", "male"])}
  table = slice_table(meta, y_true, scores, task_type="single_label", class_names=["a", "b", "c"],
                      slice_keys=["sex"])
  rows = table.set_index("value")
  assert rows.loc["all", "accuracy"] == pytest.approx(4 / 6)
  assert rows.loc["all", "balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
  # female: true [0,1,2], pred [0,1,2] -> perfect.
  assert rows.loc["female", "accuracy"] == 1.0 and rows.loc["female", "f1_macro"] == 1.0
  # male: true [0,1,2], pred [1,1,0] -> accuracy 1/3; F1 a 0, b 2/3, c 0.
  assert rows.loc["male", "accuracy"] == pytest.approx(1 / 3)
  assert rows.loc["male", "f1_macro"] == pytest.approx((2 / 3) / 3)
  assert isinstance(table, pd.DataFrame)


def test_single_label_slice_macro_averages_only_the_classes_in_that_slice():
  y_true = np.array([0, 0, 1, 2, 2, 2])
  y_pred = np.array([0, 1, 1, 2, 2, 0])
  meta = {"session": np.array(["s1", "s1", "s1", "s2", "s2", "s2"])}
  rows = slice_table(meta, y_true, y_pred, task_type="single_label", class_names=["a", "b", "c"],
                     slice_keys=["session"]).set_index("value")
  # s1 holds a and b only: a P1 R1/2 -> 2/3, b P1/2 R1 -> 2/3; c has no example there, so no 0 for it.
  assert rows.loc["s1", "f1_macro"] == pytest.approx(2 / 3) and rows.loc["s1", "macro_classes"] == 2
  assert rows.loc["s1", "balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)
  # s2 holds only c: R 2/3, P 1 -> F1 .8; the one prediction of a does not add a class.
  assert rows.loc["s2", "f1_macro"] == pytest.approx(0.8) and rows.loc["s2", "macro_classes"] == 1
  assert rows.loc["all", "macro_classes"] == 3


def test_bad_inputs_fail_with_clear_messages(multi_label_case):
  meta, y_true, y_pred = multi_label_case
  kwargs = dict(task_type="multi_label", class_names=EMOTIONS)
  with pytest.raises(KeyError, match="available keys"):
    slice_table(meta, y_true, y_pred, slice_keys=["race"], **kwargs)
  with pytest.raises(ValueError, match="threshold"):
    slice_table(meta, y_true, y_pred * 0.7, slice_keys=[], **kwargs)
  with pytest.raises(ValueError, match=r"\(N, 5\)"):
    slice_table(meta, y_true[:, :3], y_pred[:, :3], slice_keys=[], **kwargs)
  with pytest.raises(ValueError, match="one value per example"):
    slice_table({"language": np.array(["EN"])}, y_true, y_pred, slice_keys=["language"], **kwargs)
  with pytest.raises(ValueError, match="not in slice_keys"):
    slice_table(meta, y_true, y_pred, slice_keys=["language"], bins={"age": [0, 1]}, **kwargs)
  with pytest.raises(ValueError, match="task_type"):
    slice_table(meta, y_true, y_pred, task_type="regression", class_names=EMOTIONS, slice_keys=[])
