"""The fitted outcome models and how they are read at scoring time.

- success: a LightGBM classifier over all levels, calibrated with isotonic regression on a newer slice;
- settlement: the final allowed amount given success, as a fraction of billed: a mean model (for the
  expected value the decision needs) and P10/P50/P90 quantile models (the interval);
- days: days to resolution.
Fitting lives in ``training``; this module only predicts, so serving never imports training code.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

SETTLEMENT_QUANTILES = {"allowed_p10": 0.1, "allowed_p50": 0.5, "allowed_p90": 0.9}
MIN_GAIN_DOLLARS = 0.01


@dataclass
class OutcomeModels:
    success: lgb.LGBMClassifier
    calibrator: IsotonicRegression
    settlement_mean: lgb.LGBMRegressor
    settlement_quantiles: dict[str, lgb.LGBMRegressor]
    days: lgb.LGBMRegressor

    def p_success(self, features: pd.DataFrame) -> np.ndarray:
        raw = self.success.predict_proba(features)[:, 1]
        return np.clip(self.calibrator.predict(raw), 0.0, 1.0)

    def predict(self, features: pd.DataFrame, billed: np.ndarray, allowed_before: np.ndarray) -> pd.DataFrame:
        """Per attempt: p_success, expected_allowed, allowed_p10/p50/p90 and expected_days.

        Amounts given success are kept strictly above the allowed amount before the attempt (success
        means it rose) and at most billed; the quantiles are sorted so the interval never crosses.
        """
        floor = allowed_before + MIN_GAIN_DOLLARS
        ceiling = np.maximum(billed, floor)

        def dollars(model: lgb.LGBMRegressor) -> np.ndarray:
            return np.clip(model.predict(features) * billed, floor, ceiling)

        quantiles = np.sort(np.column_stack([dollars(m) for m in self.settlement_quantiles.values()]), axis=1)
        expected = np.clip(dollars(self.settlement_mean), quantiles[:, 0], quantiles[:, -1])
        result = {"p_success": self.p_success(features), "expected_allowed": expected}
        result.update(dict(zip(self.settlement_quantiles, quantiles.T, strict=True)))
        result["expected_days"] = np.maximum(self.days.predict(features), 1.0)
        return pd.DataFrame(result, index=features.index)

    def success_contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contributions (log-odds) of the success model, for explanations."""
        contributions = self.success.predict(features, pred_contrib=True)
        return pd.DataFrame(contributions[:, :-1], columns=features.columns, index=features.index)
