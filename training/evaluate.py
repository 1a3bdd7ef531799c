"""Metrics on the test slice, for the model and the two baselines DESIGN.md names."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mean_absolute_error
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from features.schema import Level
from models.metrics import classification_metrics, reliability_table

SHRINKAGE_ATTEMPTS = 20  # payer x level rates borrow this many attempts' worth of the market rate


class PayerLevelRates:
    """Baseline: each payer's historical success rate at each level, shrunk toward the market's."""

    def fit(self, attempts: pd.DataFrame) -> PayerLevelRates:
        self.market_ = attempts.groupby("level")["success"].mean()
        grouped = attempts.groupby(["payer_id", "level"])["success"].agg(["sum", "count"])
        prior = self.market_.reindex(grouped.index.get_level_values("level")).to_numpy()
        self.rates_ = (grouped["sum"] + SHRINKAGE_ATTEMPTS * prior) / (grouped["count"] + SHRINKAGE_ATTEMPTS)
        self.overall_ = float(attempts["success"].mean())
        return self

    def predict_proba(self, attempts: pd.DataFrame) -> np.ndarray:
        keys = pd.MultiIndex.from_arrays([attempts["payer_id"].astype(str), attempts["level"]])
        market = self.market_.reindex(attempts["level"]).fillna(self.overall_).to_numpy()
        return self.rates_.reindex(keys).fillna(pd.Series(market, index=keys)).to_numpy()


def logistic_baseline(train_features: pd.DataFrame, y: pd.Series, seed: int = 0):
    """Baseline: a one-hot logistic regression over the same features."""
    categorical = [c for c in train_features.columns if isinstance(train_features[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in train_features.columns if c not in categorical]
    encoder = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=30), categorical),
            ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
        ]
    )
    model = make_pipeline(encoder, LogisticRegression(max_iter=300, C=1.0, random_state=seed))
    return model.fit(train_features, y)


def metrics_by(frame: pd.DataFrame, group: str, p: np.ndarray, min_rows: int = 50) -> pd.DataFrame:
    """Classification metrics per value of ``group`` (groups with fewer than ``min_rows`` are skipped)."""
    rows = {}
    y = frame["success"].to_numpy()
    for value, index in frame.groupby(group).indices.items():
        if len(index) >= min_rows:
            rows[value] = classification_metrics(y[index], p[index])
    return pd.DataFrame(rows).T


def level_name(level: int) -> str:
    return Level(int(level)).name


def settlement_metrics(test: pd.DataFrame, predicted: pd.DataFrame) -> dict[str, float]:
    """Accuracy of the amount given success, and of the days, on the test slice."""
    won = test["success"].to_numpy()
    actual = test["final_allowed_amount"].to_numpy()[won]
    p10, p90 = predicted["allowed_p10"].to_numpy()[won], predicted["allowed_p90"].to_numpy()[won]
    billed = test["billed_amount"].to_numpy()[won]
    return {
        "settlement_mae_dollars": mean_absolute_error(actual, predicted["expected_allowed"].to_numpy()[won]),
        "settlement_mae_share_of_billed": mean_absolute_error(
            actual / billed, predicted["expected_allowed"].to_numpy()[won] / billed
        ),
        "settlement_p10_p90_coverage": float(np.mean((actual >= p10) & (actual <= p90))),
        "days_mae": mean_absolute_error(test["days_to_resolution"], predicted["expected_days"]),
    }


def plot_tables(test: pd.DataFrame, predicted: pd.DataFrame) -> dict[str, list[dict]]:
    """What the model page plots, kept in the bundle's metadata (JSON-ready): the success model's calibration
    (the reliability table of the test attempts, ``models.metrics``: mean predicted, observed rate, count per
    non-empty bin) and the P10-P90 settlement interval's coverage by level (successful test attempts)."""
    table = reliability_table(test["success"], predicted["p_success"])
    calibration = [
        {"predicted": float(row.mean_predicted), "observed": float(row.observed_rate), "count": int(row.rows)}
        for row in table.itertuples()
    ]
    won = test["success"].to_numpy()
    actual = test["final_allowed_amount"].to_numpy()
    inside = (actual >= predicted["allowed_p10"].to_numpy()) & (actual <= predicted["allowed_p90"].to_numpy())
    levels = test["level"].to_numpy()
    coverage = [
        {"level": level_name(level), "coverage": float(inside[won & (levels == level)].mean()), "count": int(n)}
        for level in sorted(set(levels[won].tolist()))
        if (n := int((won & (levels == level)).sum()))
    ]
    return {"calibration": calibration, "coverage": coverage}
