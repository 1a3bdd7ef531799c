"""Every endpoint and error path, through the ASGI app (TestClient)."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from features.schema import ESCALATION_LEVELS
from models.result import LEVEL_FIELD_NAMES
from service import scoring
from service.app import create_app
from service.routers import score as score_routes
from service.settings import Settings
from tests.service.conftest import API_KEY, OTHER_KEY

LEVELS = [level.name for level in ESCALATION_LEVELS]


# --- POST /v1/score -----------------------------------------------------------------------------------


def test_score_returns_the_ladder_recommendation_reasons_and_model(client, claim, model_store):
    response = client.post("/v1/score", json=claim)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["claim_id"] == claim["claim_id"]
    assert [step["level"] for step in body["ladder"]] == LEVELS
    for step in body["ladder"]:
        assert set(step) == {"level", *LEVEL_FIELD_NAMES}
        assert step["eligible"] == (step["ineligible_reason"] is None)
        assert 0 <= step["p_success"] <= 1
        assert step["allowed_p10"] <= step["expected_allowed"] <= step["allowed_p90"]
        if step["eligible"]:
            assert step["net_value"] is not None and step["expected_recovery"] >= 0
    recommendation = body["recommendation"]
    assert recommendation["action"] in [*LEVELS, "accept"]
    assert recommendation["expected_net_recovery"] >= 0
    if recommendation["action"] == "accept":
        assert recommendation["path"] == []
    else:
        assert recommendation["path"][0] == recommendation["action"]
        chosen = next(step for step in body["ladder"] if step["level"] == recommendation["action"])
        assert chosen["net_value"] == pytest.approx(recommendation["expected_net_recovery"])
    assert isinstance(body["reasons"], list) and all(isinstance(r, str) and r for r in body["reasons"])
    assert body["model"] == {"name": "recoup", "version": model_store.version}


def test_the_example_nsa_claim_needs_the_open_negotiation_before_idr(client, claim):
    ladder = {step["level"]: step for step in client.post("/v1/score", json=claim).json()["ladder"]}
    assert claim["nsa_eligible"] and claim["current_level"] == "none"
    assert ladder["external_review"]["eligible"] is False
    assert "open negotiation" in ladder["external_review"]["ineligible_reason"]
    assert ladder["external_review"]["net_value"] is None


def test_deadline_rules_make_levels_ineligible_with_a_reason(client, claim):
    late = claim | {"initial_payment_date": "2025-01-02", "service_date": "2025-01-01", "as_of_date": "2025-12-01"}
    ladder = {step["level"]: step for step in client.post("/v1/score", json=late).json()["ladder"]}
    for level in ("reconsideration", "written_appeal", "peer_to_peer"):
        assert ladder[level]["eligible"] is False
    # the claim is NSA-eligible: its reconsideration is the open negotiation, due 30 business days after payment
    assert "within 30 business days" in ladder["reconsideration"]["ineligible_reason"]
    assert "within 180 days" in ladder["written_appeal"]["ineligible_reason"]
    assert ladder["legal"]["eligible"] is True


def test_inputs_are_normalised_like_the_file_reader(client, claim):
    messy = claim | {
        "payer_id": "  aetna ",
        "plan_type": "ppo",
        "state": "tx",
        "funding": "SELF_FUNDED",
        "current_level": 1,
        "emergency": "yes",
    }
    first = client.post("/v1/score", json=messy)
    assert first.status_code == 200, first.text
    clean = client.post("/v1/score", json=claim | {"payer_id": "AETNA", "current_level": "reconsideration"})
    assert first.json()["ladder"] == clean.json()["ladder"]


def test_unknown_payer_and_fields_are_warned_about(client, claim):
    body = client.post(
        "/v1/score", json=claim | {"payer_id": "NEVER-SEEN-PAYER", "truth_p_success": 0.9, "favourite_colour": "blue"}
    ).json()
    assert any("unknown payer" in warning for warning in body["warnings"])
    assert any("favourite_colour" in w and "truth_p_success" in w for w in body["warnings"])


def test_a_claim_at_external_review_can_only_go_to_legal(client, claim):
    body = client.post(
        "/v1/score", json=claim | {"current_level": "external_review", "current_allowed_amount": 500}
    ).json()
    ladder = {step["level"]: step for step in body["ladder"]}
    assert [level for level, step in ladder.items() if step["eligible"]] == ["legal"]
    assert "already at or beyond" in ladder["written_appeal"]["ineligible_reason"]
    assert body["recommendation"]["action"] in ("legal", "accept")


def test_concurrent_single_claims_are_scored_together(settings, claim, monkeypatch):
    """Claims arriving while a scoring call runs wait for the next call and share it."""
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        score_claims = scoring.score_claims
        calls: list[int] = []

        def slow(model, claims):
            calls.append(len(claims))
            time.sleep(0.3)
            return score_claims(model, claims)

        monkeypatch.setattr(scoring, "score_claims", slow)
        claims = [claim | {"claim_id": f"C-{i}", "current_allowed_amount": 300.0 + i} for i in range(8)]
        claims[5] = claim | {"claim_id": "C-5", "units": 0}  # one invalid claim does not spoil the call
        with ThreadPoolExecutor(len(claims)) as pool:
            responses = list(pool.map(lambda body: client.post("/v1/score", json=body), claims))
    assert [r.status_code for r in responses] == [200] * 5 + [422] + [200] * 2
    assert [r.json()["claim_id"] for i, r in enumerate(responses) if i != 5] == [f"C-{i}" for i in range(8) if i != 5]
    assert len(calls) < 7 and sum(calls) == 7


# --- validation errors --------------------------------------------------------------------------------


def _errors(response) -> dict[str, list[str]]:
    assert response.status_code == 422, response.text
    found: dict[str, list[str]] = {}
    for item in response.json()["detail"]:
        assert set(item) == {"type", "loc", "msg"}  # never the input: errors do not echo claim data
        found.setdefault(".".join(str(part) for part in item["loc"]), []).append(item["msg"])
    return found


def test_field_errors_quote_the_contract_rules(client, claim):
    bad = claim | {
        "cpt_code": "9",
        "units": 0,
        "state": "XX",
        "emergency": "maybe",
        "billed_amount": -5,
        "service_date": "03/02/2026",
        "current_level": "supreme_court",
    }
    del bad["claim_id"]
    errors = _errors(client.post("/v1/score", json=bad))
    assert errors == {
        "body.claim_id": ["is required"],
        "body.cpt_code": ["must be a 5-character CPT/HCPCS code"],
        "body.units": ["must be a whole number >= 1"],
        "body.state": ["must be a two-letter USPS state code"],
        "body.emergency": ["must be true or false"],
        "body.billed_amount": ["must be a number > 0 and <= 100,000,000"],
        "body.service_date": ["must be an ISO date (YYYY-MM-DD) between 1900 and 2199"],
        "body.current_level": [
            "must be one of none, reconsideration, written_appeal, peer_to_peer, external_review, legal"
        ],
    }


def test_cross_field_rules_come_from_the_table_validator(client, claim):
    bad = claim | {
        "billed_amount": 100.0,
        "initial_allowed_amount": 310.0,
        "current_allowed_amount": 50.0,
        "as_of_date": "2026-01-01",
        "service_date": "2026-03-02",
    }
    assert _errors(client.post("/v1/score", json=bad)) == {
        "body.initial_allowed_amount": ["must not exceed billed_amount"],
        "body.as_of_date": ["must not be before service_date"],
    }
    future = claim | {"service_date": "2100-01-01", "initial_payment_date": None, "as_of_date": None}
    assert _errors(client.post("/v1/score", json=future)) == {"body.service_date": ["must not be in the future"]}
    at_the_top = claim | {"current_level": "legal"}
    assert _errors(client.post("/v1/score", json=at_the_top)) == {
        "body.current_level": ["legal is the last level: nothing is left to escalate"]
    }


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", "null", "3"])
def test_malformed_bodies_are_422_not_500(client, body):
    response = client.post("/v1/score", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert all("input" not in item for item in response.json()["detail"])


def test_non_finite_numbers_are_rejected(client, claim):
    text = json.dumps(claim).replace('"billed_amount": 2400.0', '"billed_amount": NaN')
    assert "NaN" in text
    response = client.post("/v1/score", content=text, headers={"Content-Type": "application/json"})
    assert _errors(response) == {"body.billed_amount": ["must be a number > 0 and <= 100,000,000"]}


def test_an_integer_too_large_for_a_float_is_a_422_on_both_routes(client, claim):
    text = json.dumps(claim).replace('"billed_amount": 2400.0', '"billed_amount": ' + "9" * 400)
    assert "9" * 400 in text
    response = client.post("/v1/score", content=text, headers={"Content-Type": "application/json"})
    assert _errors(response) == {"body.billed_amount": ["must be a number > 0 and <= 100,000,000"]}
    batch = '{"claims": [' + text + "]}"
    response = client.post("/v1/score/batch", content=batch, headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json()["results"][0]["errors"], response.text


def test_validation_errors_do_not_echo_values(client, claim):
    secret = "PATIENT-SMITH-1970"
    response = client.post("/v1/score", json=claim | {"cpt_code": secret, "specialty": secret})
    assert response.status_code == 422
    assert secret not in response.text


# --- POST /v1/score/batch -----------------------------------------------------------------------------


def test_batch_scores_good_claims_and_reports_bad_ones_per_item(client, claim):
    claims = [
        claim,
        {"claim_id": "X"},
        7,
        claim | {"claim_id": "C-2", "billed_amount": 100.0, "current_allowed_amount": None},
        claim | {"claim_id": "C-3", "payer_id": "cigna"},
    ]
    response = client.post("/v1/score/batch", json={"claims": claims})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["scored"], body["failed"]) == (2, 3)
    results = body["results"]
    assert [item["index"] for item in results] == list(range(5))
    assert [item["result"] is not None for item in results] == [True, False, False, False, True]
    assert results[0]["result"]["claim_id"] == claim["claim_id"]
    assert results[1]["claim_id"] == "X"
    missing = {tuple(error["loc"]) for error in results[1]["errors"]}
    assert ("body", "claims", 1, "payer_id") in missing
    assert results[2]["errors"][0]["loc"] == ["body", "claims", 2]
    # the default current allowed amount is the initial one: both break the rule, as in a file
    assert results[3]["errors"] == [
        {"type": "value_error", "loc": ["body", "claims", 3, field], "msg": "must not exceed billed_amount"}
        for field in ("initial_allowed_amount", "current_allowed_amount")
    ]
    single = client.post("/v1/score", json=claim).json()
    assert results[0]["result"]["ladder"] == single["ladder"]


def test_batch_limits(settings, claim):
    small = settings.model_copy(update={"max_batch_claims": 2})
    with TestClient(create_app(small), headers={"X-API-Key": API_KEY}) as client:
        too_many = client.post("/v1/score/batch", json={"claims": [claim] * 3})
        assert too_many.status_code == 422
        assert too_many.json()["detail"] == [
            {"type": "too_long", "loc": ["body", "claims"], "msg": "must hold at most 2 claims"}
        ]
        assert client.post("/v1/score/batch", json={"claims": [claim] * 2}).status_code == 200
        assert client.post("/v1/score/batch", json={"claims": []}).status_code == 422
        assert client.post("/v1/score/batch", json=[claim]).status_code == 422


def test_request_body_size_is_limited(settings, claim):
    small = settings.model_copy(update={"max_request_bytes": 4096})
    with TestClient(create_app(small), headers={"X-API-Key": API_KEY}) as client:
        assert client.post("/v1/score", json=claim).status_code == 200
        response = client.post("/v1/score/batch", json={"claims": [claim] * 20})
        assert response.status_code == 413
        assert response.json() == {"detail": "request body too large"}
        chunks = (json.dumps({"claims": [claim] * 20}).encode()[i : i + 500] for i in range(0, 20000, 500))
        streamed = client.post("/v1/score/batch", content=chunks, headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        assert streamed.json() == {"detail": "request body too large"}
        assert streamed.headers["x-request-id"]


# --- authentication -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/score"),
        ("post", "/v1/score/batch"),
        ("get", "/v1/payers"),
        ("get", "/v1/payers/AETNA"),
        ("get", "/v1/model"),
    ],
)
def test_api_routes_need_a_valid_key(client, method, path):
    kwargs = {"json": {}} if method == "post" else {}
    missing = getattr(client, method)(path, headers={"X-API-Key": ""}, **kwargs)
    assert missing.status_code == 401 and missing.json() == {"detail": "missing API key"}
    wrong = getattr(client, method)(path, headers={"X-API-Key": API_KEY + "x"}, **kwargs)
    assert wrong.status_code == 403 and wrong.json() == {"detail": "invalid API key"}


def test_every_configured_key_works(client, claim):
    assert client.post("/v1/score", json=claim, headers={"X-API-Key": OTHER_KEY}).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_operational_routes_need_no_key(client, path):
    assert client.get(path, headers={"X-API-Key": ""}).status_code == 200


def test_without_keys_auth_is_disabled_with_a_warning(settings, claim, caplog):
    open_settings = settings.model_copy(update={"api_keys": []})
    with caplog.at_level(logging.WARNING), TestClient(create_app(open_settings)) as client:
        assert client.post("/v1/score", json=claim).status_code == 200
    assert any("authentication is disabled" in record.getMessage() for record in caplog.records)


# --- payers, model, health ----------------------------------------------------------------------------


def test_payers_list_and_profile(client, model_store):
    listed = client.get("/v1/payers").json()
    ids = [payer["payer_id"] for payer in listed["payers"]]
    assert ids == sorted(ids) and set(ids) <= set(model_store.payer_ids) and ids
    payer = ids[0]
    profile = client.get(f"/v1/payers/ {payer.lower()} ")
    assert profile.status_code == 200
    body = profile.json()
    assert body["payer_id"] == payer and body["claims"] > 0
    assert 0 <= body["denial_rate"] <= 1
    assert body["levels"] and {level["level"] for level in body["levels"]} <= set(LEVELS)
    for level in body["levels"]:
        assert 0 <= level["success_rate_shrunk"] <= 1
        assert level["successes"] <= level["attempts"]


def test_payer_profile_carries_its_federal_idr_record(client, model_store):
    body = client.get("/v1/payers/AETNA").json()
    idr = body["federal_idr"]
    assert idr["payer_group"] == "Aetna" and idr["disputes"] > 1000
    assert 0 < idr["provider_win_rate"] < 1 and idr["median_prevailing_offer_ratio"] > 1


def test_payer_known_only_from_public_idr_data_gets_its_record(client):
    body = client.get("/v1/payers/BLUE CROSS BLUE SHIELD OF TEXAS").json()
    assert body["claims"] is None and body["levels"] == []
    assert body["federal_idr"]["payer_group"] == "BCBS Texas"


def test_unknown_payer_is_404(client):
    response = client.get("/v1/payers/NOBODY-AT-ALL")
    assert response.status_code == 404 and response.json() == {"detail": "unknown payer"}


def test_every_eligible_level_shows_its_deadline_as_a_date(client, claim):
    """The example claim (NSA, paid 2026-04-01, as of 2026-04-10): open negotiation runs 30 business days
    beginning on the payment day (April 1 is day 1, May 12 day 30), internal appeals 180 days."""
    ladder = {step["level"]: step for step in client.post("/v1/score", json=claim).json()["ladder"]}
    assert claim["initial_payment_date"] == "2026-04-01" and claim["as_of_date"] == "2026-04-10"
    assert ladder["reconsideration"]["deadline"] == "2026-05-12"
    assert ladder["reconsideration"]["days_left"] == 32
    assert "45 CFR 149.510(b)(1)(i)" in ladder["reconsideration"]["deadline_rule"]
    for level in ("written_appeal", "peer_to_peer"):
        assert ladder[level]["deadline"] == "2026-09-28" and ladder[level]["days_left"] == 171
        assert "180 days" in ladder[level]["deadline_rule"]
    assert ladder["external_review"]["deadline"] is None
    assert ladder["external_review"]["deadline_rule"].startswith("unknown: needs current_level_date")
    assert ladder["legal"]["deadline"] is None and "no filing deadline" in ladder["legal"]["deadline_rule"]
    for step in ladder.values():
        assert step["eligible"] is False or step["deadline_rule"], step["level"]


def test_the_idr_fee_is_the_one_in_force_on_the_filing_date(client, claim):
    """After open negotiation (started 2026-11-02), Federal IDR is the next step: as of 2026-12-01 it pays the
    $15 administrative fee (disputes initiated on or after 2026-06-11), as of 2026-03-01 the $115 one."""
    after = claim | {"current_level": "reconsideration", "initial_payment_date": "2026-10-01"}
    now = after | {"current_level_date": "2026-11-02", "as_of_date": "2026-12-01"}
    before = after | {
        "service_date": "2025-12-01",
        "initial_payment_date": "2026-01-02",
        "current_level_date": "2026-02-02",
        "as_of_date": "2026-03-01",
    }
    costs = {}
    for name, body in (("now", now), ("before", before)):
        ladder = {step["level"]: step for step in client.post("/v1/score", json=body).json()["ladder"]}
        assert ladder["external_review"]["eligible"] is True, ladder["external_review"]
        costs[name] = ladder["external_review"]["cost"]
    preparation = 300.0
    assert costs == {"now": preparation + 15.0, "before": preparation + 115.0}


def test_model_info_lists_the_rules_in_force_with_their_sources(client):
    rules = {rule["rule"]: rule for rule in client.get("/v1/model").json()["rules_in_force"]}
    fee = rules["idr_administrative_fee"]
    assert fee["value"] == fee["applied"] == 15.0 and fee["effective_from"] == "2026-06-11"
    assert fee["effective_to"] is None and "2026-11140" in fee["citation"]
    assert rules["idr_entity_fee_single"]["range_low"] == 200.0
    assert rules["idr_entity_fee_single"]["range_high"] == 840.0


def test_model_info(client, model_store):
    body = client.get("/v1/model").json()
    assert body["name"] == "recoup" and body["version"] == model_store.version
    assert body["uri"] == f"models:/recoup/{model_store.version}"
    assert body["run_id"] == model_store.run_id
    assert len(body["training_window"]) == 2 and body["training_window"][0] <= body["training_window"][1]
    assert len(body["test_window"]) == 2
    assert "test_log_loss" in body["metrics"]
    assert body["policy"]["cost"]["legal"] == 5000.0


def test_policy_overrides_change_costs_and_values(settings, claim):
    cheap = settings.model_copy(update={"cost_overrides": {"legal": 1.0}, "annual_discount_rate": 0.0})
    with TestClient(create_app(cheap), headers={"X-API-Key": API_KEY}) as client:
        assert client.get("/v1/model").json()["policy"]["cost"]["legal"] == 1.0
        assert client.get("/v1/model").json()["policy"]["annual_discount_rate"] == 0.0
        ladder = {step["level"]: step for step in client.post("/v1/score", json=claim).json()["ladder"]}
    assert ladder["legal"]["cost"] == 1.0
    assert ladder["legal"]["net_value"] == pytest.approx(ladder["legal"]["expected_recovery"] - 1.0)


def test_health_and_readiness(client, model_store):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["model"] == {"name": "recoup", "version": model_store.version}
    assert ready.json()["last_reload_error"] is None


def test_metrics_expose_requests_latency_model_and_scores(client, claim, model_store):
    client.post("/v1/score", json=claim)
    text = client.get("/metrics").text
    assert 'recoup_http_requests_total{method="POST",route="/v1/score",status="200"}' in text
    assert 'recoup_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/score"}' in text
    assert f'recoup_model_info{{name="recoup",version="{model_store.version}"}} 1.0' in text
    assert "recoup_expected_net_recovery_dollars_count" in text
    assert 'recoup_claims_total{outcome="scored"}' in text
    assert "recoup_recommendations_total" in text


def test_request_ids_are_returned_and_client_ids_kept(client, claim):
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    hostile = client.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"]
    assert hostile != "x" * 500


def test_unknown_route_is_a_plain_404(client):
    assert client.get("/v2/nothing").status_code == 404


# --- failures -----------------------------------------------------------------------------------------


def test_no_model_means_not_ready_and_503(settings, claim, caplog):
    missing = settings.model_copy(update={"model_uri": "models:/no-such-model@champion"})
    app = create_app(missing)
    with caplog.at_level(logging.ERROR), TestClient(app, headers={"X-API-Key": API_KEY}) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready" and ready.json()["last_reload_error"]
        assert client.get("/healthz").status_code == 200
        response = client.post("/v1/score", json=claim)
        assert response.status_code == 503 and response.json() == {"detail": "no model is loaded"}
        assert client.get("/v1/payers").status_code == 503
    assert any("model load failed" in record.getMessage() for record in caplog.records)


def test_a_scoring_bug_is_a_500_without_details(settings, claim, monkeypatch, caplog):
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        model = client.app.state.holder.current

        def broken(*args, **kwargs):
            raise ValueError(f"cannot score {claim['claim_id']} of {claim['payer_id']}")

        monkeypatch.setattr(type(model.bundle), "score_columns", broken)  # the core: every adapter fails
        with caplog.at_level(logging.INFO):
            single = client.post("/v1/score", json=claim)
            batch = client.post("/v1/score/batch", json={"claims": [claim, claim]})
    assert single.status_code == 500
    assert single.json() == {"detail": "the claim could not be scored"}
    assert batch.status_code == 200 and batch.json()["failed"] == 2
    assert batch.json()["results"][0]["errors"][0]["type"] == "scoring_error"
    logged = " ".join(str(vars(record)) for record in caplog.records)
    assert "ValueError" in logged and "Traceback" not in logged
    assert claim["claim_id"] not in logged and claim["payer_id"] not in logged


def test_a_claim_that_breaks_scoring_does_not_fail_the_rest_of_its_batch(settings, claim, monkeypatch):
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        bundle_type = type(client.app.state.holder.current.bundle)
        score = bundle_type.score_columns

        def fragile(self, claims, policy=None):
            if (claims["payer_id"] == "POISON").any():
                raise ZeroDivisionError("model bug")
            return score(self, claims, policy=policy)

        monkeypatch.setattr(bundle_type, "score_columns", fragile)
        claims = [claim | {"claim_id": f"C-{i}"} for i in range(4)]
        claims[2] = claim | {"claim_id": "POISON", "payer_id": "POISON"}
        body = client.post("/v1/score/batch", json={"claims": claims}).json()
    assert (body["scored"], body["failed"]) == (3, 1)
    assert body["results"][2]["errors"] == [
        {"type": "scoring_error", "loc": ["body", "claims", 2], "msg": "the claim could not be scored"}
    ]


def test_an_unexpected_error_is_a_plain_500(settings, claim, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom with claim data C-000123")

    monkeypatch.setattr(score_routes, "observe", broken)
    app = create_app(settings)
    with TestClient(app, headers={"X-API-Key": API_KEY}, raise_server_exceptions=False) as client:
        response = client.post("/v1/score", json=claim)
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "internal error" and body["request_id"] == response.headers["x-request-id"]
    assert "boom" not in response.text and "Traceback" not in response.text


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="unknown level"):
        Settings(cost_overrides={"supreme_court": 1.0})


def test_a_lone_claim_takes_the_single_claim_path_and_errors_the_frame_path(settings, claim, monkeypatch):
    """Scored without a frame; a claim breaking a rule across fields still gets the table's words."""
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as client:
        bundle_type = type(client.app.state.holder.current.bundle)

        def frame_path(*args, **kwargs):
            raise AssertionError("a lone valid claim must not need a DataFrame")

        monkeypatch.setattr(bundle_type, "score", frame_path)
        scored = client.post("/v1/score", json=claim)
        too_much = client.post("/v1/score", json=claim | {"current_allowed_amount": claim["billed_amount"] + 1})
    assert scored.status_code == 200 and scored.json()["claim_id"] == claim["claim_id"]
    assert _errors(too_much) == {"body.current_allowed_amount": ["must not exceed billed_amount"]}


