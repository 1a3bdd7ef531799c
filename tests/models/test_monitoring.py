"""Monitoring over frames: which predictions mature, calibration, waiting labels, drift and alerts."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.schema import ESCALATION_LEVELS
from models.monitoring import (
    Thresholds,
    calibration,
    drift,
    matured_predictions,
    monitor,
    psi,
    reference_profile,
)


def _predictions(rows: list[dict]) -> pd.DataFrame:
    base = {"model_version": "1", "current_level": 0, "current_allowed_amount": 100.0}
    frame = pd.DataFrame([base | row for row in rows])
    for level in ESCALATION_LEVELS:
        for name in ("p_success", "expected_recovery"):
            column = f"{name}_{level.name}"
            if column not in frame:
                frame[column] = np.nan
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"])
    return frame


def _attempts(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["submitted_date"] = pd.to_datetime(frame["submitted_date"])
    return frame


def test_an_attempt_matures_the_latest_prediction_made_before_it_from_its_prior_level():
    predictions = _predictions(
        [
            {"claim_id": "A", "payer_id": "P", "as_of_date": "2025-01-01", "p_success_reconsideration": 0.2},
            {"claim_id": "A", "payer_id": "P", "as_of_date": "2025-01-05", "p_success_reconsideration": 0.6},
            {"claim_id": "A", "payer_id": "P", "as_of_date": "2025-03-01", "p_success_reconsideration": 0.9},
            {"claim_id": "B", "payer_id": "P", "as_of_date": "2025-01-01", "p_success_written_appeal": 0.5},
            {"claim_id": "C", "payer_id": "P", "as_of_date": "2025-01-01", "p_success_reconsideration": 0.5},
        ]
    )
    attempts = _attempts(
        [
            # matured by the 2025-01-05 prediction (the 2025-03-01 one came after the submission)
            {"claim_id": "A", "level": 1, "prior_level": 0, "submitted_date": "2025-02-01", "outcome": "settled",
             "final_allowed_amount": 400.0},
            # B's written appeal came after a reconsideration: not the attempt the prediction was about
            {"claim_id": "B", "level": 2, "prior_level": 1, "submitted_date": "2025-02-01", "outcome": "upheld",
             "final_allowed_amount": 100.0},
            {"claim_id": "C", "level": 1, "prior_level": 0, "submitted_date": "2025-02-01", "outcome": "pending",
             "final_allowed_amount": None},
        ]
    )  # fmt: skip
    matured = matured_predictions(predictions, attempts)
    assert matured[["claim_id", "level", "predicted", "success", "realised_recovery"]].to_dict("records") == [
        {"claim_id": "A", "level": "reconsideration", "predicted": 0.6, "success": 1.0, "realised_recovery": 300.0}
    ]
    report = monitor(predictions, attempts, None, today=date(2025, 3, 31))
    assert report.labels["matured"] == 1 and report.labels["waiting"] == 4 and report.labels["in_flight"] == 1
    assert report.labels["oldest_age_days"] == 89
    assert report.notes and "no training data profile" in report.notes[0]


def test_calibration_by_group_reports_gap_ece_and_recovery():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.1, 0.9, 4000)
    matured = pd.DataFrame(
        {
            "payer_id": np.repeat(["GOOD", "BAD"], 2000),
            "predicted": p,
            "success": (rng.random(4000) < np.where(np.arange(4000) < 2000, p, p * 0.4)).astype(float),
            "predicted_recovery": 10.0,
            "realised_recovery": 8.0,
        }
    )
    table = calibration(matured, "payer_id")
    assert table.loc["GOOD", "gap"] == pytest.approx(0, abs=0.03)
    assert table.loc["BAD", "gap"] < -0.25 and table.loc["BAD", "ece"] > 0.2
    assert table.loc["GOOD", "n"] == 2000 and table.loc["GOOD", "realised_recovery"] == 8.0


def _claims(count: int, rng, payers=("AETNA", "CIGNA"), billed_scale=1.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "claim_id": [f"C{i}" for i in range(count)],
            "payer_id": rng.choice(payers, count),
            "cpt_code": rng.choice(["99285", "00790", "74177"], count),
            "carc_codes": rng.choice(["CO-45", "CO-50", "CO-16"], count),
            "billed_amount": rng.lognormal(7, 1, count) * billed_scale,
            "initial_allowed_amount": rng.lognormal(5, 1, count),
        }
    )


def test_drift_is_near_zero_on_the_same_population_and_large_on_a_shifted_one():
    rng = np.random.default_rng(1)
    profile = reference_profile(_claims(5000, rng))
    same, _ = drift(profile, _claims(5000, rng))
    assert same["psi"].max() < 0.02
    shifted, unknown = drift(profile, _claims(5000, rng, payers=("AETNA", "NEWCO"), billed_scale=3.0))
    by_feature = shifted.set_index("feature")["psi"]
    assert by_feature["billed_amount"] > 0.5 and by_feature["payer_id"] > 0.2
    assert by_feature["code_family"] < 0.02
    assert unknown["payer"] == pytest.approx(0.5, abs=0.03) and unknown["code"] == 0
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0


def test_alerts_name_the_miscalibrated_payer_only_when_the_gap_is_beyond_noise():
    rng = np.random.default_rng(2)
    rows = []
    for payer, count, factor in (("STEADY", 400, 1.0), ("TOUGH", 400, 0.4), ("TINY", 12, 0.0)):
        for i in range(count):
            p = float(rng.uniform(0.3, 0.7))
            rows.append(
                {"claim_id": f"{payer}{i}", "payer_id": payer, "as_of_date": "2025-01-01",
                 "p_success_reconsideration": p, "won": rng.random() < p * factor}
            )  # fmt: skip
    predictions = _predictions([{k: v for k, v in row.items() if k != "won"} for row in rows])
    attempts = _attempts(
        [
            {"claim_id": row["claim_id"], "level": 1, "prior_level": 0, "submitted_date": "2025-02-01",
             "outcome": "settled" if row["won"] else "upheld", "final_allowed_amount": 300.0 if row["won"] else 100.0}
            for row in rows
        ]
    )  # fmt: skip
    claims = predictions.assign(
        cpt_code="99285", carc_codes="CO-45", billed_amount=1000.0, initial_allowed_amount=100.0
    )
    report = monitor(claims, attempts, reference_profile(claims), thresholds=Thresholds(), today=date(2025, 3, 1))
    assert report.alerting_payers() == ["TOUGH"]  # TINY is as far off, but on 12 attempts
    (alert,) = report.alerts
    assert alert["value"] < -0.1 and "TOUGH" in alert["message"]
    looser = monitor(claims, attempts, None, thresholds=Thresholds(min_matured=5, z=0), today=date(2025, 3, 1))
    assert sorted(looser.alerting_payers()) == ["TINY", "TOUGH"]
    as_dict = report.to_dict()
    assert {row["payer_id"] for row in as_dict["calibration"]["by_payer"]} == {"STEADY", "TOUGH", "TINY"}
    assert as_dict["labels"]["matured"] == 812
