"""The one metrics module: hand-computed values, the single-class AUC, bad input, agreement with sklearn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sklearn_log_loss

from models.metrics import (
    CALIBRATION_BINS,
    PROBABILITY_FLOOR,
    classification_metrics,
    expected_calibration_error,
    log_loss,
    reliability_table,
)

# Four predictions, mid-bin on the 15-bin grid: 0.1 and 0.12 in bin 1 [1/15, 2/15), 0.5 in bin 7, 0.9 in bin 13.
Y = [0, 1, 0, 1]
P = [0.1, 0.12, 0.5, 0.9]


def test_hand_computed_metrics():
    metrics = classification_metrics(Y, P)
    assert list(metrics) == ["n", "roc_auc", "log_loss", "brier", "ece"]
    assert metrics["n"] == 4
    # positives 0.12, 0.9 against negatives 0.1, 0.5: three of the four pairs are in order
    assert metrics["roc_auc"] == pytest.approx(0.75)
    assert metrics["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.12) + math.log(0.5) + math.log(0.9)) / 4)
    assert metrics["brier"] == pytest.approx((0.01 + 0.7744 + 0.25 + 0.01) / 4)
    # bin 1: 2 rows, predicted 0.11, observed 0.5; bin 7: 0.5 vs 0; bin 13: 0.9 vs 1
    assert metrics["ece"] == pytest.approx((2 * 0.39 + 0.5 + 0.1) / 4)
    assert expected_calibration_error(Y, P) == pytest.approx(0.345)


def test_reliability_table_lists_the_non_empty_bins():
    table = reliability_table(Y, P)
    assert list(table.columns) == ["bin_low", "rows", "mean_predicted", "observed_rate"]
    assert table["bin_low"].tolist() == pytest.approx([1 / 15, 7 / 15, 13 / 15])
    assert table["rows"].tolist() == [2, 1, 1]
    assert table["mean_predicted"].tolist() == pytest.approx([0.11, 0.5, 0.9])
    assert table["observed_rate"].tolist() == [0.5, 0.0, 1.0]


def test_bins_set_the_grid():
    assert CALIBRATION_BINS == 15
    # one bin: |observed - predicted| of the whole sample, |2 - 1.62| / 4
    assert expected_calibration_error(Y, P, bins=1) == pytest.approx(0.095)
    # a bin holds its lower edge: 0.5 opens the upper half
    assert reliability_table(Y, P, bins=2)["rows"].tolist() == [2, 2]
    # 1.0 belongs to the last bin, 0.0 to the first
    assert reliability_table([1, 0], [1.0, 0.0])["bin_low"].tolist() == pytest.approx([0.0, 14 / 15])
    assert expected_calibration_error([1, 0], [1.0, 0.0]) == 0.0


def test_one_class_gives_a_nan_auc_and_the_other_metrics():
    metrics = classification_metrics([1, 1, 1], [0.2, 0.5, 0.8])
    assert math.isnan(metrics["roc_auc"])
    assert metrics["log_loss"] == pytest.approx(-(math.log(0.2) + math.log(0.5) + math.log(0.8)) / 3)
    assert metrics["brier"] == pytest.approx((0.64 + 0.25 + 0.04) / 3)
    assert metrics["ece"] == pytest.approx((0.8 + 0.5 + 0.2) / 3)
    assert classification_metrics([0, 0], [0.1, 0.3])["brier"] == pytest.approx((0.01 + 0.09) / 2)


def test_log_loss_floors_certain_predictions():
    assert log_loss([1, 0], [0.0, 1.0]) == pytest.approx(-math.log(PROBABILITY_FLOOR))
    assert log_loss([0, 1], [0.0, 1.0]) == pytest.approx(-math.log(1 - PROBABILITY_FLOOR))
    # the floor is for log loss only: Brier and ECE see the probabilities as given
    assert classification_metrics([0, 1], [0.0, 1.0])["brier"] == 0.0


def test_labels_and_probabilities_may_be_series_and_booleans():
    frame = pd.DataFrame({"success": [False, True, False, True], "p": P}, index=[10, 11, 12, 13])
    assert classification_metrics(frame["success"], frame["p"]) == pytest.approx(classification_metrics(Y, P))


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, 1], [0.2, 0.4], "y has 3 values but p has 2"),
        ([], [], "y and p are empty"),
        (
            [0, 1, 1],
            [0.2, 1.2, -0.1],
            r"p\[1\] = 1.2 \(and 1 more\): a predicted probability must be a number in \[0, 1\]",
        ),
        ([0, 1], [float("nan"), 0.5], r"p\[0\] = nan: a predicted probability must be a number in \[0, 1\]"),
        ([0, 2], [0.5, 0.5], r"y\[1\] = 2.0: a label must be 0 or 1"),
        ([None, 1], [0.5, 0.5], r"y\[0\] = nan: a label must be 0 or 1"),
        ([1, "yes"], [0.5, 0.5], r"y\[1\] = 'yes': not a number"),
        ([[0, 1]], [[0.5, 0.5]], r"y must be one-dimensional, got shape \(1, 2\)"),
    ],
)
def test_bad_input_names_the_argument_and_the_value(y, p, message):
    for metric in (classification_metrics, expected_calibration_error, reliability_table, log_loss):
        with pytest.raises(ValueError, match=message):
            metric(y, p)


@pytest.mark.parametrize("bins", [0, -3, 2.5, True])
def test_bad_bins(bins):
    with pytest.raises(ValueError, match=r"bins = .*: the number of calibration bins must be a whole number >= 1"):
        expected_calibration_error(Y, P, bins=bins)


def test_agrees_with_sklearn():
    rng = np.random.default_rng(7)
    p = rng.uniform(0.01, 0.99, 3000)
    y = (rng.random(3000) < p**1.3).astype(int)  # miscalibrated on purpose, so the ECE is not near zero
    metrics = classification_metrics(y, p)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert metrics["brier"] == pytest.approx(brier_score_loss(y, p))
    assert metrics["log_loss"] == pytest.approx(sklearn_log_loss(y, p))  # p stays far from the floor
    observed, predicted = calibration_curve(y, p, n_bins=CALIBRATION_BINS, strategy="uniform")
    table = reliability_table(y, p)
    assert table["observed_rate"].to_numpy() == pytest.approx(observed)
    assert table["mean_predicted"].to_numpy() == pytest.approx(predicted)
    weighted = (table["rows"] * (table["observed_rate"] - table["mean_predicted"]).abs()).sum() / len(y)
    assert metrics["ece"] == pytest.approx(weighted) and metrics["ece"] > 0.05
