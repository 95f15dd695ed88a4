"""Model-quality metrics reported by training and evaluation."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
    roc_curve,
)

ECE_BINS = 10


def expected_calibration_error(y_true: np.ndarray, probability: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error over equal-width probability bins.

    The weighted mean, over bins, of |observed default rate - mean predicted
    probability|; equal-width bins (not quantiles) so the figure is comparable
    between models.
    """
    y_true = np.asarray(y_true, dtype=float)
    probability = np.asarray(probability, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probability, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.sum() * abs(y_true[in_bin].mean() - probability[in_bin].mean())
    return float(total / len(y_true))


def ks_statistic(y_true: np.ndarray, probability: np.ndarray) -> float:
    """Kolmogorov-Smirnov separation: max |TPR - FPR| over thresholds."""
    fpr, tpr, _ = roc_curve(y_true, probability)
    return float(np.max(tpr - fpr))


def quality_metrics(y_true, probability) -> dict[str, float]:
    """All figures we report, for defaults (1) against repaid (0)."""
    y_true = np.asarray(y_true, dtype=int)
    probability = np.asarray(probability, dtype=float)
    return {
        "roc_auc": float(roc_auc_score(y_true, probability)),
        "pr_auc": float(average_precision_score(y_true, probability)),
        "brier": float(brier_score_loss(y_true, probability)),
        "log_loss": float(log_loss(y_true, np.clip(probability, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "accuracy": float(accuracy_score(y_true, probability > 0.5)),
        "ks": ks_statistic(y_true, probability),
        "ece": expected_calibration_error(y_true, probability),
    }
