"""The IDR models' features and the temporal split."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

#: Known when a provider decides to take a claim to IDR.
CATEGORICAL_FEATURES = (
    "payer_group",
    "plan_type",
    "state",
    "service_code",
    "place_of_service",
    "vehicle_type",
    "vehicle_capacity",
    "line_item_type",
    "provider_group",
    "specialty",
    "practice_size",
)
NUMERIC_FEATURES = ("quarter_time", "batched")
#: Set by the parties before the decision: usable, but only as associations (see the module docstring).
OFFER_FEATURES = ("log_provider_offer_ratio", "log_plan_offer_ratio")
#: Raw inputs of the logged model: the dataset columns the filing-time features are computed from.
MODEL_INPUT_COLUMNS = ("quarter", *CATEGORICAL_FEATURES, "batched")

NOT_FEATURES: dict[str, str] = {
    "outcome, offer selected, prevailing_offer_ratio": "these are the outcome",
    "default_decision": "happens during the dispute (a party fails to submit an offer), unknown when filing",
    "plan_type = no_plan_response": "records that the plan never answered the dispute; read as unknown plan "
    "type (94% provider wins there: an unknown plan type reads optimistic)",
    "days_to_determination, idre_fee": "known only after the determination (the fee is 0 on defaults)",
    "initiating_party": "recorded only from 2024Q3",
    "offer ratios with a missing side": "a missing offer usually means that party defaulted, so the model "
    "given offers uses only rows where both offers are known",
}

#: Offers of 0 exist (a plan offering nothing); the log needs a floor.
MIN_OFFER_RATIO = 0.01


def model_features(rows: pd.DataFrame) -> pd.DataFrame:
    """Model inputs computed from IDR dataset rows (offer features only when the offer columns are there)."""
    features = pd.DataFrame(index=rows.index)
    for column in CATEGORICAL_FEATURES:
        features[column] = rows[column].astype("str") if column in rows else pd.NA
    features["plan_type"] = features["plan_type"].mask(features["plan_type"].eq("no_plan_response"))
    year = pd.to_numeric(rows["quarter"].str[:4], errors="coerce")
    features["quarter_time"] = year + (pd.to_numeric(rows["quarter"].str[-1], errors="coerce") - 1) / 4
    features["batched"] = rows["batched"].astype("Float64").astype("float64")
    for feature, column in zip(OFFER_FEATURES, ("provider_offer_ratio", "plan_offer_ratio"), strict=True):
        if column in rows:
            features[feature] = np.log(rows[column].clip(lower=MIN_OFFER_RATIO))
    return features


def temporal_split(
    rows: pd.DataFrame,
    labelled: pd.Series,
    test_quarters: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the earlier quarters, test on the latest ``test_quarters`` that have the label."""
    subset = rows[labelled.fillna(False).to_numpy()]
    quarters = sorted(subset["quarter"].unique())
    if len(quarters) <= test_quarters:
        raise ValueError(f"temporal split needs more than {test_quarters} quarter(s) with the label; found {quarters}")
    test_set = set(quarters[-test_quarters:])
    is_test = subset["quarter"].isin(test_set)
    return subset[~is_test], subset[is_test]


def usable_features(train: pd.DataFrame, candidates: Iterable[str]) -> list[str]:
    """Candidates with at least one value in training (the air-ambulance file has no specialty, say)."""
    return [column for column in candidates if train[column].notna().any()]


def category_levels(train: pd.DataFrame, columns: Iterable[str]) -> dict[str, list[str]]:
    return {column: sorted(train[column].dropna().unique()) for column in columns}


def encode(features: pd.DataFrame, levels: dict[str, list[str]], numeric: Iterable[str]) -> pd.DataFrame:
    """LightGBM input: categoricals with the training levels (an unseen value becomes missing), numerics."""
    encoded = pd.DataFrame(index=features.index)
    for column, known in levels.items():
        values = features[column]
        encoded[column] = pd.Categorical(values.where(values.isin(known)), categories=known)
    for column in numeric:
        encoded[column] = features[column].astype("float64")
    return encoded
