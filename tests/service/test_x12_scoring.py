"""Scoring straight from remittances: ``recoup score`` and ``POST /v1/worklists`` take X12 835 input,
detected by content, and score its denied and underpaid claims."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.cli import app as cli
from tests.features.x12.builders import claim, interchange, remit
from tests.service.conftest import API_KEY
from tests.service.test_worklists_api import parts_of

DEFAULTS = ["place_of_service=23", "specialty=emergency_medicine"]


def remittance() -> str:
    denied = claim(
        "DENIED", status="4", paid="0", lines=[["SVC*HC:99285*1000*0**1", "DTM*472*20250201", "CAS*CO*50*1000"]]
    )
    underpaid = claim("LOW", paid="40", lines=[["SVC*HC:99285*1000*40**1", "DTM*472*20250201", "CAS*CO*45*960"]])
    paid_well = claim("FINE", paid="990", lines=[["SVC*HC:99285*1000*990**1", "DTM*472*20250201", "CAS*CO*45*10"]])
    return interchange(remit(denied, underpaid, paid_well))


@pytest.fixture(scope="module")
def api(settings):
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as test_client:
        yield test_client


def test_an_uploaded_835_is_imported_screened_and_scored(api):
    response = api.post(
        "/v1/worklists",
        params=[("default", value) for value in DEFAULTS],
        files={"file": ("remit.txt", remittance().encode(), "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    parts = parts_of(response)
    ranked = pd.read_csv(io.BytesIO(parts["ranked"][1]))
    assert sorted(ranked["claim_id"]) == ["DENIED", "LOW"]  # the paid-as-expected claim is screened out
    report = parts["x12_report"][1].decode()
    assert parts["x12_report"][0] == "text/plain" and "paid_as_expected              1" in report
    assert "/tmp" not in report  # files are named as uploaded


def test_an_835_that_gives_nothing_to_score_is_a_422(api):
    response = api.post("/v1/worklists", files={"file": ("remit.835", remittance().encode(), "text/plain")})
    assert response.status_code == 422  # no place of service: every claim fails the contract
    assert "place_of_service" in response.text and "/tmp" not in response.text


def test_recoup_score_takes_a_directory_of_835s(settings, tmp_path):
    remits = tmp_path / "remits"
    remits.mkdir()
    (remits / "day1.edi").write_text(remittance())
    output = tmp_path / "ranked.csv"
    args = [
        "score",
        str(remits),
        "-o",
        str(output),
        "--tracking-uri",
        settings.tracking_uri,
        "--jobs",
        "1",
        "--no-compile",
        *[part for value in DEFAULTS for part in ("--default", value)],
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "claim adjudications (CLP)          3" in result.output
    assert sorted(pd.read_csv(output)["claim_id"]) == ["DENIED", "LOW"]
