"""The one feature transformer shared by training and serving.

It turns contract rows describing an attempt (a claim, the level attempted, the level it comes from, the
allowed amount before it and the date it is made) into model features: ratios to billed, Medicare and
QPA, dollars at stake, CARC categories, code family, ages, and the payer, plan, state and specialty as
native categoricals with a vocabulary fixed at fit time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features import reference
from features.columns import FLAG_COLUMNS, TEXT_COLUMNS, frame_columns
from features.schema import TRUTH_PREFIX

#: Columns an attempt frame must carry besides the claim columns.
ATTEMPT_COLUMNS = ("level", "prior_level", "allowed_before", "attempt_date")
#: The categorical features: the claim's categories (``TEXT_COLUMNS`` but its CARC text), then two derived
CATEGORICAL_SOURCES = (*(name for name in TEXT_COLUMNS if name != "carc_codes"), "code_family", "denial_category")
FLAG_SOURCES = FLAG_COLUMNS
OTHER_CATEGORY = "__other__"
MISSING_CATEGORY = "__missing__"
MAX_CACHED_PAYERS = 100_000  # unseen payers' IDR priors kept per process
REFERENCE_CACHE_SIZE = 65_536  # distinct codes, places, states, units and CARC strings seen by one process
#: What the feature kernel reads of an attempt, by how it is typed (``attempt_columns``).
NUMBER_INPUTS = ("billed_amount", "qpa_amount", "allowed_before", "initial_allowed_amount", "units", *FLAG_SOURCES)
INTEGER_INPUTS = ("level", "prior_level")
DATE_INPUTS = ("attempt_date", "service_date", "initial_payment_date")
TEXT_INPUTS = TEXT_COLUMNS


class TruthLeakError(ValueError):
    """A simulator truth column was offered as a feature."""


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is not positive (or missing)."""
    return numerator / np.where(denominator > 0, denominator, np.nan)


