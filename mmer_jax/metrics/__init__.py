"""Metrics (scikit-learn based) per task type, reports, plots and sliced tables."""

from mmer_jax.metrics.evaluate import EvalResult, evaluate_predictions  # noqa: F401
