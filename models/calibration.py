"""Probability calibrators for the success model (fitted in training, applied at scoring)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

LOGIT_CLIP = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.log(p / (1 - p))


class PlattCalibrator:
    """Platt scaling on the logit: two parameters, so it cannot overfit a small calibration slice the way
    isotonic regression does."""

    def fit(self, raw: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        self.model_ = LogisticRegression(C=1e6).fit(_logit(raw)[:, None], np.asarray(y, dtype=int))
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        # the fitted logistic curve itself: ``predict_proba``'s number without its per-call input checks,
        # which cost more than the arithmetic for the few rows of one claim
        return expit(_logit(raw) * self.model_.coef_[0, 0] + self.model_.intercept_[0])
