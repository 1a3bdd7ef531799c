"""The one feature transformer shared by training and serving.

It turns contract rows describing an attempt (a claim, the level attempted, the level it comes from, the
allowed amount before it and the date it is made) into model features: ratios to billed, Medicare and
QPA, dollars at stake, CARC categories, code family, ages, and the payer, plan, state and specialty as
native categoricals with a vocabulary fixed at fit time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features import reference
from features.schema import TRUTH_PREFIX

#: Columns an attempt frame must carry besides the claim columns.
ATTEMPT_COLUMNS = ("level", "prior_level", "allowed_before", "attempt_date")
CATEGORICAL_SOURCES = (
    "payer_id",
    "plan_type",
    "funding",
    "state",
    "specialty",
    "place_of_service",
    "cpt_code",
    "modifier",
    "code_family",
    "denial_category",
)
FLAG_SOURCES = (
    "emergency",
    "nsa_eligible",
    "network_gap",
    "has_medical_necessity_letter",
    "has_clinical_notes",
    "prior_authorization",
)
OTHER_CATEGORY = "__other__"
MAX_CACHED_PAYERS = 100_000
_CACHES = (
    "_vocabulary_cache",
    "_idr_prior_cache",
    "_idr_prior_names",
    "_idr_prior_source",
    "_known_sets",
    "_idr_prior_one_cache",
    "_idr_prior_one_source",
)
MISSING_CATEGORY = "__missing__"
REFERENCE_CACHE_SIZE = 65_536  # distinct codes, places, states, units and CARC strings seen by one process


class TruthLeakError(ValueError):
    """A simulator truth column was offered as a feature."""


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is not positive (or missing)."""
    return numerator / np.where(denominator > 0, denominator, np.nan)


def _days_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (pd.to_datetime(later) - pd.to_datetime(earlier)).dt.days.astype("float64")


# --- one attempt, without pandas (``ClaimFeatures.transform_one``) --------------------------------------------


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _log1p(value: float) -> float:
    return float(np.log1p(value))  # numpy's, as ``_assemble`` uses


