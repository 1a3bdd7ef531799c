"""Small outcome models fitted on random data, shared by the estimator and compiled-forest tests."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from models.estimators import SETTLEMENT_QUANTILES, OutcomeModels

ROWS, FEATURES = 600, 5


@pytest.fixture(scope="module")
def models_and_data() -> tuple[OutcomeModels, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, FEATURES))
    x[rng.random(x.shape) < 0.05] = np.nan
    success = (np.nan_to_num(x[:, 0]) + rng.normal(size=ROWS) > 0).astype(int)
    fraction = 1 / (1 + np.exp(-np.nan_to_num(x[:, 1]))) + rng.normal(scale=0.1, size=ROWS)
    options = dict(n_estimators=15, num_leaves=7, min_child_samples=10, verbose=-1)
    classifier = lgb.LGBMClassifier(**options).fit(x, success)
    raw = classifier.predict_proba(x)[:, 1]
    calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, success)
    quantiles = {
        name: lgb.LGBMRegressor(objective="quantile", alpha=alpha, **options).fit(x, fraction)
        for name, alpha in SETTLEMENT_QUANTILES.items()
    }
    models = OutcomeModels(
        classifier,
        calibrator,
        lgb.LGBMRegressor(**options).fit(x, fraction),
        quantiles,
        lgb.LGBMRegressor(**options).fit(x, rng.gamma(2.0, 30.0, size=ROWS)),
    )
    billed = rng.uniform(500, 5000, size=ROWS)
    allowed = billed * rng.uniform(0, 0.6, size=ROWS)
    return models, x, billed, allowed
