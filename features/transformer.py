"""The one feature transformer shared by training and serving.

It turns contract rows describing an attempt (a claim, the level attempted, the level it comes from, the
allowed amount before it and the date it is made) into model features: ratios to billed, Medicare and
QPA, dollars at stake, CARC categories, code family, ages, and the payer, plan, state and specialty as
native categoricals with a vocabulary fixed at fit time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features import reference
from features.schema import TRUTH_PREFIX

#: Columns an attempt frame must carry besides the claim columns.
ATTEMPT_COLUMNS = ("level", "prior_level", "allowed_before", "attempt_date")
CATEGORICAL_SOURCES = ("payer_id", "plan_type", "funding", "state", "specialty", "place_of_service",
                       "cpt_code", "modifier", "code_family", "denial_category")
FLAG_SOURCES = ("emergency", "nsa_eligible", "network_gap", "has_medical_necessity_letter",
                "has_clinical_notes", "prior_authorization")
OTHER_CATEGORY = "__other__"
MISSING_CATEGORY = "__missing__"


class TruthLeakError(ValueError):
    """A simulator truth column was offered as a feature."""


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator > 0)).astype("float64")


def _days_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (pd.to_datetime(later) - pd.to_datetime(earlier)).dt.days.astype("float64")


class ClaimFeatures(TransformerMixin, BaseEstimator):
    """Contract attempt rows -> numeric and categorical model features.

    Parameters
    ----------
    min_category_count : categories seen fewer times than this at fit time share one ``__other__``
        level, so that rare payers or codes neither overfit nor break serving.
    idr_benchmarks : optional per-payer Federal IDR benchmarks (``features.idr_payers``); when given,
        the payer's public IDR record becomes prior features for payers with thin history.
    """

    def __init__(self, min_category_count: int = 30, idr_benchmarks: pd.DataFrame | None = None):
        self.min_category_count = min_category_count
        self.idr_benchmarks = idr_benchmarks

    def fit(self, X: pd.DataFrame, y=None):
        self._check_input(X)
        base = self._base_columns(X)
        self.categories_ = {}
        for name in CATEGORICAL_SOURCES:
            counts = base[name].value_counts()
            kept = sorted(counts.index[counts >= self.min_category_count].astype(str))
            self.categories_[name] = [*kept, OTHER_CATEGORY, MISSING_CATEGORY]
        self.feature_names_out_ = list(self._assemble(base).columns)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "categories_")
        self._check_input(X)
        return self._assemble(self._base_columns(X))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def known_mask(self, X: pd.DataFrame, column: str) -> pd.Series:
        """Rows whose ``column`` value has its own category (was common enough in training)."""
        check_is_fitted(self, "categories_")
        known = set(self.categories_[column][:-2])
        return X[column].astype("string").isin(known).fillna(False).astype(bool)

    @staticmethod
    def _check_input(X: pd.DataFrame) -> None:
        leaked = [name for name in X.columns if str(name).startswith(TRUTH_PREFIX)]
        if leaked:
            raise TruthLeakError(f"simulator truth columns must never be features: {', '.join(leaked)}")
        missing = [name for name in ATTEMPT_COLUMNS if name not in X.columns]
        if missing:
            raise ValueError(f"attempt frame lacks column(s): {', '.join(missing)}")

    @staticmethod
    def _base_columns(X: pd.DataFrame) -> pd.DataFrame:
        """Contract columns plus the looked-up reference values, before encoding."""
        base = X.copy()
        base["medicare_amount"] = reference.medicare_amount(
            X["cpt_code"], X["modifier"], X["place_of_service"], X["state"], X["units"]
        ).to_numpy()
        base["code_family"] = reference.code_family(X["cpt_code"]).to_numpy()
        base["denial_category"] = reference.denial_category(X["carc_codes"]).to_numpy()
        return base

    def _categorical(self, values: pd.Series, name: str) -> pd.Categorical:
        vocabulary = self.categories_[name]
        text = values.astype("string")
        known = text.isin(vocabulary[:-2]).fillna(False)
        text = text.where(known, OTHER_CATEGORY).where(values.notna(), MISSING_CATEGORY)
        return pd.Categorical(text.to_numpy(dtype=object), categories=vocabulary)

    def _assemble(self, base: pd.DataFrame) -> pd.DataFrame:
        billed = base["billed_amount"].astype("float64")
        medicare = base["medicare_amount"].astype("float64")
        qpa = base["qpa_amount"].astype("float64")
        allowed = base["allowed_before"].astype("float64")
        initial = base["initial_allowed_amount"].astype("float64")
        level = base["level"].astype("int64")
        prior = base["prior_level"].astype("int64")
        features = {
            "level": level,
            "prior_level": prior,
            "levels_skipped": level - prior - 1,
            "log_billed": np.log1p(billed),
            "log_medicare": np.log1p(medicare),
            "log_dollars_at_stake": np.log1p((billed - allowed).clip(lower=0)),
            "billed_to_medicare": _ratio(billed, medicare),
            "allowed_to_billed": _ratio(allowed, billed),
            "allowed_to_medicare": _ratio(allowed, medicare),
            "initial_to_billed": _ratio(initial, billed),
            "qpa_to_billed": _ratio(qpa, billed),
            "qpa_to_medicare": _ratio(qpa, medicare),
            "allowed_to_qpa": _ratio(allowed, qpa),
            "denied": (initial <= 0).astype("int8"),
            "recovered_before": (allowed > initial).astype("int8"),
            "units": base["units"].astype("float64"),
            "days_since_service": _days_between(base["attempt_date"], base["service_date"]),
            "days_since_payment": _days_between(base["attempt_date"], base["initial_payment_date"]),
        }
        for name in FLAG_SOURCES:
            features[name] = base[name].astype("float64").to_numpy()
        flags = reference.carc_flags(base["carc_codes"])
        for name in flags.columns:
            features[name] = flags[name].astype("float64").to_numpy()
        for name in CATEGORICAL_SOURCES:
            features[name] = self._categorical(base[name], name)
        if self.idr_benchmarks is not None:
            from features.idr_payers import idr_prior_features

            priors = idr_prior_features(base["payer_id"], self.idr_benchmarks)
            for name in priors.columns:
                features[name] = priors[name].astype("float64").to_numpy()
        frame = pd.DataFrame(features, index=base.index)
        return frame