def test_a_call_after_a_busy_one_waits_briefly_for_its_batch_and_a_lone_claim_never_waits(monkeypatch):
    """After a call that scored several claims, the next call waits (bounded by ``batch_wait_ms``) until as
    many are queued, so clients whose next requests arrive a moment apart share one call; an idle service
    scores a lone claim at once. Bounds are generous: only the order of events is asserted, not speed."""
    import asyncio

    from service.observability import Metrics

    calls: list[int] = []
    monkeypatch.setattr(scoring, "score_claims", lambda model, claims: calls.append(len(claims)) or claims)

    def run(wait_seconds: float, last_call: int, arrivals: list[float]) -> tuple[list[int], float]:
        calls.clear()

        async def main() -> float:
            coalescer = scoring.ScoreCoalescer(Metrics(), max_wait_seconds=wait_seconds)
            coalescer._last_call_claims = last_call
            started = time.perf_counter()

            async def arrive(delay: float, position: int) -> None:
                await asyncio.sleep(delay)
                assert await coalescer.score("model", position) == position  # each gets its own answer

            await asyncio.gather(*(arrive(delay, position) for position, delay in enumerate(arrivals)))
            return time.perf_counter() - started

        elapsed = asyncio.run(main())
        return list(calls), elapsed

    assert run(5.0, 4, [0.0, 0.01, 0.02, 0.03])[0] == [4]  # gathered into one call once the fourth arrives
    waited, elapsed = run(0.2, 4, [0.0])
    assert waited == [1] and elapsed >= 0.2  # the others never came: the wait ends at its bound
    alone, elapsed = run(5.0, 1, [0.0])
    assert alone == [1] and elapsed < 2.5  # after a lone claim, no wait at all
