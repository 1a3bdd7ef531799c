"""The prediction recorder batches what arrives together into one transaction (recording's cost under
load is per transaction: benchmarks/store_bench.py), still writes every claim, and stores the same rows
from a claim's typed values as from its request model, column by column; its writer process (a real
child process writing a real store) is started again when it died."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from features.requests import EXAMPLE_CLAIM, ClaimRequest, typed_claim
from features.schema import CLAIM_COLUMN_NAMES, ESCALATION_LEVELS, Level
from features.store import PREDICTION_COLUMNS, PREDICTION_LEVEL_FIELDS, Store
from service.observability import Metrics
from service.recording import PredictionRecorder, _Scored, prediction_rows
from service.store_writer import StoreWriteFailed, StoreWriter

CALLS = 50  # over 0.25 s, within one batch's wait (service.recording.BATCH_SECONDS)


class CountingWriter(StoreWriter):
    """The service's writer, counting its batches (each one transaction of the writer process)."""

    transactions = 0

    def write(self, claim_rows, prediction_rows) -> None:
        self.transactions += 1
        super().write(claim_rows, prediction_rows)


def _response() -> dict:
    ladder = [
        {"level": level.name, **{name: name == "eligible" or 0.5 for name in PREDICTION_LEVEL_FIELDS}}
        for level in ESCALATION_LEVELS
        if level is not Level.none
    ]
    return {"recommendation": {"action": "reconsideration", "expected_net_recovery": 120.0}, "ladder": ladder}


def _distinct_response() -> dict:
    """A ladder whose every number is different (a value written to the wrong column shows), one level
    left out (its columns are stored empty) and one ineligible."""
    ladder = [
        {
            "level": level.name,
            "eligible": position != 1,
            **{name: position * 10 + offset for offset, name in enumerate(PREDICTION_LEVEL_FIELDS[1:], 1)},
        }
        for position, level in enumerate(ESCALATION_LEVELS)
        if level is not Level.legal
    ]
    return {"recommendation": {"action": "written_appeal", "expected_net_recovery": 77.5}, "ladder": ladder}


def test_scores_arriving_together_are_written_in_one_transaction(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    writer = CountingWriter(uri)
    recorder = PredictionRecorder(writer, Metrics())
    model = SimpleNamespace(name="recoup", version="3")
    recorder.start()
    try:
        for number in range(CALLS):  # one claim per call, 200 calls a second, as POST /v1/score records them
            claim = ClaimRequest.model_validate(EXAMPLE_CLAIM | {"claim_id": f"R-{number}"})
            recorder.record(model, [claim], [_response()], "api")
            time.sleep(0.005)
        assert recorder.flush()
    finally:
        recorder.stop()
    assert recorder.status()["recorded"] == CALLS
    store = Store.open(uri)
    assert len(store.read_predictions()) == CALLS
    assert 1 <= writer.transactions <= 3, f"{CALLS} calls took {writer.transactions} transactions"
    store.close()


def test_typed_values_and_request_models_store_the_response_and_claim_column_by_column(store_uri):
    recorder = PredictionRecorder(StoreWriter(store_uri), Metrics())
    model = SimpleNamespace(name="recoup", version="3")
    claims = [
        ClaimRequest.model_validate(EXAMPLE_CLAIM | {"claim_id": "TYPED", "current_level": "reconsideration"}),
        ClaimRequest.model_validate(EXAMPLE_CLAIM | {"claim_id": "MODEL", "as_of_date": None}),
    ]
    response = _distinct_response()
    recorder.start()
    try:
        recorder.record(model, [typed_claim(claims[0])], [response], "api")  # the columnar path's values
        recorder.record(model, [claims[1]], [response], "worklist")  # a frame-path claim: its request model
    finally:
        recorder.stop()  # writes what is queued
    assert recorder.status()["recorded"] == 2 and recorder.status()["queued"] == 0
    store = Store.open(store_uri)
    steps = {step["level"]: step for step in response["ladder"]}
    for claim, source in zip(claims, ("api", "worklist"), strict=True):
        typed = typed_claim(claim)
        stored = store.claim(claim.claim_id)
        assert {name: stored["claim"][name] for name in CLAIM_COLUMN_NAMES} == {
            name: typed[name] for name in CLAIM_COLUMN_NAMES
        }
        (prediction,) = stored["predictions"]
        expected = {
            "claim_id": claim.claim_id, "model_name": "recoup", "model_version": "3", "source": source,
            "as_of_date": typed["as_of_date"], "current_level": typed["current_level"],
            "current_allowed_amount": typed["current_allowed_amount"], "recommended_action": "written_appeal",
            "expected_net_recovery": 77.5,
        } | {
            f"{name}_{level.name}": steps[level.name][name] if level.name in steps else None
            for name in PREDICTION_LEVEL_FIELDS
            for level in ESCALATION_LEVELS
        }  # fmt: skip
        assert {name: prediction[name] for name in PREDICTION_COLUMNS if name != "served_at"} == expected
    assert store.claim("TYPED")["predictions"][0]["current_level"] == int(Level.reconsideration)
    store.close()


def test_a_writer_process_that_died_is_started_again(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    writer = StoreWriter(uri)
    recorder = PredictionRecorder(writer, Metrics())
    model = SimpleNamespace(name="recoup", version="3")
    recorder.start()
    try:
        for number in range(2):
            claim = ClaimRequest.model_validate(EXAMPLE_CLAIM | {"claim_id": f"K-{number}"})
            recorder.record(model, [claim], [_response()], "api")
            assert recorder.flush()
            first = writer._process
            first.kill()  # as the kernel's OOM killer would
            first.join()
    finally:
        recorder.stop()
    status = recorder.status()
    assert (status["recorded"], status["failed"], status["dropped"], status["last_error"]) == (2, 0, 0, None)
    store = Store.open(uri)
    assert sorted(store.read_predictions()["claim_id"]) == ["K-0", "K-1"]
    store.close()


def test_a_closed_writer_starts_no_process_and_ctrl_c_does_not_stop_a_running_one(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    writer = StoreWriter(uri)
    claim_rows, rows = prediction_rows_of("INT-0")
    writer.write(claim_rows, rows)
    child = writer._process
    os.kill(child.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole process group
    writer.write(*prediction_rows_of("INT-1"))
    assert writer._process is child, "the writer process ended on SIGINT"
    writer.close()
    assert not child.is_alive()
    with pytest.raises(StoreWriteFailed, match="closed"):
        writer.write(*prediction_rows_of("INT-2"))
    store = Store.open(uri)
    assert sorted(store.read_predictions()["claim_id"]) == ["INT-0", "INT-1"]
    store.close()


def prediction_rows_of(claim_id: str):
    claim = ClaimRequest.model_validate(EXAMPLE_CLAIM | {"claim_id": claim_id})
    scored = _Scored("recoup", "3", datetime.now(UTC), "api", [claim], [_response()])
    return prediction_rows(scored)
