"""Structured JSON logs with request ids, Prometheus metrics, and the last line of error handling.

Logs and metrics carry no claim data: requests are logged by method, route template, status and duration;
errors by type and code location only (an exception message can quote a claim's values).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
import traceback
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
#: Set (by ``service.server.serve`` with several workers) to the directory the processes share their
#: metrics in: prometheus_client's multiprocess mode, read by each process when it imports the library.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
INTERNAL_ERROR = "internal error"
_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
logger = logging.getLogger("service.access")
error_logger = logging.getLogger("service.errors")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RECOVERY_BUCKETS = (0.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 25000.0, 100000.0)
PROBABILITY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)

# --- logging ------------------------------------------------------------------------------------------

_STANDARD_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any ``extra`` fields.

    Tracebacks are reduced to the exception type and where it was raised.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            entry.update(describe_exception(record.exc_info[1]))
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send every logger (the service's, uvicorn's, MLflow's) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # library warnings become JSON lines too
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the middleware logs each request instead


def describe_exception(error: BaseException) -> dict[str, str]:
    """An exception's type and innermost code location: enough to find it, no values from the request."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return {"error_type": type(error).__name__, "error_where": where}


# --- metrics ------------------------------------------------------------------------------------------


def multiprocess_metrics() -> bool:
    """Whether the metrics are shared by several worker processes (``MULTIPROCESS_DIR_ENV`` is set)."""
    return bool(os.environ.get(MULTIPROCESS_DIR_ENV))


def process_stopped() -> None:
    """Drop this process's live gauges from the shared metrics (a worker shutting down)."""
    if multiprocess_metrics():
        multiprocess.mark_process_dead(os.getpid())


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format: this process's, or with several worker processes every
        process's, summed (counters, histograms) or by pid (gauges)."""
        if multiprocess_metrics():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "recoup_http_requests", "HTTP requests by route and status.", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "recoup_http_request_duration_seconds",
            "HTTP request latency.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.scoring_latency = Histogram(
            "recoup_scoring_duration_seconds",
            "Validation and scoring time in worker threads.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.claims = Counter(
            "recoup_claims", "Claims received, by outcome (scored, rejected, failed).", ["outcome"], registry=r
        )
        self.actions = Counter("recoup_recommendations", "Recommended actions.", ["action"], registry=r)
        self.net_recovery = Histogram(
            "recoup_expected_net_recovery_dollars",
            "Expected net recovery of the recommended path.",
            buckets=RECOVERY_BUCKETS,
            registry=r,
        )
        self.p_success = Histogram(
            "recoup_recommended_p_success",
            "Success probability of the recommended step.",
            buckets=PROBABILITY_BUCKETS,
            registry=r,
        )
        # with several worker processes each reports its own model, by pid, while it lives
        self.model_info = Gauge(
            "recoup_model_info",
            "The model version being served (value 1).",
            ["name", "version"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.model_ready = Gauge(
            "recoup_model_ready", "1 when a model is loaded.", registry=r, multiprocess_mode="liveall"
        )
        self.model_loaded_at = Gauge(
            "recoup_model_loaded_timestamp_seconds",
            "When the served model was loaded.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.reloads = Counter(
            "recoup_model_reloads", "Model loads by result (loaded, failed).", ["result"], registry=r
        )

        self.predictions_recorded = Counter(
            "recoup_predictions_recorded",
            "Scored claims handed to the store, by result (recorded, dropped: queue full, failed: store error).",
            ["result"],
            registry=r,
        )
        self.prediction_queue = Gauge(
            "recoup_prediction_queue_claims", "Scored claims waiting to be written to the store.", registry=r
        )
        self.monitor_calibration_gap = Gauge(
            "recoup_monitor_calibration_gap",
            "Observed minus predicted success rate of matured predictions, by payer (last monitoring run).",
            ["payer_id"],
            registry=r,
        )
        self.monitor_drift = Gauge(
            "recoup_monitor_drift_psi",
            "Population stability index of recent scoring traffic vs the training data, by feature.",
            ["feature"],
            registry=r,
        )
        self.monitor_unknown_share = Gauge(
            "recoup_monitor_unknown_share",
            "Share of recent claims with an unknown payer or code.",
            ["what"],
            registry=r,
        )
        self.monitor_pending = Gauge(
            "recoup_monitor_pending_predictions", "Predictions still waiting for an outcome.", registry=r
        )
        self.monitor_alerts = Gauge(
            "recoup_monitor_alerts", "Alerts raised by the last monitoring run, by kind.", ["kind"], registry=r
        )

    def model_swapped(self, name: str, version: str | None, loaded_at: float) -> None:
        self.model_info.clear()
        self.model_info.labels(name=name, version=version or "").set(1)
        self.model_ready.set(1)
        self.model_loaded_at.set(loaded_at)
        self.reloads.labels(result="loaded").inc()

    def observe_scores(self, actions: Iterable[str], net_recovery: np.ndarray, p_success: np.ndarray) -> None:
        for action in actions:
            self.actions.labels(action=action).inc()
        for value in np.asarray(net_recovery, dtype="float64"):
            if np.isfinite(value):
                self.net_recovery.observe(value)
        for value in np.asarray(p_success, dtype="float64"):
            if np.isfinite(value):
                self.p_success.observe(value)


# --- middleware ---------------------------------------------------------------------------------------


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class ObservabilityMiddleware:
    """Request ids, one JSON access log line and metrics per request, and a clean 500 for any bug.

    A client may pass its own ``X-Request-ID`` (letters, digits, ``._:-``, up to 64); otherwise one is made.
    The id comes back in the response header and is on every log line of the request. An unhandled error
    becomes ``500 {"detail": "internal error", "request_id": ...}``: no stack trace leaves the process and
    the log names only the error's type and location.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except HTTPException:
            raise  # an HTTP error, answered further out
        except Exception as error:  # the last line of defence: log the bug's location, answer a plain 500
            error_logger.error("unhandled error", extra={**describe_exception(error), "request_id": request_id})
            status = 500
            if not started:
                body = {"detail": INTERNAL_ERROR, "request_id": request_id}
                response = JSONResponse(body, status_code=500)
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(elapsed)
            logger.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "request_id": request_id,
                },
            )
            request_id_var.reset(token)

    @staticmethod
    def _request_id(scope: Scope) -> str:
        for name, value in scope.get("headers", ()):
            if name == REQUEST_ID_HEADER.encode():
                text = value.decode("latin-1")
                if _REQUEST_ID_PATTERN.fullmatch(text):
                    return text
                break
        return uuid.uuid4().hex
