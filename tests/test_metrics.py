"""Metrics against hand-computed cases."""

import json
import warnings

import numpy as np
import pytest
from ml_collections import ConfigDict
from sklearn import metrics as skm

from mmer_jax.metrics import classification, multilabel, regression, report
from mmer_jax.metrics.evaluate import evaluate_predictions, tune_on_outputs


def test_single_label_wa_ua_f1_and_confusion():
  y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
  y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 0])
  scalars, table, confusion = classification.single_label_metrics(y_true, y_pred, ["a", "b", "c"])
  assert scalars["accuracy"] == pytest.approx(5 / 8)                      # WA
  assert scalars["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)  # UA = mean recall
  # class a: P=3/5 R=3/4 -> F1=2/3; b: P=1/2 R=1/2; c: P=1 R=1/2 -> 2/3
  assert table["f1"].tolist() == pytest.approx([2 / 3, 1 / 2, 2 / 3])
  assert scalars["f1_macro"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
  assert scalars["f1_weighted"] == pytest.approx((4 * 2 / 3 + 2 * 1 / 2 + 2 * 2 / 3) / 8)
  assert confusion.tolist() == [[3, 1, 0], [1, 1, 0], [1, 0, 1]]


def test_threshold_tuning_picks_the_best_f1_threshold():
  y = np.array([[1], [1], [0], [0]])
  probs = np.array([[0.9], [0.6], [0.55], [0.1]])
  grid = np.array([0.2, 0.58, 0.7])
  # t=0.2: P=2/3 R=1 F1=.8; t=0.58: P=1 R=1 F1=1; t=0.7: P=1 R=.5 F1=.667
  assert multilabel.tune_thresholds(y, probs, grid).tolist() == [0.58]


def test_multilabel_averages_and_weighted_accuracy():
  y = np.array([[1, 0], [1, 0], [1, 1], [0, 0]])
  probs = np.array([[0.9, 0.1], [0.2, 0.1], [0.8, 0.9], [0.1, 0.8]])
  scalars, table = multilabel.multilabel_metrics(y, probs, np.array([0.5, 0.5]), ["x", "y"])
  # x: tp=2 fn=1 tn=1 -> P=1 R=2/3 F1=0.8; y: tp=1 fp=1 tn=2 -> P=.5 R=1 F1=2/3
  assert table["f1"].tolist() == pytest.approx([0.8, 2 / 3])
  assert scalars["f1_macro"] == pytest.approx((0.8 + 2 / 3) / 2)
  assert scalars["f1_samsemo_avg"] == pytest.approx(0.8 * 3 / 4 + 2 / 3 * 1 / 4)  # support-weighted
  # WAcc for x: P=3, N=1, tp=2, tn=1 -> (2*1/3 + 1)/2
  assert table["wacc"][0] == pytest.approx((2 * 1 / 3 + 1) / 2)
  assert table["auc"][0] == pytest.approx(1.0)


def test_regression_snapping_ties_go_down_and_neutral_column():
  assert regression.snap(np.array([0.5, 1.5, 2.6, -1.0]), np.arange(4.0)).tolist() == [0, 1, 3, 0]
  scores = np.array([[0, 0, 0], [1, 2, 2], [0, 1, 0]], float)
  assert regression.presence(scores, neutral_class=True).tolist() == [[0, 0, 0, 1], [1, 1, 1, 0], [0, 1, 0, 0]]
  assert regression.dominance(scores, neutral_class=False).tolist() == [[0, 0, 0], [0, 1, 1], [0, 1, 0]]


def test_regression_metrics_mae_and_exact_set_accuracy():
  y_true = np.array([[0, 1, 0, 0, 0, 0], [2, 0, 0, 0, 0, 1]], float)
  y_pred = np.array([[0.1, 0.8, 0, 0, 0, 0], [1.2, 0.2, 0, 0, 0, 0.4]], float)
  scalars, _ = regression.regression_metrics(y_true, y_pred)
  assert scalars["mae"] == pytest.approx(np.abs(y_true - y_pred).mean())
  # fine grid {0,1,2}: row0 -> [0,1,0..] exact; row1 -> [1,0,..,0] vs true presence [1,0,..,1]: wrong set
  assert scalars["presence_accuracy"] == pytest.approx(0.5)


def test_evaluate_predictions_reuses_validation_thresholds_on_test():
  task = ConfigDict(dict(type="multi_label", class_names=["x"], threshold_step=0.1))
  valid = evaluate_predictions(task, np.array([[1], [0]]), np.array([[2.0], [-2.0]]), loss=0.1)
  assert valid.thresholds is not None
  test = evaluate_predictions(task, np.array([[1], [0]]), np.array([[0.0], [-0.5]]), loss=0.2,
                              thresholds=np.array([0.45]))
  assert test.y_pred.ravel().tolist() == [1, 0]  # sigmoid(0)=.5 >= .45, sigmoid(-.5)=.38 < .45
  with pytest.raises(ValueError, match="task.type"):
    evaluate_predictions(ConfigDict(dict(type="ranking", class_names=["x"])), np.zeros(1), np.zeros((1, 1)), loss=0)


def test_threshold_tuning_matches_one_sklearn_f1_per_threshold():
  from sklearn.metrics import f1_score
  rng = np.random.default_rng(0)
  y = (rng.uniform(size=(300, 4)) < [0.05, 0.3, 0.6, 0.0]).astype(float)  # last class: no positives
  probs = np.clip(0.3 * y + rng.uniform(size=y.shape) * 0.8, 0, 1).astype(np.float32)
  probs[:20] = np.round(probs[:20], 2)  # some scores exactly on grid points
  grid = multilabel.threshold_grid(0.01)
  expected = [grid[int(np.argmax([f1_score(y[:, k], probs[:, k] >= t, zero_division=0) for t in grid]))]
              for k in range(y.shape[1])]
  assert multilabel.tune_thresholds(y, probs, grid).tolist() == expected


def _logits(probs):
  probs = np.asarray(probs, np.float64)[:, None]
  return np.log(probs / (1 - probs))


def test_samsemo_protocol_scores_test_with_train_thresholds_not_valid_ones():
  """The trainer's two choices on one class (grid 0.1 ... 0.9), labels [1, 1, 0, 0] everywhere."""
  task = ConfigDict(dict(type="multi_label", class_names=["x"], threshold_step=0.1))
  y = np.array([[1], [1], [0], [0]], np.float32)
  # train: t=0.1-0.2 predicts .95 .45 .25 (F1 .8); t=0.3-0.4 predicts .95 .45 (F1 1) -> 0.3
  train_thresholds = tune_on_outputs(task, y, _logits([0.95, 0.45, 0.25, 0.05]))
  # valid: t=0.2-0.5 predicts .85 .65 .55 (F1 .8); t=0.6 predicts .85 .65 (F1 1) -> 0.6, tuned on itself
  valid = evaluate_predictions(task, y, _logits([0.85, 0.65, 0.55, 0.15]), loss=0.0)
  assert train_thresholds.tolist() == pytest.approx([0.3]) and valid.thresholds.tolist() == pytest.approx([0.6])
  assert valid.scalars["f1_macro"] == pytest.approx(1.0)
  test_logits = _logits([0.7, 0.4, 0.35, 0.2])
  clean = evaluate_predictions(task, y, test_logits, loss=0.0, thresholds=valid.thresholds)
  samsemo = evaluate_predictions(task, y, test_logits, loss=0.0, thresholds=train_thresholds)
  assert clean.y_pred.ravel().tolist() == [1, 0, 0, 0] and clean.scalars["f1_macro"] == pytest.approx(2 / 3)
  assert samsemo.y_pred.ravel().tolist() == [1, 1, 1, 0] and samsemo.scalars["f1_macro"] == pytest.approx(0.8)


# Macro averages run over the classes present in the split's labels (issue 15): a class without
# support keeps its table row but does not add a 0 to the mean.

def test_single_label_macro_skips_a_class_absent_from_the_labels():
  y_true = np.array([0, 0, 1, 1, 2, 2])
  y_pred = np.array([0, 3, 1, 1, 2, 0])  # one prediction of "d", which no example has
  scalars, table, _ = classification.single_label_metrics(y_true, y_pred, ["a", "b", "c", "d"])
  assert table["support"].tolist() == [2, 2, 2, 0] and table["f1"][3] == 0.0
  # a: P=1/2 R=1/2; b: 1; c: P=1 R=1/2 -> 2/3. Over 3 present classes, not 4.
  assert scalars["f1_macro"] == pytest.approx((1 / 2 + 1 + 2 / 3) / 3)
  assert scalars["balanced_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
  with warnings.catch_warnings():  # sklearn warns that y_pred holds a class y_true lacks
    warnings.simplefilter("ignore")
    assert scalars["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))


def test_multilabel_macro_means_skip_emotions_without_positives():
  y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
  probs = np.array([[0.9, 0.1, 0.1], [0.8, 0.2, 0.7], [0.1, 0.9, 0.1], [0.6, 0.1, 0.1]])
  scalars, table = multilabel.multilabel_metrics(y, probs, np.full(3, 0.5), ["x", "y", "z"])
  # x: tp2 fp1 -> P 2/3 R 1 F1 .8; y: tp1 fn1 -> P 1 R 1/2 F1 2/3; z: no positives, one false alarm.
  assert table["support"].tolist() == [2, 2, 0]
  assert scalars["f1_macro"] == pytest.approx((0.8 + 2 / 3) / 2)
  assert scalars["precision_mean"] == pytest.approx((2 / 3 + 1) / 2)
  assert scalars["recall_mean"] == pytest.approx((1 + 1 / 2) / 2)
  # Accuracy is defined on an all-negative column, so its mean keeps every emotion.
  assert scalars["accuracy_mean"] == pytest.approx((3 / 4 + 3 / 4 + 3 / 4) / 3)


def test_multilabel_macro_is_zero_when_no_emotion_has_a_positive():
  scalars, _ = multilabel.multilabel_metrics(np.zeros((3, 2)), np.full((3, 2), 0.9), np.full(2, 0.5), ["x", "y"])
  assert scalars["f1_macro"] == 0.0 and scalars["recall_mean"] == 0.0


def _williams_case():
  """Every segment shows an emotion, so the neutral column has no support (Williams on MOSEI)."""
  y_true = np.array([[1, 0, 0, 0, 0, 0], [0, 2, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0],
                     [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 1]], float)
  y_pred = y_true.copy()
  y_pred[2] = [0.9, 0.1, 0, 0, 0, 0]   # sad missed
  y_pred[7] = 0.1                      # nothing snaps above 0: predicted neutral
  return y_true, y_pred


def test_regression_presence_macro_is_over_the_six_present_emotions_not_seven():
  y_true, y_pred = _williams_case()
  scalars, table = regression.regression_metrics(y_true, y_pred)
  presence = table["task"] == "presence"
  assert table["class"][presence].tolist()[-1] == "neutral" and table["support"][presence][-1] == 0
  # happy tp2 fn1 -> .8; sad tp1 fn1 -> 2/3; fear tp1 fn1 -> 2/3; anger, surprise, disgust 1.
  six = [0.8, 2 / 3, 1, 1, 1, 2 / 3]
  assert table["f1"][presence][:-1].tolist() == pytest.approx(six)
  assert scalars["presence_f1_macro"] == pytest.approx(np.mean(six))
  assert scalars["presence_f1_macro"] > sum(six) / 7 + 0.1          # what averaging in the 0 gave
  assert scalars["presence_recall_macro"] == pytest.approx((2 / 3 + 1 / 2 + 1 + 1 + 1 + 1 / 2) / 6)


def test_report_records_absent_classes_in_json_and_says_so_under_the_tables(tmp_path):
  task = ConfigDict(dict(type="regression", class_names=list(regression.EMOTIONS), neutral_class=True,
                         eval_from_column=0))
  y_true, y_pred = _williams_case()
  result = evaluate_predictions(task, y_true, y_pred, loss=0.5)
  report.write_split(tmp_path, "test", result, task)
  payload = json.loads((tmp_path / "test_metrics.json").read_text())
  assert payload["macro_average"]["presence"] == {"classes": 7, "present": 6, "absent": ["neutral"]}
  # Dominant emotions: row 2 ties happy/sad, row 7 happy/fear; neutral never dominant, the rest are.
  assert payload["macro_average"]["dominant"]["absent"] == ["neutral"]
  summary = report.write_summary(tmp_path, {"test": result}, [], "presence_f1_macro", "williams").read_text()
  assert "present in the split: presence 6 of 7 (absent: neutral); dominant 6 of 7 (absent: neutral)." in summary
  single = ConfigDict(dict(type="single_label", class_names=["a", "b", "c"]))
  full = evaluate_predictions(single, np.array([0, 1, 2]), np.eye(3), loss=0.1)
  assert report.macro_coverage(full.table) == {"all": {"classes": 3, "present": 3, "absent": []}}
  assert report.coverage_note(full.table).endswith("present in the split: 3 of 3.")
