"""The prediction recorder batches what arrives together into one transaction (recording's cost under
load is per transaction: benchmarks/store_bench.py), and still writes every claim."""

from __future__ import annotations

import time
from types import SimpleNamespace

from features.requests import EXAMPLE_CLAIM, ClaimRequest
from features.schema import ESCALATION_LEVELS, Level
from features.store import PREDICTION_LEVEL_FIELDS, Store
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
