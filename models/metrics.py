"""Classification and calibration metrics of a predicted success probability, written once.

Evaluation (``training.evaluate``, ``training.pipeline``), promotion (``training.promote``), the IDR models
(``training.idr``), the distance to the simulator's truth (``training.truth``), monitoring
(``models.monitoring``) and the benchmarks all call these, so an ECE or a log loss means the same thing in
every report, MLflow run and endpoint.

- **Bins**: calibration uses ``CALIBRATION_BINS`` = 15 equal-width bins of predicted probability, bin k
  holding [k/15, (k+1)/15) and the last one also 1.0. Fifteen is the common convention since Guo et al.
  (2017, "On Calibration of Modern Neural Networks"), so our ECE compares with published ones; equal-width
  (rather than equal-count) bins sit at the same place for every model, so two models' ECE and reliability
  tables are measured on one grid.
- **Log loss** floors probabilities at ``PROBABILITY_FLOOR`` (and caps them at 1 minus it): one confident
  miss then costs at most -ln(1e-6) = 13.8 nats instead of sklearn's -ln(2.2e-16) = 36, so a single row
  cannot swamp a comparison of two models. Brier, ECE and AUC use the probabilities as given.
- **Input**: labels 0/1 (or booleans) and probabilities in [0, 1], the same length, at least one row. Anything
  else raises ``ValueError`` naming the argument, the first bad position and its value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sklearn_log_loss

CALIBRATION_BINS = 15
PROBABILITY_FLOOR = 1e-6


def expected_calibration_error(y, p, bins: int = CALIBRATION_BINS) -> float:
    """Mean |observed rate - mean prediction| over equal-width probability bins, weighted by rows."""
    y, p = _validated(y, p)
    return _ece(y, p, bins)


def reliability_table(y, p, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Per non-empty equal-width bin: its lower edge, rows, mean prediction and observed rate."""
    y, p = _validated(y, p)
    rows, observed, predicted = _binned(y, p, bins)
    used = rows > 0
    return pd.DataFrame(
        {
            "bin_low": np.arange(bins)[used] / bins,
            "rows": rows[used],
            "mean_predicted": predicted[used] / rows[used],
            "observed_rate": observed[used] / rows[used],
        }
    )


def log_loss(y, p) -> float:
    """Mean negative log likelihood, probabilities kept within ``PROBABILITY_FLOOR`` of 0 and 1."""
    y, p = _validated(y, p)
    return _log_loss(y, p)


def classification_metrics(y, p) -> dict[str, float]:
    """Rows, ROC AUC (NaN when the labels hold one class only), log loss, Brier score and ECE."""
    y, p = _validated(y, p)
    both_classes = 0 < y.sum() < len(y)
    return {
        "n": float(len(y)),
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else float("nan"),
        "log_loss": _log_loss(y, p),
        "brier": float(brier_score_loss(y, p)),
        "ece": _ece(y, p, CALIBRATION_BINS),
    }


def _validated(y, p) -> tuple[np.ndarray, np.ndarray]:
    """``y`` and ``p`` as float arrays, or a ValueError saying which value breaks which rule."""
    y, p = _vector(y, "y"), _vector(p, "p")
    if len(y) != len(p):
        raise ValueError(f"y has {len(y)} values but p has {len(p)}: each label needs one predicted probability")
    if not len(y):
        raise ValueError("y and p are empty: a metric needs at least one labelled prediction")
    _first_bad(y, (y != 0) & (y != 1), "y", "a label must be 0 or 1")
    _first_bad(p, ~((p >= 0) & (p <= 1)), "p", "a predicted probability must be a number in [0, 1]")
    return y, p


def _vector(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    try:
        return array.astype(float)
    except (TypeError, ValueError):
        position, value = next((i, value) for i, value in enumerate(array.tolist()) if not _is_number(value))
        raise ValueError(f"{name}[{position}] = {value!r}: not a number") from None


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _first_bad(values: np.ndarray, bad: np.ndarray, name: str, rule: str) -> None:
    positions = np.flatnonzero(bad)
    if len(positions):
        more = f" (and {len(positions) - 1} more)" if len(positions) > 1 else ""
        raise ValueError(f"{name}[{positions[0]}] = {values[positions[0]]}{more}: {rule}")


def _binned(y: np.ndarray, p: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin: rows, sum of labels, sum of predictions."""
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins = {bins!r}: the number of calibration bins must be a whole number >= 1")
    which = np.minimum((p * bins).astype(int), bins - 1)
    return (
        np.bincount(which, minlength=bins),
        np.bincount(which, weights=y, minlength=bins),
        np.bincount(which, weights=p, minlength=bins),
    )


def _ece(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    _, observed, predicted = _binned(y, p, bins)
    return float(np.abs(observed - predicted).sum() / len(y))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(sklearn_log_loss(y, np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR), labels=[0, 1]))
