"""The shared transformer: scikit-learn's estimator contract, stable encoding, and no truth leakage."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from features.history import derive_attempts
from features.transformer import OTHER_CATEGORY, ClaimFeatures, TruthLeakError, attempt_columns
from features.validation import validate_history
from tests.conftest import GOOD_ROWS, HISTORY_HEADER


@pytest.fixture
def attempts() -> pd.DataFrame:
    frame = pd.read_csv(io.StringIO("\n".join([HISTORY_HEADER, *GOOD_ROWS])), dtype=str, keep_default_na=False)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    derived = derive_attempts(validate_history(frame).valid)
    return derived.assign(attempt_date=derived["submitted_date"])


def test_hyper_parameters_are_stored_as_given_and_clone():
    transformer = ClaimFeatures(min_category_count=7)
    assert transformer.get_params() == {"min_category_count": 7, "idr_benchmarks": None}
    assert clone(transformer).min_category_count == 7


def test_transform_before_fit_raises(attempts):
    with pytest.raises(NotFittedError):
        ClaimFeatures().transform(attempts)


def test_features_are_deterministic_and_named(attempts):
    transformer = ClaimFeatures(min_category_count=1).fit(attempts)
    first, second = transformer.transform(attempts), transformer.transform(attempts)
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == list(transformer.get_feature_names_out())
    row = first.loc[1]
    assert row["level"] == 1 and row["prior_level"] == 0
    assert row["allowed_to_billed"] == pytest.approx(310 / 2400)
    assert row["qpa_to_billed"] == pytest.approx(350 / 2400)
    assert row["days_since_service"] == 39
    assert row["carc_pricing"] == 1 and row["denial_category"] == "pricing"
    assert np.isfinite(row["log_medicare"])


def test_unseen_and_rare_categories_share_one_level(attempts):
    transformer = ClaimFeatures(min_category_count=2).fit(attempts)
    unseen = attempts.assign(payer_id="NEVER_SEEN_PAYER")
    encoded = transformer.transform(unseen)["payer_id"]
    assert set(encoded) == {OTHER_CATEGORY}
    assert list(encoded.cat.categories) == transformer.categories_["payer_id"]
    assert not transformer.known_values(unseen["payer_id"].to_numpy(dtype=object), "payer_id").any()


def test_truth_columns_are_refused_at_fit_and_transform(attempts):
    leaked = attempts.assign(truth_p_success=0.5)
    with pytest.raises(TruthLeakError, match="truth_p_success"):
        ClaimFeatures().fit(leaked)
    transformer = ClaimFeatures(min_category_count=1).fit(attempts)
    with pytest.raises(TruthLeakError):
        transformer.transform(leaked)
    assert not any(name.startswith("truth_") for name in transformer.get_feature_names_out())


def test_missing_attempt_columns_are_named(attempts):
    with pytest.raises(ValueError, match="allowed_before"):
        ClaimFeatures().fit(attempts.drop(columns=["allowed_before"]))


def test_idr_benchmarks_become_prior_features(attempts):
    from features.idr_payers import IDR_PRIOR_COLUMNS, load_idr_benchmarks

    transformer = ClaimFeatures(min_category_count=1, idr_benchmarks=load_idr_benchmarks()).fit(attempts)
    features = transformer.transform(attempts)
    assert set(IDR_PRIOR_COLUMNS) <= set(features.columns)
    aetna = features.loc[attempts["payer_id"] == "AETNA", "idr_provider_win_rate"]
    assert aetna.between(0.5, 1).all()


def test_the_kernel_gives_one_attempt_the_features_it_gives_it_among_many(attempts):
    from features.idr_payers import load_idr_benchmarks

    transformer = ClaimFeatures(min_category_count=1, idr_benchmarks=load_idr_benchmarks()).fit(attempts)
    columns = attempt_columns(attempts)
    many = transformer.matrix(columns)
    for position in range(len(attempts)):
        one = transformer.matrix({name: values[position : position + 1] for name, values in columns.items()})
        np.testing.assert_array_equal(one[0], many[position])
    known = set(transformer.categories_["payer_id"][:-2])
    assert len(known) > 1 and known <= set(transformer.idr_priors_)  # every known payer's priors, made in fit


def test_derived_state_is_rebuilt_on_unpickling_and_never_pickled(attempts):
    import pickle

    from features.idr_payers import load_idr_benchmarks

    transformer = ClaimFeatures(min_category_count=1, idr_benchmarks=load_idr_benchmarks()).fit(attempts)
    assert not set(ClaimFeatures.DERIVED) & set(transformer.__getstate__())
    copy = pickle.loads(pickle.dumps(transformer))
    assert (
        copy.category_codes_ == transformer.category_codes_
        and copy.idr_priors_.keys() == transformer.idr_priors_.keys()
    )
    pd.testing.assert_frame_equal(copy.transform(attempts), transformer.transform(attempts))
