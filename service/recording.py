"""Recording predictions off the request path, and the store the service shares with its commands.

A score route hands its results, each with its claim as it was scored (the typed values of the columnar
path, or the request model of the frame path), to ``PredictionRecorder.record``, which turns each result
into a ``predictions`` row and its claim into a ``claims`` row (tuples of values, never parsed again),
appends them to a bounded queue (no I/O) and wakes a background thread when a batch starts or fills. The
thread hands a batch to the store writer (``service.store_writer``: a child process, off the worker's
core), which writes it in one transaction. A score never waits for the store and
never fails because of it: a full queue drops the results, a failed write loses its batch; both are
counted in metrics, logged (without claim data) and shown on ``/readyz``. The store is opened lazily (by
the writer, and by ``StoreHolder`` for the routes that read it), so a store that is down at start is
retried on the next write or request instead of keeping the service from starting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from pydantic import BaseModel

from features.io import iter_table_chunks
from features.requests import REQUEST_COLUMN_NAMES, typed_claim
from features.schema import CLAIM_COLUMN_NAMES, ESCALATION_LEVEL_NAMES, Level
from features.store import (
    PREDICTION_COLUMNS,
    PREDICTION_LEVEL_FIELDS,
    Store,
    describe_store_error,
    level_columns,
    records,
)
from features.validation import validate_claims
from service.observability import Metrics, describe_exception
from service.store_writer import STOP_SECONDS, StoreWriteFailed

logger = logging.getLogger(__name__)

BATCH_CLAIMS = 2_000
BATCH_SECONDS = 0.5  # how long a batch waits for more claims (recording lags scoring by at most this)
WORKLIST_RECORD_ROWS = 20_000


class StoreHolder:
    """The service's store, opened on first use; an open that fails is retried on the next use."""

    def __init__(self, uri: str):
        self.uri = uri
        self._store: Store | None = None
        self._lock = threading.Lock()

    def get(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store.open(self.uri, pool_pre_ping=True)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


@dataclass(frozen=True)
class _Scored:
    model_name: str
    model_version: str | None
    served_at: datetime
    source: str
    claims: Sequence[dict[str, Any] | BaseModel]  # as scored: typed values, or request models
    responses: Sequence[dict[str, Any]]


_NO_STEP: dict[str, Any] = {}  # a level the ladder leaves out: its columns stay empty


def prediction_rows(scored: _Scored) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The claims and predictions rows of one scoring call's results, as values in ``CLAIM_COLUMN_NAMES``
    and ``PREDICTION_COLUMNS`` order (``Store.record_prediction_values``)."""
    claim_rows, rows = [], []
    call = (scored.model_name, scored.model_version, scored.source, scored.served_at)
    for claim, response in zip(scored.claims, scored.responses, strict=True):
        values = claim if isinstance(claim, dict) else _claim_values(claim)
        claim_rows.append(tuple(map(values.get, CLAIM_COLUMN_NAMES)))
        recommendation = response["recommendation"]
        steps = {step["level"]: step for step in response["ladder"]}
        # each level's fields, then field by field: PREDICTION_COLUMNS' order (``level_columns`` of each)
        by_level = [map(steps.get(level, _NO_STEP).get, PREDICTION_LEVEL_FIELDS) for level in ESCALATION_LEVEL_NAMES]
        rows.append(
            (
                values["claim_id"],
                *call,
                values["as_of_date"],
                int(values["current_level"]),
                float(values["current_allowed_amount"]),
                recommendation["action"],
                recommendation["expected_net_recovery"],
                *chain.from_iterable(zip(*by_level, strict=True)),
            )
        )
    return claim_rows, rows


def _claim_values(claim: BaseModel) -> dict[str, Any]:
    """A claim's typed values (defaults filled) from its request model, when the route scored it on the
    frame path (the batch endpoint, or a columnar call that failed)."""
    values = typed_claim(claim)
    if values is None:  # the table validator filled its defaults the same way
        values = dict(claim.__dict__)
        values["as_of_date"] = values.get("as_of_date") or date.today()
        values["current_level"] = int(Level[values.get("current_level") or "none"])
        if values.get("current_allowed_amount") is None:
            values["current_allowed_amount"] = values["initial_allowed_amount"]
        if values.get("nsa_eligible") is None:
            values["nsa_eligible"] = values["emergency"]
    return values


def record_worklist(output: Path, store: Store, model_name: str, model_version: str | None) -> int:
    """Record a ranked worklist (``recoup score`` output: the input columns and the scoring columns) as
    predictions of source ``worklist``; returns how many. The claims' columns are typed by the contract's
    validator, as when they were scored."""
    served_at = datetime.now(UTC)
    recorded = 0
    for chunk in iter_table_chunks(output, WORKLIST_RECORD_ROWS):
        typed = validate_claims(chunk[[name for name in REQUEST_COLUMN_NAMES if name in chunk]]).valid
        scored = chunk.loc[typed.index]
        predictions = pd.DataFrame(
            {
                "claim_id": typed["claim_id"],
                "model_name": model_name,
                "model_version": model_version,
                "source": "worklist",
                "served_at": served_at,
                "as_of_date": typed["as_of_date"],
                "current_level": typed["current_level"],
                "current_allowed_amount": typed["current_allowed_amount"],
                "recommended_action": scored["recommended_action"].astype(str),
                "expected_net_recovery": pd.to_numeric(scored["expected_net_recovery"], errors="coerce"),
            }
        )
        for name in PREDICTION_LEVEL_FIELDS:
            for column in level_columns(name):
                values = scored[column]
                if name == "eligible":
                    predictions[column] = values.astype(str).str.lower().isin(("true", "1"))
                else:
                    predictions[column] = pd.to_numeric(values, errors="coerce")
        store.record_predictions(records(typed, CLAIM_COLUMN_NAMES), records(predictions, PREDICTION_COLUMNS))
        recorded += len(predictions)
    return recorded


class RowWriter(Protocol):
    """Where the recorder's rows go: ``service.store_writer.StoreWriter`` (the store, from a child process)."""

    def write(self, claim_rows: Sequence[Sequence[Any]], prediction_rows: Sequence[Sequence[Any]]) -> None: ...

    def close(self) -> None: ...


class PredictionRecorder:
    """Writes scored claims to the store from a background thread; never blocks or fails a score."""

    def __init__(self, writer: RowWriter | None, metrics: Metrics, max_queue_claims: int = 100_000):
        self.writer = writer
        self.metrics = metrics
        self.max_queue_claims = max_queue_claims
        # the calls waiting for the thread; it is woken only when a batch starts, fills, or must stop: a
        # wake-up per call (a queue's) cost a GIL hand-off per request
        self._pending: list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = []  # claims and predictions rows
        self._pending_claims = 0
        self._first_pending_at = 0.0
        self._queued_claims = 0  # pending or being written
        self._wake = threading.Condition(threading.Lock())
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.recorded = 0
        self.dropped = 0
        self.failed = 0
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="prediction-recorder", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Write what is queued (up to ``timeout``), then stop the thread and the writer."""
        if self._thread is not None:
            with self._wake:
                self._stopping = True
                self._wake.notify()
            self._thread.join(timeout)
            self._thread = None
        if self.writer is not None:
            self.writer.close()

    def record(
        self,
        model: Any,
        claims: Sequence[dict[str, Any] | BaseModel],
        responses: Sequence[dict[str, Any]],
        source: str,
    ) -> None:
        """Queue one call's scored claims (``claims[i]``, its typed values or its request model, scored as
        ``responses[i]``) as store rows; no I/O. The rows are built here, a few microseconds a claim spread
        over the requests: built by the thread, hundreds at a time, they held the GIL in bursts that showed
        in the event loop's 99th percentile."""
        if not self.enabled or not responses:
            return
        count = len(responses)
        try:
            rows = prediction_rows(_Scored(model.name, model.version, datetime.now(UTC), source, claims, responses))
        except Exception as failure:  # never a score's failure: counted and shown as a failed write
            self._count_failure(count, failure)
            return
        with self._wake:
            if self._queued_claims + count > self.max_queue_claims:
                self.dropped += count
                self.metrics.predictions_recorded.labels(result="dropped").inc(count)
                return
            self._queued_claims += count
            self._pending.append(rows)
            self._pending_claims += count
            if len(self._pending) == 1:
                self._first_pending_at = time.monotonic()
                self._wake.notify()
            elif self._pending_claims >= BATCH_CLAIMS:
                self._wake.notify()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written (or failed); for tests and shutdown."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._wake:
                if self._queued_claims == 0:
                    return True
            time.sleep(0.01)
        return False

    def status(self) -> dict[str, Any]:
        with self._wake:
            queued = self._queued_claims
        return {
            "enabled": self.enabled,
            "recorded": self.recorded,
            "queued": queued,
            "dropped": self.dropped,
            "failed": self.failed,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }

    def _count_failure(self, claims: int, failure: Exception) -> None:
        # the writer's failure words the store's error already
        text = str(failure) if isinstance(failure, StoreWriteFailed) else describe_store_error(failure)
        with self._wake:  # from the recorder thread and from a request (rows that could not be built)
            self.failed += claims
            self.last_error, self.last_error_at = text, datetime.now(UTC)
        self.metrics.predictions_recorded.labels(result="failed").inc(claims)
        logger.error("recording predictions failed", extra={**describe_exception(failure), "claims": claims})

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if not self._pending:  # stopping, and everything is written
                    return
                # gather what arrives for a moment: one transaction per scoring call cost ~0.9 ms of CPU
                # (and a commit's wait) per claim under load, against ~0.2 ms per claim in batches of hundreds
                deadline = self._first_pending_at + BATCH_SECONDS
                while self._pending_claims < BATCH_CLAIMS and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._wake.wait(left)
                batch, claims = self._pending, self._pending_claims
                self._pending, self._pending_claims = [], 0
            self._write(batch, claims)

    def _write(self, batch: list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]], claims: int) -> None:
        try:
            claim_rows = list(chain.from_iterable(call[0] for call in batch))
            rows = list(chain.from_iterable(call[1] for call in batch))
            self.writer.write(claim_rows, rows)
            self.recorded += len(rows)
            self.metrics.predictions_recorded.labels(result="recorded").inc(len(rows))
        except Exception as failure:  # a store outage: count it, say so, keep scoring
            self._count_failure(claims, failure)
        finally:
            with self._wake:
                self._queued_claims -= claims
                queued = self._queued_claims
            self.metrics.prediction_queue.set(queued)
