"""The scoring service: ``create_app(settings)`` builds the FastAPI application.

The lifespan loads the model (``ModelHolder``) and starts polling its alias; scoring routes need an API key
when keys are configured; health and metrics routes never do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

import anyio
from anyio import CapacityLimiter
from fastapi import Depends, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.requests import pydantic_errors
from service.dependencies import API_KEY_HEADER, api_key_failure, require_api_key
from service.model_holder import ModelHolder
from service.observability import Metrics, ObservabilityMiddleware, process_stopped
from service.recording import PredictionRecorder, StoreHolder
from service.routers import brief, claims, health, model, monitoring, outcomes, payers, score, worklists
from service.scoring import ScoreCoalescer
from service.settings import Settings, get_settings
from service.store_writer import StoreWriter
from service.web import STATIC_DIR, STATIC_PREFIX, docs, pages
from service.web.auth import NotSignedIn, Signer

logger = logging.getLogger(__name__)

TOO_LARGE = "request body too large"

DESCRIPTION = (
    "For an underpaid or denied out-of-network claim: what each escalation step can still recover, at what "
    "cost and how soon, and which step to take next. Scoring routes take an API key in the `X-API-Key` "
    "header when the server has keys configured."
)


def _version() -> str:
    try:
        return version("recoup")
    except PackageNotFoundError:
        return "0.0.0"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with field-level errors worded as the data contract's rules, never echoing the input."""
    return JSONResponse({"detail": pydantic_errors(exc.errors())}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model before serving and poll its alias while serving (and, when configured, refresh the
    monitoring gauges); stop both on shutdown."""
    settings: Settings = app.state.settings
    settings.log_startup_warnings(logger)
    holder: ModelHolder = app.state.holder
    recorder: PredictionRecorder = app.state.recorder
    await holder.start()
    recorder.start()
    gauges = None
    if settings.monitor_refresh_seconds > 0:
        gauges = asyncio.create_task(
            monitoring.refresh_gauges(holder, app.state.store, settings, app.state.metrics), name="monitor-gauges"
        )
    try:
        yield
    finally:
        if gauges is not None:
            gauges.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gauges
        await holder.stop()
        await anyio.to_thread.run_sync(recorder.stop)
        app.state.store.close()
        process_stopped()


class RequestSizeLimit:
    """413 for a request body over the limit: at once when its Content-Length says so, else as it is read.

    Worklist uploads (paths under one of ``upload_prefixes``) have a limit of their own, read per request.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, upload_prefixes: tuple[str, ...], max_upload_bytes: Callable[[], int]
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_prefixes = upload_prefixes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        upload = any(path == prefix or path.startswith(prefix + "/") for prefix in self.upload_prefixes)
        limit = self.max_upload_bytes() if upload else self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                response = JSONResponse({"detail": TOO_LARGE}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)
                await response(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # FastAPI answers an HTTPException raised while reading
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, TOO_LARGE)
            return message

        await self.app(scope, counted, send)


class ApiKeyGate:
    """The API key check of the secured routes (paths under ``secured_prefixes``), made from the request's
    headers before its body is received: a 150 MB upload without a key is answered 401 at once rather
    than read first, and a malformed body without a key gets 401, not its 422. The route dependency
    (``require_api_key``) runs the same check, and declares it in the OpenAPI document."""

    def __init__(self, app: ASGIApp, settings: Settings, secured_prefixes: list[str]) -> None:
        self.app = app
        self.settings = settings
        self.prefixes = tuple(secured_prefixes)
        self.header = API_KEY_HEADER.lower().encode("latin-1")

    def _secured(self, path: str) -> bool:
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.settings.auth_enabled or not self._secured(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        key = next((value for name, value in scope.get("headers", ()) if name == self.header), None)
        failure = api_key_failure(self.settings, key.decode("latin-1") if key is not None else None)
        if failure is None:
            await self.app(scope, receive, send)
            return
        response = JSONResponse({"detail": failure.detail}, status_code=failure.status_code, headers=failure.headers)
        await response(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    metrics = Metrics()
    app = FastAPI(
        title="recoup",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the vendored files instead (service.web.docs): they work offline
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.holder = ModelHolder(settings, metrics)
    app.state.scoring_limiter = CapacityLimiter(settings.scoring_threads)
    app.state.coalescer = ScoreCoalescer(
        metrics, workers=settings.scoring_threads, max_wait_seconds=settings.batch_wait_ms / 1000
    )
    app.state.store = StoreHolder(settings.store_uri)
    app.state.recorder = PredictionRecorder(
        StoreWriter(settings.store_uri) if settings.record_predictions else None, metrics, settings.record_queue_claims
    )
    app.add_middleware(
        RequestSizeLimit,
        max_bytes=settings.max_request_bytes,
        upload_prefixes=(worklists.router.prefix, pages.UPLOAD_PATH),
        max_upload_bytes=lambda: settings.max_worklist_bytes,
    )
    secured_routers = (
        score.router,
        brief.router,
        worklists.router,
        payers.router,
        model.router,
        outcomes.router,
        claims.router,
        monitoring.router,
    )
    # before the size limit and the body: a request without a key is answered from its headers
    app.add_middleware(ApiKeyGate, settings=settings, secured_prefixes=[router.prefix for router in secured_routers])
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)  # outermost: sees every response
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(health.router)
    # the API before the web app's sixteen pages: a route is found by trying each in turn, and a
    # single-claim request has about half a millisecond to spend
    for router in secured_routers:
        app.include_router(router, dependencies=[Depends(require_api_key)])
    app.include_router(docs.router)
    app.state.signer = Signer(settings)
    app.state.web_tasks = set()  # worklist jobs scoring in the background (kept referenced)
    app.include_router(pages.router)
    app.add_exception_handler(NotSignedIn, pages.to_sign_in)
    app.add_exception_handler(HTTPException, pages.http_error)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
    return app