def _ratio_one(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def _days_one(later: date | None, earlier: date | None) -> float:
    return math.nan if later is None or earlier is None else float((later - earlier).days)


@lru_cache(maxsize=REFERENCE_CACHE_SIZE)
def _medicare_one(
    cpt_code: str | None, modifier: str | None, place_of_service: str | None, state: str | None, units: float
) -> float:
    return reference.medicare_amount_one(cpt_code, modifier, place_of_service, state, units)


@lru_cache(maxsize=REFERENCE_CACHE_SIZE)
def _code_family_one(cpt_code: str | None) -> str:
    return reference.code_family_one(cpt_code)


@lru_cache(maxsize=REFERENCE_CACHE_SIZE)
def _carc_one(carc_codes: str | None) -> tuple[dict[str, float], str]:
    flags, category = reference.carc_one(carc_codes)
    return {name: float(value) for name, value in flags.items()}, category


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
        for key in _CACHES:  # what an earlier fit cached no longer holds
            self.__dict__.pop(key, None)
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

    def known_values(self, values: np.ndarray, column: str) -> np.ndarray:
        """Whether each of ``values`` (None where missing) has its own category of ``column`` (was common
        enough in training)."""
        check_is_fitted(self, "categories_")
        return np.array(
            [self._category_one(value, column) not in (OTHER_CATEGORY, MISSING_CATEGORY) for value in values],
            dtype=bool,
        )

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

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        return {key: value for key, value in state.items() if key not in _CACHES}

    def _cached(self, key: str, make):
        """A per-instance cache entry (never pickled: see ``__getstate__``)."""
        if key not in self.__dict__:
            self.__dict__[key] = make()
        return self.__dict__[key]

    def _categorical(self, values: pd.Series, name: str) -> pd.Categorical:
        """Known values as themselves, any other as ``__other__``, missing as ``__missing__``.

        Coded against a per-column index and dtype made once, so the vocabulary is hashed once per
        process instead of once per call.
        """
        vocabularies = self._cached("_vocabulary_cache", dict)
        if name not in vocabularies:
            vocabularies[name] = self._vocabulary(name)
        known, dtype = vocabularies[name]
        text = values.astype("string").to_numpy(dtype=object, na_value=None)
        codes = known.get_indexer(text)
        codes = np.where(values.isna().to_numpy(), len(known) + 1, np.where(codes < 0, len(known), codes))
        return pd.Categorical.from_codes(codes, dtype=dtype)

    def _vocabulary(self, name: str) -> tuple[pd.Index, pd.CategoricalDtype]:
        vocabulary = self.categories_[name]
        return pd.Index(vocabulary[:-2], dtype=object), pd.CategoricalDtype(vocabulary)

    def _idr_priors(self, payer_ids: pd.Series) -> dict[str, np.ndarray]:
        """The IDR prior features of each row's payer, matched once per distinct payer id per process."""
        from features.idr_payers import idr_prior_features

        cache = self._cached("_idr_prior_cache", dict)
        if len(cache) > MAX_CACHED_PAYERS or self.__dict__.get("_idr_prior_source") is not self.idr_benchmarks:
            cache.clear()  # too many payers, or other benchmarks (set_params) than the cache was made from
            self.__dict__["_idr_prior_source"] = self.idr_benchmarks
        codes, uniques = pd.factorize(payer_ids)
        new = [value for value in uniques if value not in cache]
        if new:
            priors = idr_prior_features(pd.Series(new, dtype=payer_ids.dtype), self.idr_benchmarks)
            names = list(priors.columns)
            self.__dict__["_idr_prior_names"] = names
            for value, row in zip(new, priors.to_numpy(dtype="float64"), strict=True):
                cache[value] = row
        names = self.__dict__.get("_idr_prior_names")
        if names is None:  # no payer at all: the columns, all NaN
            names = list(idr_prior_features(pd.Series([], dtype=object), self.idr_benchmarks).columns)
        table = np.vstack([*(cache[value] for value in uniques), np.full(len(names), np.nan)])
        rows = table[codes]  # code -1 (a missing id) takes the trailing NaN row
        return {name: rows[:, position] for position, name in enumerate(names)}

    def transform_one(self, attempt: Mapping[str, Any]) -> dict[str, Any]:
        """``transform`` of one attempt given as plain values (dates as ``date``, missing as ``None``),
        without pandas: the features of the single-claim path, by name. Categorical features come back as
        their category (a known value, ``__other__`` or ``__missing__``). It mirrors ``_assemble``; a test
        holds the two equal on simulated claims at every ladder step."""
        check_is_fitted(self, "categories_")
        value = attempt.get
        billed, qpa, allowed, initial, units = (
            _number(value(name))
            for name in ("billed_amount", "qpa_amount", "allowed_before", "initial_allowed_amount", "units")
        )
        medicare = _medicare_one(value("cpt_code"), value("modifier"), value("place_of_service"), value("state"), units)
        level, prior = int(value("level")), int(value("prior_level"))
        features: dict[str, Any] = {
            "level": level,
            "prior_level": prior,
            "levels_skipped": level - prior - 1,
            "log_billed": _log1p(billed),
            "log_medicare": _log1p(medicare),
            "log_dollars_at_stake": _log1p(max(billed - allowed, 0.0))
            if not math.isnan(billed - allowed)
            else math.nan,
            "billed_to_medicare": _ratio_one(billed, medicare),
            "allowed_to_billed": _ratio_one(allowed, billed),
            "allowed_to_medicare": _ratio_one(allowed, medicare),
            "initial_to_billed": _ratio_one(initial, billed),
            "qpa_to_billed": _ratio_one(qpa, billed),
            "qpa_to_medicare": _ratio_one(qpa, medicare),
            "allowed_to_qpa": _ratio_one(allowed, qpa),
            "denied": int(initial <= 0),
            "recovered_before": int(allowed > initial),
            "units": units,
            "days_since_service": _days_one(value("attempt_date"), value("service_date")),
            "days_since_payment": _days_one(value("attempt_date"), value("initial_payment_date")),
        }
        for name in FLAG_SOURCES:
            features[name] = _number(value(name))
        carc_flags, denial = _carc_one(value("carc_codes"))
        features.update(carc_flags)
        derived = {"code_family": _code_family_one(value("cpt_code")), "denial_category": denial}
        for name in CATEGORICAL_SOURCES:
            raw = derived[name] if name in derived else value(name)
            features[name] = self._category_one(raw, name)
        if self.idr_benchmarks is not None:
            features.update(self._idr_priors_one(value("payer_id")))
        return features

    def _category_one(self, raw: Any, name: str) -> str:
        if raw is None:
            return MISSING_CATEGORY
        known = self._cached("_known_sets", dict)
        if name not in known:
            known[name] = frozenset(self.categories_[name][:-2])
        return str(raw) if str(raw) in known[name] else OTHER_CATEGORY

    def _idr_priors_one(self, payer_id: Any) -> dict[str, float]:
        cache = self._cached("_idr_prior_one_cache", dict)
        if len(cache) > MAX_CACHED_PAYERS or self.__dict__.get("_idr_prior_one_source") is not self.idr_benchmarks:
            cache.clear()  # as in ``_idr_priors``
            self.__dict__["_idr_prior_one_source"] = self.idr_benchmarks
        if payer_id not in cache:
            # matching a payer to its IDR group costs milliseconds a call, so the first payer asked for brings
            # every payer the model knows with it: those never pay it on the request path
            batch = [payer_id, *([] if cache else self.categories_["payer_id"][:-2])]
            priors = self._idr_priors(pd.Series(batch, dtype="string"))
            for position, value in enumerate(batch):
                cache.setdefault(value, {name: float(values[position]) for name, values in priors.items()})
        return cache[payer_id]

    def _assemble(self, base: pd.DataFrame) -> pd.DataFrame:
        def numbers(name: str, dtype: str = "float64") -> np.ndarray:
            return base[name].astype(dtype).to_numpy()

        billed, medicare, qpa, allowed, initial = (
            numbers(name)
            for name in ("billed_amount", "medicare_amount", "qpa_amount", "allowed_before", "initial_allowed_amount")
        )
        level, prior = numbers("level", "int64"), numbers("prior_level", "int64")
        features = {
            "level": level,
            "prior_level": prior,
            "levels_skipped": level - prior - 1,
            "log_billed": np.log1p(billed),
            "log_medicare": np.log1p(medicare),
            "log_dollars_at_stake": np.log1p(np.clip(billed - allowed, 0, None)),
            "billed_to_medicare": _ratio(billed, medicare),
            "allowed_to_billed": _ratio(allowed, billed),
            "allowed_to_medicare": _ratio(allowed, medicare),
            "initial_to_billed": _ratio(initial, billed),
            "qpa_to_billed": _ratio(qpa, billed),
            "qpa_to_medicare": _ratio(qpa, medicare),
            "allowed_to_qpa": _ratio(allowed, qpa),
            "denied": (initial <= 0).astype("int8"),
            "recovered_before": (allowed > initial).astype("int8"),
            "units": numbers("units"),
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
            features.update(self._idr_priors(base["payer_id"]))
        frame = pd.DataFrame(features, index=base.index)
        return frame
