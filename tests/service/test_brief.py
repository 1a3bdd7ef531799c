"""``POST /v1/brief``: the brief's numbers are the claim's, the payer profile's and the reference data's,
the same in JSON, on the printable page and in the PDF (read back with pypdf)."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from features.idr_payers import idr_benchmark_for_payer, load_idr_benchmarks
from features.reference import medicare_amount_one
from service.web.formatting import dollars, multiple


@pytest.fixture(scope="module")
def brief_claim(model_store) -> dict:
    """A denied-then-underpaid ED claim of a payer from the training history, with a QPA."""
    from features.requests import EXAMPLE_CLAIM

    return dict(EXAMPLE_CLAIM) | {"payer_id": "AETNA", "carc_codes": "CO-50", "has_medical_necessity_letter": False}


@pytest.fixture(scope="module")
def brief(client, brief_claim) -> dict:
    response = client.post("/v1/brief", json=brief_claim)
    assert response.status_code == 200, response.text
    return response.json()


def _figure(items: list[dict], label_start: str) -> dict:
    return next(item for item in items if item["label"].startswith(label_start))


def test_benchmarks_are_the_claims_amounts_against_the_state_medicare_amount(brief, brief_claim):
    medicare = medicare_amount_one(
        brief_claim["cpt_code"], None, brief_claim["place_of_service"], brief_claim["state"], brief_claim["units"]
    )
    assert medicare > 0
    items = brief["benchmarks"]
    assert _figure(items, "Medicare amount in TX")["value"] == pytest.approx(medicare)
    assert _figure(items, "Billed as a multiple")["value"] == pytest.approx(brief_claim["billed_amount"] / medicare)
    assert _figure(items, "Allowed as a multiple")["value"] == pytest.approx(
        brief_claim["initial_allowed_amount"] / medicare
    )
    assert _figure(items, "QPA as a multiple")["value"] == pytest.approx(brief_claim["qpa_amount"] / medicare)
    assert all(item["source"] for item in items)


def test_the_payers_typical_allowed_and_record_come_from_the_served_profiles(client, brief, brief_claim):
    profile = client.get("/v1/payers/AETNA").json()
    level = brief["recommendation"]["argued_level"]
    record = next((row for row in profile["levels"] if row["level"] == level), None)
    attempts = _figure(brief["payer_record"], "Attempts at")
    assert attempts["value"] == (record["attempts"] if record else 0)
    assert attempts["count"] == (record["attempts"] if record else 0)
    if record:
        assert _figure(brief["payer_record"], "Success rate")["value"] == pytest.approx(record["success_rate"])
    typical = _figure(brief["benchmarks"], "AETNA's median allowed for")
    assert typical["count"] is not None and typical["source"]
    if typical["value"] is not None:
        against = _figure(brief["benchmarks"], "This claim's allowed against")
        assert against["value"] == pytest.approx(brief_claim["initial_allowed_amount"] / typical["value"])


def test_the_opening_ask_follows_the_playbook_and_the_idr_record(brief, brief_claim):
    ask = brief["opening_ask"]
    billed = brief_claim["billed_amount"]
    assert ask["single_case_agreement"]["low"]["value"] == pytest.approx(0.8 * billed)
    assert ask["single_case_agreement"]["high"]["value"] == pytest.approx(0.9 * billed)
    medicare = _figure(brief["benchmarks"], "Medicare amount")["value"]
    assert ask["expected_counter"]["low"]["value"] == pytest.approx(1.1 * medicare)
    assert ask["expected_counter"]["high"]["value"] == pytest.approx(1.5 * medicare)
    idr = idr_benchmark_for_payer("AETNA", load_idr_benchmarks())
    assert ask["idr_offer"]["ratio"]["value"] == pytest.approx(idr["median_prevailing_offer_ratio"])
    assert ask["idr_offer"]["amount"]["value"] == pytest.approx(
        brief_claim["qpa_amount"] * idr["median_prevailing_offer_ratio"]
    )
    assert ask["idr_offer"]["ratio"]["count"] == idr["offer_ratio_line_items"]
    win = _figure(brief["payer_record"], "Federal IDR: provider win rate")
    assert win["value"] == pytest.approx(idr["provider_win_rate"]) and win["count"] == idr["disputes"]


def test_deadlines_checklist_and_citations_fit_the_claim(client, brief, brief_claim):
    scored = client.post("/v1/score", json=brief_claim).json()
    steps = {step["level"]: step for step in scored["ladder"]}
    assert [item["level"] for item in brief["deadlines"]] == [level for level in steps if level != "none"]
    for item in brief["deadlines"]:
        assert item["eligible"] == steps[item["level"]]["eligible"]
        assert item["deadline"] == steps[item["level"]].get("deadline")
    assert brief["recommendation"]["path"] == scored["recommendation"]["path"]
    assert brief["reasons"] == scored["reasons"]
    letter = next(item for item in brief["checklist"] if item["item"] == "Letter of medical necessity")
    assert letter["on_file"] is False and letter["denial_category"] == "medical_necessity"
    citations = " ".join(item["citation"] for item in brief["citations"])
    assert "45 CFR 149.410" in citations and "45 CFR 149.140" in citations  # an NSA claim
    assert "association" in brief["note"] and "not a cause" in brief["note"]


def test_the_printable_page_and_the_pdf_show_the_same_numbers(client, brief, brief_claim):
    page = client.post("/v1/brief?format=html", json=brief_claim)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"""(src|href)=["']https?://""", page.text)
    pdf = client.post("/v1/brief?format=pdf", json=brief_claim)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    text = re.sub(r"\s+", " ", text)
    billed_multiple = multiple(_figure(brief["benchmarks"], "Billed as a multiple")["value"])
    expected = [
        f"claim {brief_claim['claim_id']}",
        billed_multiple,
        dollars(brief["opening_ask"]["single_case_agreement"]["low"]["value"]),
        dollars(brief["opening_ask"]["single_case_agreement"]["high"]["value"]),
        dollars(brief["opening_ask"]["expected_counter"]["high"]["value"]),
        multiple(brief["opening_ask"]["idr_offer"]["ratio"]["value"]),
        dollars(brief["recommendation"]["expected_net_recovery"]["value"]),
        "45 CFR 149.510",
    ]
    for number in expected:
        assert number in text, number
        assert number in page.text, number
    assert "$1,920" in text  # 80% of the $2,400 billed, by hand


def test_a_bad_claim_gets_the_scoring_422_and_no_brief(client, brief_claim):
    response = client.post("/v1/brief?format=pdf", json=brief_claim | {"billed_amount": -5})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "billed_amount"]


def test_the_brief_needs_an_api_key(settings, brief_claim):
    from fastapi.testclient import TestClient

    from service.app import create_app

    with TestClient(create_app(settings)) as anonymous:
        assert anonymous.post("/v1/brief", json=brief_claim).status_code == 401
