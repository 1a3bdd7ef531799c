"""The prediction recorder batches what arrives together into one transaction (recording's cost under
load is per transaction: benchmarks/store_bench.py), still writes every claim, and stores the same rows
from a claim's typed values as from its request model, column by column."""

from __future__ import annotations

import time
from types import SimpleNamespace

from features.requests import EXAMPLE_CLAIM, ClaimRequest, typed_claim
from features.schema import CLAIM_COLUMN_NAMES, ESCALATION_LEVELS, Level
from features.store import PREDICTION_COLUMNS, PREDICTION_LEVEL_FIELDS, Store
from service.observability import Metrics
from service.recording import PredictionRecorder, StoreHolder

CALLS = 50  # over 0.25 s, within one batch's wait (service.recording.BATCH_SECONDS)


class CountingStore(Store):
    """A real store that counts its recording transactions."""

    transactions = 0

    def record_predictions(self, claim_rows, prediction_rows) -> None:
        self.transactions += 1
        super().record_predictions(claim_rows, prediction_rows)


class OpenStore(StoreHolder):
    def __init__(self, store: Store):
        super().__init__("unused")
        self.store = store

    def get(self) -> Store:
        return self.store


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
    store = CountingStore.open(f"sqlite:///{tmp_path / 'store.db'}")
    recorder = PredictionRecorder(OpenStore(store), Metrics())
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
    assert len(store.read_predictions()) == CALLS
    assert store.transactions <= 3, f"{CALLS} calls took {store.transactions} transactions"
    store.close()


def test_typed_values_and_request_models_store_the_response_and_claim_column_by_column(store_uri):
    store = Store.open(store_uri)
    recorder = PredictionRecorder(OpenStore(store), Metrics())
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