def _days_between(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Whole days from ``earlier`` to ``later`` (datetime64 arrays), floored; NaN where either is NaT."""
    return np.floor((later - earlier) / np.timedelta64(1, "D"))


@lru_cache(maxsize=REFERENCE_CACHE_SIZE)
def _medicare_one(
    cpt_code: str | None, modifier: str | None, place_of_service: str | None, state: str | None, units: float | None
) -> float:
    return reference.medicare_amount_one(cpt_code, modifier, place_of_service, state, units)


@lru_cache(maxsize=REFERENCE_CACHE_SIZE)
def _code_family_one(cpt_code: str | None) -> str:
    return reference.code_family_one(cpt_code)


@lru_cache(maxsize=REFERENCE_CACHE_SIZE)
def _carc_one(carc_codes: str | None) -> tuple[tuple[float, ...], str]:
    flags, category = reference.carc_one(carc_codes)
    return tuple(float(value) for value in flags.values()), category


@cache
def _carc_names() -> tuple[str, ...]:
    return tuple(reference.carc_one(None)[0])


def _key(value: Any) -> Any:
    """A cache key: NaN (a missing number) as None, so that every missing value shares one entry."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def attempt_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns the feature kernel reads, typed (``features.columns.frame_columns``): the frame adapter
    of the kernel."""
    return frame_columns(frame, NUMBER_INPUTS, INTEGER_INPUTS, DATE_INPUTS, TEXT_INPUTS)


class ClaimFeatures(TransformerMixin, BaseEstimator):
    """Contract attempt rows -> numeric and categorical model features.

    Every feature formula is written once, in ``features``: a kernel over typed columns (``attempt_columns``)
    that serves one claim or a million alike. ``transform`` (training, a frame in and out) and the scoring
    core (``RecoupBundle``, columns in, the model matrix out) are adapters onto it.

    Parameters
    ----------
    min_category_count : categories seen fewer times than this at fit time share one ``__other__``
        level, so that rare payers or codes neither overfit nor break serving.
    idr_benchmarks : optional per-payer Federal IDR benchmarks (``features.idr_payers``); when given,
        the payer's public IDR record becomes prior features for payers with thin history.

    Fitted state: ``categories_`` and ``feature_names_out_``; from them ``category_codes_`` (each column's
    known categories and their codes) and ``idr_priors_`` (the IDR prior features of every known payer)
    are derived in ``fit`` and again on unpickling, never pickled (``DERIVED``), so no score builds them.
    """

    #: Derived from the fitted state, never pickled; the names bundles pickled before them carried are
    #: listed so that they are dropped on load.
    DERIVED = (
        "category_codes_",
        "idr_prior_names_",
        "idr_priors_",
        "_unseen_idr_priors",
        "_vocabulary_cache",
        "_idr_prior_cache",
        "_idr_prior_names",
        "_idr_prior_source",
        "_known_sets",
        "_idr_prior_one_cache",
        "_idr_prior_one_source",
    )

    def __init__(self, min_category_count: int = 30, idr_benchmarks: pd.DataFrame | None = None):
        self.min_category_count = min_category_count
        self.idr_benchmarks = idr_benchmarks

    def fit(self, X: pd.DataFrame, y=None):
        self._check_input(X)
        columns = attempt_columns(X)
        looked_up = self._looked_up(columns)
        self.categories_ = {}
        for name in CATEGORICAL_SOURCES:
            values = looked_up[name] if name in looked_up else columns[name]
            counts = pd.Series(values, dtype=object).value_counts()
            kept = sorted(counts.index[counts >= self.min_category_count].astype(str))
            self.categories_[name] = [*kept, OTHER_CATEGORY, MISSING_CATEGORY]
        self._derive()
        self.feature_names_out_ = list(self._kernel(columns, looked_up))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The features of an attempt frame, as a frame (categoricals as ``pd.Categorical``), same index."""
        self._check_fitted()
        self._check_input(X)
        features = self.features(attempt_columns(X))
        for name in CATEGORICAL_SOURCES:
            features[name] = pd.Categorical.from_codes(features[name], dtype=self._dtypes[name])
        return pd.DataFrame(features, index=X.index)

    def features(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The features of attempts given as typed columns (``attempt_columns``), by name, in
        ``feature_names_out_`` order; categoricals as their codes in ``categories_``."""
        self._check_fitted()
        return self._kernel(columns, self._looked_up(columns))

    def matrix(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``features`` as one float64 (attempts, features) matrix: what the outcome models predict on."""
        features = self.features(columns)
        # filled column by column: one allocation, and no float64 copy of each column on the way
        matrix = np.empty((len(columns["level"]), len(features)), dtype="float64")
        for position, values in enumerate(features.values()):
            matrix[:, position] = values
        return matrix

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def known_values(self, values: np.ndarray, column: str) -> np.ndarray:
        """Whether each of ``values`` (None where missing) has its own category of ``column`` (was common
        enough in training)."""
        self._check_fitted()
        known = self.category_codes_[column]
        return np.array([value is not None and str(value) in known for value in values.tolist()], dtype=bool)

    def _check_fitted(self) -> None:
        """``check_is_fitted`` only when not fitted: sklearn's check reads the estimator's tags on every
        call, which costs as much as a claim's feature formulas."""
        if "categories_" not in self.__dict__:
            check_is_fitted(self, "categories_")

    @staticmethod
    def _check_input(X: pd.DataFrame) -> None:
        leaked = [name for name in X.columns if str(name).startswith(TRUTH_PREFIX)]
        if leaked:
            raise TruthLeakError(f"simulator truth columns must never be features: {', '.join(leaked)}")
        missing = [name for name in ATTEMPT_COLUMNS if name not in X.columns]
        if missing:
            raise ValueError(f"attempt frame lacks column(s): {', '.join(missing)}")

    # --- derived state: one pickling policy --------------------------------------------------------------

    def _derive(self) -> None:
        """Build the lookup tables of the fitted state (``DERIVED``)."""
        if "categories_" not in self.__dict__:
            return
        self.category_codes_ = {
            name: {category: code for code, category in enumerate(vocabulary[:-2])}
            for name, vocabulary in self.categories_.items()
        }
        self._dtypes = {name: pd.CategoricalDtype(vocabulary) for name, vocabulary in self.categories_.items()}
        self.idr_priors_: dict[str, np.ndarray] = {}
        self.idr_prior_names_: list[str] = []
        self._unseen_idr_priors: dict[str, np.ndarray] = {}
        if self.idr_benchmarks is not None:
            from features.idr_payers import idr_prior_features

            payers = self.categories_["payer_id"][:-2]
            table = idr_prior_features(pd.Series(payers, dtype="string"), self.idr_benchmarks)
            self.idr_prior_names_ = list(table.columns)
            self.idr_priors_ = dict(zip(payers, table.to_numpy(dtype="float64"), strict=True))

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        return {key: value for key, value in state.items() if key not in (*self.DERIVED, "_dtypes")}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__({key: value for key, value in state.items() if key not in self.DERIVED})
        self._derive()

    # --- the kernel ----------------------------------------------------------------------------------------

    @staticmethod
    def _looked_up(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Reference values of each attempt: Medicare amount, code family, CARC flags and denial category.
        Looked up per value through bounded caches: a batch holds few distinct codes, places and CARC texts."""
        cpt = columns["cpt_code"].tolist()
        medicare = [
            _medicare_one(code, modifier, place, state, _key(units))
            for code, modifier, place, state, units in zip(
                cpt,
                columns["modifier"].tolist(),
                columns["place_of_service"].tolist(),
                columns["state"].tolist(),
                columns["units"].tolist(),
                strict=True,
            )
        ]
        carc = [_carc_one(text) for text in columns["carc_codes"].tolist()]
        flags = np.array([flags for flags, _ in carc], dtype="float64").reshape(len(carc), len(_carc_names()))
        return {
            "medicare_amount": np.array(medicare, dtype="float64"),
            "code_family": np.array([_code_family_one(code) for code in cpt], dtype=object),
            "denial_category": np.array([category for _, category in carc], dtype=object),
            "carc_flags": flags,
        }

    def _kernel(self, columns: Mapping[str, np.ndarray], looked_up: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        billed, qpa, allowed, initial = (
            columns[name] for name in ("billed_amount", "qpa_amount", "allowed_before", "initial_allowed_amount")
        )
        medicare = looked_up["medicare_amount"]
        level, prior = columns["level"], columns["prior_level"]
        features: dict[str, np.ndarray] = {
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
            "units": columns["units"],
            "days_since_service": _days_between(columns["attempt_date"], columns["service_date"]),
            "days_since_payment": _days_between(columns["attempt_date"], columns["initial_payment_date"]),
        }
        for name in FLAG_SOURCES:
            features[name] = columns[name]
        for position, name in enumerate(_carc_names()):
            features[name] = looked_up["carc_flags"][:, position]
        for name in CATEGORICAL_SOURCES:
            features[name] = self._codes(looked_up[name] if name in looked_up else columns[name], name)
        if self.idr_benchmarks is not None:
            features.update(self._idr_priors(columns["payer_id"]))
        return features

    def _codes(self, values: np.ndarray, name: str) -> np.ndarray:
        """Known values as their category's code, any other as ``__other__``'s, missing as ``__missing__``'s."""
        known = self.category_codes_[name]
        other, missing = len(known), len(known) + 1
        return np.array(
            [missing if value is None else known.get(str(value), other) for value in values.tolist()], dtype="int64"
        )

    def _idr_priors(self, payer_ids: np.ndarray) -> dict[str, np.ndarray]:
        """The IDR prior features of each row's payer: known payers from ``idr_priors_``, others matched once
        per process (matching a payer to its IDR group costs milliseconds)."""
        from features.idr_payers import idr_prior_features

        known, unseen = self.idr_priors_, self._unseen_idr_priors
        ids = payer_ids.tolist()
        new = [
            payer for payer in dict.fromkeys(ids) if payer is not None and payer not in known and payer not in unseen
        ]
        if new:
            if len(unseen) + len(new) > MAX_CACHED_PAYERS:
                unseen.clear()
            table = idr_prior_features(pd.Series(new, dtype="string"), self.idr_benchmarks)
            self.idr_prior_names_ = self.idr_prior_names_ or list(table.columns)
            unseen.update(zip(new, table.to_numpy(dtype="float64"), strict=True))
        names = self.idr_prior_names_
        if not names:  # no payer known or asked for yet: the columns' names, all NaN
            names = self.idr_prior_names_ = list(
                idr_prior_features(pd.Series([], dtype="string"), self.idr_benchmarks).columns
            )
        nothing = np.full(len(names), np.nan)
        rows = np.array(
            [nothing if payer is None else known[payer] if payer in known else unseen[payer] for payer in ids],
            dtype="float64",
        ).reshape(len(ids), len(names))
        return {name: rows[:, position] for position, name in enumerate(names)}
