"""x12sdk's own synthetic 835 files (copied unchanged into tests/fixtures/x12/x12sdk) import cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.x12 import ImportOptions, import_x12

SAMPLES = Path(__file__).parents[2] / "fixtures" / "x12" / "x12sdk"
#: What those files cannot say: no 837, no place of service, no service dates on the generated ones.
DEFAULTS = {"place_of_service": "11", "emergency": "false", "service_date": "2025-12-01", "state": "IL"}


@pytest.mark.parametrize("name", ["generated-mixed-claims.835", "generated-bundling-denials.835"])
def test_generated_samples_import_with_a_clean_report(name):
    imported = import_x12([SAMPLES / name], ImportOptions(defaults=DEFAULTS))
    report = imported.report
    assert report.ok, report.to_text()
    assert report.claims == report.adjudications > 0
    assert sum(report.screening.values()) == report.claims  # every claim counted by outcome and reason


def test_bundling_denials_sample_maps_its_adjustments():
    imported = import_x12([SAMPLES / "generated-bundling-denials.835"], ImportOptions(defaults=DEFAULTS))
    claims = imported.result.claims.set_index("claim_id")
    assert claims["carc_codes"].to_dict() == {"PCN000001": "CO-97", "PCN000002": "CO-97", "PCN000003": "CO-45,PR-2"}
    assert claims["initial_allowed_amount"].to_dict() == {"PCN000001": 600.0, "PCN000002": 300.0, "PCN000003": 1000.0}
    assert set(claims["payer_id"]) == {"EXAMPLE_HEALTH_PLAN"}


def test_managed_care_sample_reads_its_dates_and_claim_level_adjustments():
    imported = import_x12([SAMPLES / "managed-care-payer-contacts.835"], ImportOptions(defaults=DEFAULTS))
    claims = imported.result.claims.set_index("claim_id")
    assert claims.loc["5554555444", "initial_allowed_amount"] == 750.0  # 450 paid + 300 patient share
    assert str(claims.loc["5554555444", "service_date"].date()) == "2002-03-01"  # line DTM*150
    assert str(claims.loc["5554555444", "initial_payment_date"].date()) == "2002-03-14"  # DTM*405
    assert claims.loc["8765432112", "carc_codes"] == "CO-A2,PR-1,CO-45"
    # its BPR16 (20002316) is no date: reported, and the payment date comes from DTM*405
    assert [problem.rule.split(";")[0] for problem in imported.report.problems] == [
        "BPR16 is not a valid date (CCYYMMDD)"
    ]
