"""The fitted outcome models and how they are read at scoring time.

- success: a LightGBM classifier over all levels, calibrated with isotonic regression on a newer slice;
- settlement: the final allowed amount given success, as a fraction of billed: a mean model (for the
  expected value the decision needs) and P10/P50/P90 quantile models (the interval);
- days: days to resolution.
Fitting lives in ``training``; this module only predicts, so serving never imports training code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

SETTLEMENT_QUANTILES = {"allowed_p10": 0.1, "allowed_p50": 0.5, "allowed_p90": 0.9}
MIN_GAIN_DOLLARS = 0.01
PREDICT_THREADS = os.cpu_count() or 1


def model_matrix(features: pd.DataFrame, booster: lgb.Booster) -> np.ndarray:
    """``features`` as the float64 matrix LightGBM itself makes of a DataFrame (categories as their codes
    in the training vocabulary, unknown as NaN). Converting once lets six models and many ladder steps
    share one matrix instead of converting the frame on every call."""
    matrix = np.empty(features.shape, dtype="float64")
    trained_categories = iter(booster.pandas_categorical or [])
    for position, (_, values) in enumerate(features.items()):
        if isinstance(values.dtype, pd.CategoricalDtype):
            trained = next(trained_categories)
            if list(values.cat.categories) != list(trained):
                values = values.cat.set_categories(trained)
            codes = values.cat.codes.to_numpy()
            matrix[:, position] = np.where(codes < 0, np.nan, codes)
        else:
            matrix[:, position] = values.to_numpy(dtype="float64", na_value=np.nan)
    return matrix


@dataclass
class OutcomeModels:
    success: lgb.LGBMClassifier
    calibrator: IsotonicRegression
    settlement_mean: lgb.LGBMRegressor
    settlement_quantiles: dict[str, lgb.LGBMRegressor]
    days: lgb.LGBMRegressor

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The feature matrix every outcome model predicts on (they share one training vocabulary)."""
        return model_matrix(features, self.success.booster_)

    @staticmethod
    def _predict(model: lgb.LGBMModel, matrix: np.ndarray, **options) -> np.ndarray:
        # the booster directly: what the sklearn wrapper calls (best iteration, all cores), minus its
        # per-call input checks
        return model.booster_.predict(matrix, num_threads=PREDICT_THREADS, **options)

    def p_success(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        matrix = self.matrix(features) if isinstance(features, pd.DataFrame) else features
        return np.clip(self.calibrator.predict(self._predict(self.success, matrix)), 0.0, 1.0)

    def predict(self, features: pd.DataFrame | np.ndarray, billed: np.ndarray, allowed_before: np.ndarray,
                index: pd.Index | None = None) -> pd.DataFrame:
        """Per attempt: p_success, expected_allowed, allowed_p10/p50/p90 and expected_days.

        ``features`` is a transformed frame or its ``matrix``. Amounts given success are kept strictly
        above the allowed amount before the attempt (success means it rose) and at most billed; the
        quantiles are sorted so the interval never crosses.
        """
        if isinstance(features, pd.DataFrame):
            index = features.index
            features = self.matrix(features)
        floor = allowed_before + MIN_GAIN_DOLLARS
        ceiling = np.maximum(billed, floor)

        def dollars(model: lgb.LGBMRegressor) -> np.ndarray:
            return np.clip(self._predict(model, features) * billed, floor, ceiling)

        quantiles = np.sort(np.column_stack([dollars(m) for m in self.settlement_quantiles.values()]), axis=1)
        expected = np.clip(dollars(self.settlement_mean), quantiles[:, 0], quantiles[:, -1])
        result = {"p_success": self.p_success(features), "expected_allowed": expected}
        result.update(dict(zip(self.settlement_quantiles, quantiles.T, strict=True)))
        result["expected_days"] = np.maximum(self._predict(self.days, features), 1.0)
        return pd.DataFrame(result, index=index)

    def success_contributions(self, features: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """Per-feature contributions (log-odds) of the success model, for explanations."""
        names = self.success.booster_.feature_name()
        index = features.index if isinstance(features, pd.DataFrame) else None
        matrix = self.matrix(features) if isinstance(features, pd.DataFrame) else features
        contributions = self._predict(self.success, matrix, pred_contrib=True)
        return pd.DataFrame(contributions[:, :-1], columns=names, index=index)
