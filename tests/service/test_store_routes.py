"""Recording, POST /v1/outcomes and GET /v1/claims/{id} on a real store: SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import API_KEY

OUTCOME = {
    "claim_id": "OUT-1", "payer_id": " aetna ", "plan_type": "PPO", "funding": "self_funded", "state": "TX",
    "place_of_service": "23", "cpt_code": "99285", "emergency": True, "service_date": "2025-03-02",
    "initial_payment_date": "2025-04-01", "billed_amount": 2400, "initial_allowed_amount": 310,
    "qpa_amount": 350.0, "carc_codes": "CO-45", "level": "reconsideration", "submitted_date": "2025-04-20",
    "resolved_date": None, "outcome": "pending", "final_allowed_amount": None,
}  # fmt: skip
RESOLVED = {"resolved_date": "2025-06-01", "outcome": "settled", "final_allowed_amount": 1300}


@pytest.fixture
def store_client(settings: Settings, store_uri: str) -> Iterator[TestClient]:
    """An app on its own store (each kind of database)."""
    app = create_app(settings.model_copy(update={"store_uri": store_uri}))
    with TestClient(app, headers={"X-API-Key": API_KEY}) as test_client:
        yield test_client


def _flush(client: TestClient) -> None:
    assert client.app.state.recorder.flush(), "the recorder did not drain"


def test_scores_are_recorded_with_their_claim_and_shown_with_it(store_client, claim):
    score = store_client.post("/v1/score", json=claim).json()
    batch = store_client.post("/v1/score/batch", json={"claims": [claim | {"claim_id": "B-2"}, {"claim_id": 7}]})
    assert batch.status_code == 200
    _flush(store_client)
    record = store_client.get(f"/v1/claims/{claim['claim_id']}").json()
    assert record["claim"]["payer_id"] == claim["payer_id"] and record["attempts"] == []
    (prediction,) = record["predictions"]
    assert prediction["model_version"] == score["model"]["version"] and prediction["source"] == "api"
    assert prediction["recommended_action"] == score["recommendation"]["action"]
    assert prediction["as_of_date"] == claim["as_of_date"] and prediction["current_level"] == "none"
    by_level = {step["level"]: step for step in prediction["ladder"]}
    for step in score["ladder"]:
        assert by_level[step["level"]]["p_success"] == pytest.approx(step["p_success"])
        assert by_level[step["level"]]["eligible"] == step["eligible"]
    assert len(store_client.get("/v1/claims/B-2").json()["predictions"]) == 1
    ready = store_client.get("/readyz").json()["recording"]
    assert ready["enabled"] and ready["recorded"] == 2 and ready["failed"] == 0
    assert 'recoup_predictions_recorded_total{result="recorded"} 2.0' in store_client.get("/metrics").text


def test_outcomes_are_stored_idempotently_and_a_pending_one_is_resolved(store_client):
    first = store_client.post("/v1/outcomes", json={"outcomes": [OUTCOME]})
    assert first.status_code == 200, first.text
    body = first.json()
    assert [(row["claim_id"], row["level"], row["status"]) for row in body["stored"]] == [
        ("OUT-1", "reconsideration", "inserted")
    ]
    assert body["unchanged"] == body["rejected"] == []
    again = store_client.post("/v1/outcomes", json={"outcomes": [OUTCOME]}).json()
    assert again["stored"] == [] and [row["status"] for row in again["unchanged"]] == ["unchanged"]
    resolved = store_client.post("/v1/outcomes", json={"outcomes": [OUTCOME | RESOLVED]}).json()
    (row,) = resolved["stored"]
    assert row["status"] == "updated" and set(row["fields"]) == {"resolved_date", "outcome", "final_allowed_amount"}
    record = store_client.get("/v1/claims/OUT-1").json()
    assert record["claim"]["payer_id"] == "AETNA"  # an unseen claim is stored with the columns it carried
    (attempt,) = record["attempts"]
    assert (attempt["outcome"], attempt["final_allowed_amount"]) == ("settled", 1300)


def test_a_changed_resolved_outcome_is_a_409_and_the_request_stores_nothing(store_client):
    assert store_client.post("/v1/outcomes", json={"outcomes": [OUTCOME | RESOLVED]}).status_code == 200
    other = OUTCOME | {"claim_id": "OUT-2"}
    changed = OUTCOME | RESOLVED | {"final_allowed_amount": 900}
    response = store_client.post("/v1/outcomes", json={"outcomes": [other, changed]})
    assert response.status_code == 409
    body = response.json()
    (row,) = body["rejected"]
    assert (row["index"], row["status"], row["fields"]) == (1, "conflict", ["final_allowed_amount"])
    assert body["detail"][0]["loc"] == ["body", "outcomes", 1, "final_allowed_amount"]
    assert store_client.get("/v1/claims/OUT-2").status_code == 404


def test_malformed_outcomes_get_field_level_422s_in_the_files_words(store_client):
    rows = [
        OUTCOME | {"claim_id": "BAD-1", "outcome": "won"},
        OUTCOME | {"claim_id": "BAD-2", "outcome": "settled", "resolved_date": "2025-06-01"},
        {k: v for k, v in OUTCOME.items() if k != "submitted_date"} | {"claim_id": "BAD-3"},
        OUTCOME | {"claim_id": "GOOD"},
    ]
    response = store_client.post("/v1/outcomes", json={"outcomes": rows})
    assert response.status_code == 422
    body = response.json()
    assert {row["index"] for row in body["rejected"]} == {0, 1, 2} and body["stored"] == []
    by_loc = {tuple(item["loc"]): item["msg"] for item in body["detail"]}
    assert by_loc[("body", "outcomes", 0, "outcome")].startswith("must be one of overturned")
    assert by_loc[("body", "outcomes", 1, "final_allowed_amount")] == "is required when the outcome is resolved"
    assert by_loc[("body", "outcomes", 2, "submitted_date")] == "is required"
    assert "won" not in response.text  # errors never echo the values sent
    assert store_client.get("/v1/claims/GOOD").status_code == 404  # all or nothing
    not_rows = store_client.post("/v1/outcomes", json={"outcomes": [1]})
    assert not_rows.status_code == 422 and not_rows.json()["detail"][0]["loc"] == ["body", "outcomes", 0]
    assert store_client.post("/v1/outcomes", json={"outcomes": []}).status_code == 422


def test_unknown_claims_are_404(store_client):
    response = store_client.get("/v1/claims/NOPE")
    assert response.status_code == 404 and response.json() == {"detail": "the store holds no claim with this id"}


def test_a_store_outage_never_fails_a_score_and_shows_on_readyz(settings, claim):
    down = settings.model_copy(update={"store_uri": "postgresql://postgres@127.0.0.1:9/none?connect_timeout=1"})
    with TestClient(create_app(down), headers={"X-API-Key": API_KEY}) as client:
        for _ in range(3):
            assert client.post("/v1/score", json=claim).status_code == 200
        _flush(client)
        recording = client.get("/readyz").json()["recording"]
        assert recording["failed"] == 3 and recording["recorded"] == 0
        assert recording["last_error"].startswith("OperationalError")
        assert claim["claim_id"] not in recording["last_error"]
        assert 'recoup_predictions_recorded_total{result="failed"} 3.0' in client.get("/metrics").text
        assert client.post("/v1/outcomes", json={"outcomes": [OUTCOME]}).status_code == 503


def test_recording_can_be_turned_off(settings, claim, tmp_path):
    off = settings.model_copy(update={"record_predictions": False, "store_uri": f"sqlite:///{tmp_path / 's.db'}"})
    with TestClient(create_app(off), headers={"X-API-Key": API_KEY}) as client:
        assert client.post("/v1/score", json=claim).status_code == 200
        assert client.get("/readyz").json()["recording"]["enabled"] is False
        assert client.get(f"/v1/claims/{claim['claim_id']}").status_code == 404


def test_monitoring_joins_outcomes_to_the_predictions_made_and_sets_gauges(store_client, claim):
    claims = [claim | {"claim_id": f"M-{i}", "billed_amount": 2000 + 10 * i} for i in range(6)]
    store_client.post("/v1/score/batch", json={"claims": claims})
    _flush(store_client)
    outcomes = [
        OUTCOME
        | {key: c[key] for key in ("claim_id", "payer_id", "billed_amount", "service_date", "initial_payment_date")}
        | {"submitted_date": c["as_of_date"], "resolved_date": "2026-05-20"}
        | (
            {"outcome": "settled", "final_allowed_amount": 900}
            if i % 2
            else {"outcome": "upheld", "final_allowed_amount": 310}
        )
        for i, c in enumerate(claims)
    ]
    assert store_client.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
    response = store_client.get("/v1/monitoring")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels"]["predictions"] == 6 and body["labels"]["matured"] == 6 and body["labels"]["waiting"] == 0
    (level,) = body["calibration"]["by_level"]
    assert level["level"] == "reconsideration" and level["n"] == 6 and level["observed"] == 0.5
    assert level["realised_recovery"] == pytest.approx((900 - 310) / 2)
    assert {row["feature"] for row in body["drift"]["features"]} == {
        "payer_id", "code_family", "denial_category", "billed_amount", "initial_allowed_amount"
    }  # fmt: skip
    # one payer's 6 claims are far from the training mix, and far too few to alert on
    assert max(row["psi"] for row in body["drift"]["features"]) > 0.2 and body["alerts"] == []
    assert body["thresholds"]["calibration_gap"] == 0.1
    metrics = store_client.get("/metrics").text
    assert f'recoup_monitor_calibration_gap{{payer_id="{claim["payer_id"]}"}}' in metrics
    assert 'recoup_monitor_drift_psi{feature="billed_amount"}' in metrics
    later = store_client.get("/v1/monitoring", params={"since": "2099-01-01"}).json()
    assert later["labels"]["predictions"] == 0
    assert store_client.get("/v1/monitoring", params={"since": "yesterday"}).status_code == 422


def test_monitoring_an_empty_store_reports_that_nothing_was_scored_yet(store_client):
    """A service that has scored nothing yet (or a ``since`` after every prediction, with outcomes stored)
    answers with zero counts, not an error: an empty read is typed like a full one."""
    response = store_client.get("/v1/monitoring")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels"]["predictions"] == 0 and body["labels"]["matured"] == 0 and body["alerts"] == []
    assert store_client.get("/v1/monitoring", params={"since": "2526-07-12"}).status_code == 200


def test_the_monitoring_gauges_refresh_in_the_background(settings, claim, store_uri):
    """With RECOUP_MONITOR_REFRESH_SECONDS the gauges follow the store without a GET /v1/monitoring; without
    it they appear only once that endpoint is called."""
    claims = [claim | {"claim_id": f"G-{i}", "billed_amount": 2000 + 10 * i} for i in range(4)]
    for interval, expect_refresh in ((0.2, True), (0, False)):
        configured = settings.model_copy(update={"store_uri": store_uri, "monitor_refresh_seconds": interval})
        with TestClient(create_app(configured), headers={"X-API-Key": API_KEY}) as client:
            assert client.post("/v1/score/batch", json={"claims": claims}).status_code == 200
            _flush(client)
            deadline = time.monotonic() + 20 if expect_refresh else time.monotonic() + 1
            while time.monotonic() < deadline:
                metrics = client.get("/metrics").text
                if 'recoup_monitor_drift_psi{feature="billed_amount"}' in metrics:
                    break
                time.sleep(0.1)
            refreshed = 'recoup_monitor_drift_psi{feature="billed_amount"}' in metrics
            assert refreshed is expect_refresh, metrics[-2000:]
            pending = re.search(r"^recoup_monitor_pending_predictions (\S+)$", metrics, re.MULTILINE)
            assert float(pending[1]) == (len(claims) if expect_refresh else 0)  # the first round's, unanswered
