"""``recoup serve``: run the scoring service under uvicorn, in one process or in several.

With ``workers`` > 1 uvicorn starts that many processes on one socket. Each builds its own app from the
environment (``worker_app``: the settings travel as ``RECOUP_*`` variables) and loads its own model; the
Prometheus metrics are kept in files in one directory shared by the processes (prometheus_client's
multiprocess mode), so ``/metrics`` reports every process's requests whichever process answers it.
"""

from __future__ import annotations

import os
import tempfile

import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.observability import MULTIPROCESS_DIR_ENV, configure_logging
from service.settings import Settings, get_settings

GRACEFUL_SHUTDOWN_SECONDS = 10


def serve(host: str, port: int, settings: Settings | None = None, workers: int = 1) -> None:
    """Serve the API on ``host:port`` until interrupted, with JSON logs and the model loaded at start.
    With ``workers`` > 1, in that many processes (their settings come from the environment)."""
    settings = settings or get_settings()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # logs stay one JSON object a line
    configure_logging(settings.log_level)
    options = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if workers <= 1:
        uvicorn.run(create_app(settings), **options)
        return
    with tempfile.TemporaryDirectory(prefix="recoup-metrics-") as folder:
        os.environ[MULTIPROCESS_DIR_ENV] = folder  # before the workers start: they read it at import
        uvicorn.run("service.server:worker_app", factory=True, workers=workers, **options)


def worker_app() -> FastAPI:
    """One worker process's app (``serve`` with several workers), from the environment's settings."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
