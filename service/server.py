"""``recoup serve``: run the scoring service under uvicorn."""

from __future__ import annotations

import os

import uvicorn

from service.app import create_app
from service.observability import configure_logging
from service.settings import Settings, get_settings

GRACEFUL_SHUTDOWN_SECONDS = 10


def serve(host: str, port: int, settings: Settings | None = None) -> None:
    """Serve the API on ``host:port`` until interrupted, with JSON logs and the model loaded at start."""
    settings = settings or get_settings()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # logs stay one JSON object a line
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
