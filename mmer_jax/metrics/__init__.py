"""Metrics per task type (numpy, scikit-learn's definitions), reports, plots and sliced tables."""

from mmer_jax.metrics.evaluate import EvalResult, evaluate_predictions  # noqa: F401
