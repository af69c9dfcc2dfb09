"""The numpy metrics equal scikit-learn's (to 1e-12) on random and degenerate inputs."""

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from mmer_jax.metrics import numpy_metrics as nm

TOL = 1e-12


def _single_label_cases():
  rng = np.random.default_rng(0)
  cases = [(rng.integers(0, 4, n), rng.integers(0, 4, n)) for n in (1, 2, 7, 50, 300)]
  y = rng.integers(0, 3, 40)
  cases += [
      (y, y),                                        # perfect
      (y, np.zeros_like(y)),                         # every prediction one class
      (np.zeros(20, int), rng.integers(0, 4, 20)),   # one true class
      (np.zeros(20, int), np.zeros(20, int)),        # one class everywhere
      (rng.integers(0, 2, 30), rng.integers(2, 4, 30)),  # predicted classes never true: no hit at all
      (np.array([0, 1, 5, 5]), np.array([5, 1, 0, 7])),  # ids outside `labels`
  ]
  return cases


def _multilabel_cases():
  rng = np.random.default_rng(1)
  cases = [((rng.random((n, 5)) < q).astype(int), (rng.random((n, 5)) < q).astype(int))
           for n in (1, 3, 60, 400) for q in (0.1, 0.5)]
  t = (rng.random((30, 4)) < 0.4).astype(int)
  t[:, 1] = 0                                               # a column without positives
  cases += [(t, t), (t, np.zeros_like(t)), (t, np.ones_like(t)), (np.zeros((10, 3), int), np.zeros((10, 3), int))]
  return cases


def _close(ours, theirs):
  np.testing.assert_allclose(np.asarray(ours, np.float64), np.asarray(theirs, np.float64), rtol=0, atol=TOL)


@pytest.fixture(autouse=True)
def _quiet():
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # sklearn warns on every ill-defined case these tests build on purpose
    yield


@pytest.mark.parametrize("case", range(len(_single_label_cases())))
def test_single_label_matches_sklearn(case):
  y_true, y_pred = _single_label_cases()[case]
  labels = np.arange(4)
  ours = nm.precision_recall_f1(y_true, y_pred, labels=labels)
  theirs = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
  for a, b in zip(ours, theirs):
    _close(a, b)
  # Support is a count, int64 always; sklearn's is float64 when no prediction is right (its zeros).
  assert ours[3].dtype == np.int64
  for average in ("micro", "macro", "weighted"):
    for k, fn in enumerate((skm.precision_score, skm.recall_score, skm.f1_score)):
      _close(nm.precision_recall_f1(y_true, y_pred, labels=labels, average=average)[k],
             fn(y_true, y_pred, labels=labels, average=average, zero_division=0))
  _close(nm.accuracy(y_true, y_pred), skm.accuracy_score(y_true, y_pred))
  ours_cm, theirs_cm = nm.confusion_matrix(y_true, y_pred, labels), skm.confusion_matrix(y_true, y_pred, labels=labels)
  assert ours_cm.dtype == theirs_cm.dtype and (ours_cm == theirs_cm).all()


def test_labels_default_to_the_classes_seen():
  y_true, y_pred = np.array([2, 2, 7, 3]), np.array([2, 3, 3, 9])
  for a, b in zip(nm.precision_recall_f1(y_true, y_pred),
                  skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0)):
    _close(a, b)


@pytest.mark.parametrize("case", range(len(_multilabel_cases())))
def test_multilabel_matches_sklearn(case):
  y_true, y_pred = _multilabel_cases()[case]
  ours = nm.precision_recall_f1(y_true, y_pred)
  theirs = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
  for a, b in zip(ours, theirs):
    _close(a, b)
  for average in ("micro", "macro", "weighted"):
    for k, fn in enumerate((skm.precision_score, skm.recall_score, skm.f1_score)):
      _close(nm.precision_recall_f1(y_true, y_pred, average=average)[k],
             fn(y_true, y_pred, average=average, zero_division=0))
  _close(nm.accuracy(y_true, y_pred), skm.accuracy_score(y_true, y_pred))
  columns = [y_true.shape[1] - 1, 0]  # `labels` picks columns, in its order
  for a, b in zip(nm.precision_recall_f1(y_true, y_pred, labels=columns),
                  skm.precision_recall_fscore_support(y_true, y_pred, labels=columns, zero_division=0)):
    _close(a, b)
  for k in range(y_true.shape[1]):  # each column as a binary problem, as the multi-label table scores it
    t, p = y_true[:, k], y_pred[:, k]
    for j, fn in enumerate((skm.precision_score, skm.recall_score, skm.f1_score)):
      _close(nm.precision_recall_f1(t, p, average="binary")[j], fn(t, p, zero_division=0))
    _close(nm.accuracy(t, p), skm.accuracy_score(t, p))


@pytest.mark.parametrize("seed", range(6))
def test_roc_auc_matches_sklearn(seed):
  rng = np.random.default_rng(seed)
  n = [2, 5, 40, 500, 3000, 64][seed]
  y = rng.integers(0, 2, n)
  y[0], y[-1] = 0, 1
  scores = [rng.random(n), rng.random(n).astype(np.float32),
            np.round(rng.random(n) * 4) / 4,          # many ties
            rng.integers(0, 2, n),                    # binary predictions, as the regression task scores
            np.full(n, 0.3), y.astype(float)]         # one score for all; a perfect ranking
  for score in scores:
    _close(nm.roc_auc(y, score), skm.roc_auc_score(y, score))
  _close(nm.roc_auc(y * 3 + 1, scores[0]), skm.roc_auc_score(y * 3 + 1, scores[0]))  # other class ids


def test_roc_auc_is_nan_with_one_outcome():
  assert np.isnan(nm.roc_auc(np.ones(5), np.arange(5.0)))
  assert np.isnan(nm.roc_auc(np.zeros(5), np.arange(5.0)))


@pytest.mark.parametrize("shape", [(1,), (37,), (37, 6), (1, 3)])
def test_regression_errors_match_sklearn(shape):
  rng = np.random.default_rng(3)
  y_true, y_pred = rng.normal(size=shape) * 3, rng.normal(size=shape)
  _close(nm.mean_absolute_error(y_true, y_pred), skm.mean_absolute_error(y_true, y_pred))
  _close(nm.mean_squared_error(y_true, y_pred), skm.mean_squared_error(y_true, y_pred))
