"""Structured logs with request ids and no claim data; settings from the environment; import boundaries."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from service.observability import JsonFormatter, request_id_var
from service.settings import DEFAULT_TRACKING_URI, Settings, get_settings


def test_json_log_lines_carry_the_request_id_and_extras_but_no_traceback():
    formatter = JsonFormatter()
    token = request_id_var.set("req-1")
    try:
        try:
            raise ValueError("secret claim value C-999")
        except ValueError:
            extra = {"route": "/v1/score"}
            record = logging.getLogger("x").makeRecord(
                "x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info(), extra=extra
            )
        entry = json.loads(formatter.format(record))
    finally:
        request_id_var.reset(token)
    assert entry["message"] == "failed here" and entry["level"] == "ERROR" and entry["request_id"] == "req-1"
    assert entry["route"] == "/v1/score"
    assert entry["error_type"] == "ValueError" and "test_observability.py" in entry["error_where"]
    assert "C-999" not in json.dumps(entry) and "Traceback" not in json.dumps(entry)


def test_scoring_logs_no_claim_data(client, claim, caplog):
    distinctive = claim | {
        "claim_id": "CLAIM-ZZZ-777",
        "payer_id": "PAYER-QQQ-888",
        "billed_amount": 12345.67,
        "cpt_code": "ZZ999",
    }
    with caplog.at_level(logging.DEBUG):
        assert client.post("/v1/score", json=distinctive).status_code == 200
        assert client.post("/v1/score", json=distinctive | {"units": -1}).status_code == 422
        client.post("/v1/score/batch", json={"claims": [distinctive, {"claim_id": "CLAIM-ZZZ-777"}]})
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    for value in ("CLAIM-ZZZ-777", "PAYER-QQQ-888", "12345.67", "ZZ999"):
        assert value not in logged
    access = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "service.access"]
    assert {entry["route"] for entry in access} >= {"/v1/score", "/v1/score/batch"}
    assert all(entry.get("request_id") and "duration_ms" in entry for entry in access)


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("RECOUP_API_KEYS", " key-one, key-two ,,key-three ")
    monkeypatch.setenv("RECOUP_COST_OVERRIDES", '{"legal": 4000, "reconsideration": 10}')
    monkeypatch.setenv("RECOUP_ANNUAL_DISCOUNT_RATE", "0.05")
    monkeypatch.setenv("RECOUP_MAX_BATCH_CLAIMS", "50")
    monkeypatch.setenv("RECOUP_RELOAD_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    monkeypatch.delenv("RECOUP_TRACKING_URI", raising=False)
    settings = Settings()
    assert [key.get_secret_value() for key in settings.api_keys] == ["key-one", "key-two", "key-three"]
    assert "key-one" not in repr(settings)  # keys never print
    assert settings.tracking_uri == "sqlite:///elsewhere.db"
    assert settings.model_uri == "models:/recoup@champion"
    assert (settings.max_batch_claims, settings.reload_interval_seconds) == (50, 0)
    from models.ladder import LadderPolicy

    policy = settings.apply_policy(LadderPolicy())
    assert policy.cost["legal"] == 4000 and policy.cost["reconsideration"] == 10
    assert policy.cost["written_appeal"] == LadderPolicy().cost["written_appeal"]
    assert policy.annual_discount_rate == 0.05
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert Settings().tracking_uri == DEFAULT_TRACKING_URI
    monkeypatch.setenv("RECOUP_API_KEYS", "")
    assert Settings().api_keys == [] and not Settings().auth_enabled


def test_get_settings_is_cached():
    get_settings.cache_clear()
    assert get_settings() is get_settings()
    get_settings.cache_clear()


@pytest.mark.parametrize("value", ["-1", "abc"])
def test_bad_settings_are_refused(monkeypatch, value):
    monkeypatch.setenv("RECOUP_MAX_BATCH_CLAIMS", value)
    with pytest.raises(ValueError):
        Settings()


def test_the_service_never_imports_training():
    code = (
        "import sys, service.app, service.server, service.routers.score, service.scoring, service.model_holder; "
        "bad = sorted(m for m in sys.modules if m == 'training' or m.startswith('training.')); "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
