"""Property tests: any valid claim gets a well-formed, in-range answer."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schema import FUNDING_TYPES, PLAN_TYPES, US_STATES, Level

TODAY = date.today()
LEVEL_ORDER = {level.name: int(level) for level in Level}
CODES = (
    "99285",
    "99284",
    "99283",
    "99291",
    "00790",
    "01996",
    "27447",
    "47562",
    "70450",
    "74177",
    "71046",
    "88305",
    "A0427",
    "A0431",
    "93010",
    "J3490",
    "ZZZZ9",
)
PLACES = ("23", "21", "22", "24", "11", "41", "42", "19")
SPECIALTIES = (
    "emergency_medicine",
    "anesthesiology",
    "radiology",
    "pathology",
    "general_surgery",
    "ambulance",
    "cardiology",
)
CARCS = ("CO-45", "CO-50", "CO-197", "CO-97,PR-2", "CO-16", "CO-151", "OA-23", "PR-1,CO-45", "CO-999")
MONEY = st.floats(min_value=1.0, max_value=250_000.0, allow_nan=False, allow_infinity=False)
FRACTION = st.floats(min_value=0.0, max_value=1.0)
TOLERANCE = 1e-6


@st.composite
def valid_claims(draw, payers: tuple[str, ...]) -> dict:
    """A claim that passes the contract, across levels, dates, payers (known and new) and codes."""
    service = draw(st.dates(TODAY - timedelta(days=3 * 365), TODAY))
    paid = draw(st.none() | st.integers(0, 120).map(lambda days: service + timedelta(days=days)))
    start = paid or service
    as_of = draw(st.none() | st.integers(0, 400).map(lambda days: start + timedelta(days=days)))
    billed = round(draw(MONEY), 2)
    initial = round(draw(FRACTION) * billed, 2)
    current_level = draw(st.sampled_from([name for name in LEVEL_ORDER if name != "legal"]))
    current_allowed = (
        round(initial + draw(FRACTION) * (billed - initial), 2)
        if current_level != "none"
        else draw(st.none() | st.just(initial))
    )
    level_date = None
    if current_level != "none" and as_of is not None:
        level_date = draw(
            st.none() | st.integers(0, max((as_of - start).days, 0)).map(lambda days: start + timedelta(days=days))
        )
    emergency = draw(st.booleans())
    return {
        "claim_id": draw(st.text("ABCDEF0123456789-", min_size=1, max_size=12).filter(str.strip)),
        "payer_id": draw(st.sampled_from((*payers, "BRAND-NEW-PAYER"))),
        "plan_type": draw(st.none() | st.sampled_from(PLAN_TYPES)),
        "funding": draw(st.none() | st.sampled_from(FUNDING_TYPES)),
        "state": draw(st.sampled_from(US_STATES)),
        "place_of_service": draw(st.sampled_from(PLACES)),
        "cpt_code": draw(st.sampled_from(CODES)),
        "modifier": draw(st.none() | st.sampled_from(("26", "TC", "22", "59"))),
        "units": draw(st.none() | st.integers(1, 20)),
        "specialty": draw(st.none() | st.sampled_from(SPECIALTIES)),
        "emergency": emergency,
        "nsa_eligible": draw(st.none() | st.booleans()),
        "network_gap": draw(st.none() | st.booleans()),
        "service_date": service.isoformat(),
        "initial_payment_date": paid.isoformat() if paid else None,
        "billed_amount": billed,
        "initial_allowed_amount": initial,
        "qpa_amount": draw(st.none() | MONEY.map(lambda value: round(value, 2))),
        "carc_codes": draw(st.none() | st.sampled_from(CARCS)),
        "has_medical_necessity_letter": draw(st.none() | st.booleans()),
        "has_clinical_notes": draw(st.none() | st.booleans()),
        "prior_authorization": draw(st.none() | st.booleans()),
        "current_level": current_level,
        "current_allowed_amount": current_allowed,
        "current_level_date": level_date.isoformat() if level_date else None,
        "as_of_date": as_of.isoformat() if as_of else None,
    }


def check_answer(claim: dict, body: dict) -> None:
    """The invariants every answer keeps."""
    current = LEVEL_ORDER[claim["current_level"]]
    allowed = (
        claim["current_allowed_amount"]
        if claim["current_allowed_amount"] is not None
        else claim["initial_allowed_amount"]
    )
    ladder = {step["level"]: step for step in body["ladder"]}
    assert list(ladder) == [name for name in LEVEL_ORDER if name != "none"]
    for name, step in ladder.items():
        assert step["eligible"] == (step["ineligible_reason"] is None)
        assert step["cost"] is not None and step["cost"] >= 0
        if LEVEL_ORDER[name] <= current:
            assert not step["eligible"]
            continue
        assert 0 <= step["p_success"] <= 1
        assert step["allowed_p10"] <= step["expected_allowed"] + TOLERANCE
        assert step["expected_allowed"] <= step["allowed_p90"] + TOLERANCE
        assert step["expected_allowed"] > allowed  # success means the allowed amount rose
        assert step["allowed_p90"] <= max(claim["billed_amount"], allowed + 0.01) + TOLERANCE
        assert step["expected_days"] > 0
        if step["eligible"]:
            assert step["expected_recovery"] >= 0  # before costs
            # success raises the allowed amount by at least a cent (models.estimators.MIN_GAIN_DOLLARS)
            assert step["expected_recovery"] <= max(claim["billed_amount"] - allowed, 0.01) + TOLERANCE
            assert step["net_value"] is not None
        else:
            assert step["net_value"] is None and step["expected_recovery"] is None
    recommendation = body["recommendation"]
    best = max([step["net_value"] for step in ladder.values() if step["eligible"]], default=0.0)
    assert recommendation["expected_net_recovery"] == pytest.approx(max(best, 0.0), abs=1e-6)
    if recommendation["action"] == "accept":
        assert best <= 0 and recommendation["path"] == []
    else:
        assert ladder[recommendation["action"]]["eligible"]
        assert recommendation["path"][0] == recommendation["action"]
        levels = [LEVEL_ORDER[name] for name in recommendation["path"]]
        assert levels == sorted(set(levels)) and levels[0] > current
    assert all(isinstance(text, str) and text for text in body["reasons"] + body["warnings"])


@pytest.fixture(scope="module")
def payers(model_store) -> tuple[str, ...]:
    return model_store.payer_ids[:12]


def test_random_valid_claims_get_well_formed_answers(client, payers):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(claim=valid_claims(payers))
    def check(claim: dict) -> None:
        response = client.post("/v1/score", json=claim)
        assert response.status_code == 200, response.text
        check_answer(claim, response.json())

    check()


def test_random_batches_get_well_formed_answers(client, payers):
    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(claims=st.lists(valid_claims(payers), min_size=1, max_size=40))
    def check(claims: list[dict]) -> None:
        response = client.post("/v1/score/batch", json={"claims": claims})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["failed"] == 0, [item["errors"] for item in body["results"] if item["errors"]]
        for claim, item in zip(claims, body["results"], strict=True):
            check_answer(claim, item["result"])

    check()
