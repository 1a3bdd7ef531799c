"""The scoring-time shortcuts of ``OutcomeModels`` give the numbers of the plain computations they replace."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.transformer import ClaimFeatures
from models.calibration import PlattCalibrator, _logit
from models.estimators import SETTLEMENT_QUANTILES, _leaf_indices, path_tables


def test_predict_steps_with_every_quantile_is_predict(models_and_data):
    models, x, billed, allowed = models_and_data
    expected = models.predict(x, billed, allowed)
    got = models.predict_steps(x, billed, allowed, tuple(SETTLEMENT_QUANTILES))
    for name in expected.columns:
        np.testing.assert_array_equal(got[name], expected[name].to_numpy(), err_msg=name)


def test_predict_steps_evaluates_the_interval_for_the_first_rows_only(models_and_data):
    models, x, billed, allowed = models_and_data
    head = 100
    full = models.predict(x, billed, allowed)
    got = models.predict_steps(x, billed, allowed, ("allowed_p10", "allowed_p50", "allowed_p90"), interval_rows=head)
    assert len(got["allowed_p10"]) == head
    for name in ("p_success", "expected_days"):
        np.testing.assert_array_equal(got[name], full[name].to_numpy())
    np.testing.assert_array_equal(got["expected_allowed"][:head], full["expected_allowed"].to_numpy()[:head])
    # without the interval the mean amount is only kept above the allowed amount and at most billed
    floor = allowed + 0.01
    mean = np.clip(models.settlement_mean.booster_.predict(x) * billed, floor, np.maximum(billed, floor))
    np.testing.assert_array_equal(got["expected_allowed"][head:], mean[head:])
    none = models.predict_steps(x, billed, allowed)
    assert set(none) == {"p_success", "expected_allowed", "expected_days"}


def test_path_contributions_are_the_same_summed_densely_or_through_the_sparse_product(models_and_data, monkeypatch):
    models, x, *_ = models_and_data
    dense = np.vstack([models.success_contributions(x[[row]], "path") for row in range(50)])
    monkeypatch.setattr("models.estimators.DENSE_PATH_VALUES", 0)
    np.testing.assert_array_equal(dense, models.success_contributions(x[:50], "path"))


def test_calibration_without_sklearn_checks_is_isotonic_predict(models_and_data):
    models, *_ = models_and_data
    raw = np.concatenate([np.linspace(-0.5, 1.5, 2001), models.calibrator.X_thresholds_])
    np.testing.assert_allclose(
        models.calibrated(raw), np.clip(models.calibrator.predict(raw), 0, 1), rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("method", ["shap", "path"])
def test_contributions_add_up_to_the_raw_score(models_and_data, method):
    models, x, *_ = models_and_data
    contributions = models.success_contributions(x, method)
    assert contributions.shape == (len(x), len(models.feature_names))
    offset = models.success.booster_.predict(x, raw_score=True) - contributions.sum(axis=1)
    np.testing.assert_allclose(offset, offset[0], atol=1e-9)  # the same expected value for every row


def test_transformer_categories_are_coded_as_pandas_codes_them_and_the_tables_are_not_pickled():
    frame = pd.DataFrame({"payer_id": ["A", "A", "B", None, "C", "A"] * 10})
    transformer = ClaimFeatures(min_category_count=15)
    transformer.categories_ = {"payer_id": ["A", "B", "__other__", "__missing__"]}
    transformer._derive()
    coded = transformer._codes(frame["payer_id"].to_numpy(dtype=object, na_value=None), "payer_id")
    text = frame["payer_id"].astype("string")
    known = text.isin(["A", "B"]).fillna(False)
    text = text.where(known, "__other__").where(frame["payer_id"].notna(), "__missing__")
    plain = pd.Categorical(text.to_numpy(dtype=object), categories=transformer.categories_["payer_id"])
    np.testing.assert_array_equal(coded, plain.codes)
    assert "category_codes_" in transformer.__dict__
    assert "category_codes_" not in transformer.__getstate__()


def test_platt_calibration_is_the_fitted_logistic_curve():
    rng = np.random.default_rng(1)
    raw = rng.uniform(0, 1, 2000)
    calibrator = PlattCalibrator().fit(raw, rng.random(2000) < raw**1.5)
    edges = np.array([0.0, 1e-9, 0.5, 1 - 1e-9, 1.0])
    for values in (raw, edges):
        expected = calibrator.model_.predict_proba(_logit(values)[:, None])[:, 1]
        np.testing.assert_allclose(calibrator.predict(values), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("best_iteration", [0, 5])
def test_leaf_indices_are_lightgbms_pred_leaf(models_and_data, best_iteration):
    """The C API call behind the path contributions gives ``Booster.predict(pred_leaf=True)``, for the trees
    of the best iteration when there is one."""
    models, x, *_ = models_and_data
    booster = lgb.Booster(model_str=models.success.booster_.model_to_string())
    booster.best_iteration = best_iteration
    trees = len(path_tables(booster))
    rows = np.vstack([x[:9], np.full((1, x.shape[1]), np.nan)])
    for part in (rows[:1], rows, rows[::3]):  # one row, several, a strided view
        expected = booster.predict(part, pred_leaf=True).astype("int64").reshape(len(part), -1)
        assert expected.shape[1] == trees == (best_iteration or booster.num_trees())
        np.testing.assert_array_equal(_leaf_indices(booster, part, trees), expected)
    assert _leaf_indices(booster, rows[:0], trees).shape == (0, trees)
