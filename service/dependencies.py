"""Request dependencies: the settings, the served model and the API key check, as ``Annotated`` aliases.

They are ``async def`` although none awaits: FastAPI runs a plain ``def`` dependency in a worker thread,
and a single-claim request has about a millisecond to spend, not a thread hop per dependency.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Annotated

import anyio
from anyio import CapacityLimiter
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from features.store import Store
from service.model_holder import LoadedModel, ModelHolder
from service.observability import Metrics, describe_exception
from service.recording import PredictionRecorder, StoreHolder
from service.scoring import ScoreCoalescer
from service.settings import Settings

logger = logging.getLogger(__name__)
API_KEY_HEADER = "X-API-Key"
MISSING_KEY = "missing API key"
INVALID_KEY = "invalid API key"
NO_MODEL = "no model is loaded"
NO_STORE = "the store is unavailable"

_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="An API key from the service's RECOUP_API_KEYS."
)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_holder(request: Request) -> ModelHolder:
    return request.app.state.holder


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_limiter(request: Request) -> CapacityLimiter:
    return request.app.state.scoring_limiter


async def get_recorder(request: Request) -> PredictionRecorder:
    return request.app.state.recorder


async def get_store(request: Request) -> Store:
    """The store (opened on first use); 503 while it cannot be reached."""
    holder: StoreHolder = request.app.state.store
    try:
        return await anyio.to_thread.run_sync(holder.get)
    except Exception as failure:
        logger.error("the store is unavailable", extra=describe_exception(failure))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NO_STORE) from None


def _served_model(holder: ModelHolder) -> LoadedModel:
    """The model served right now; the request keeps this one even if a new version is swapped in."""
    model = holder.current
    if model is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NO_MODEL)
    return model


async def get_model(holder: Annotated[ModelHolder, Depends(get_holder)]) -> LoadedModel:
    return _served_model(holder)


@dataclass(frozen=True)
class Scoring:
    """What a scoring route uses, as one dependency: the single-claim route has about half a millisecond
    to spend per request, and each dependency FastAPI solves costs it some 10 microseconds."""

    model: LoadedModel
    settings: Settings
    metrics: Metrics
    coalescer: ScoreCoalescer
    limiter: CapacityLimiter
    recorder: PredictionRecorder


async def get_scoring(request: Request) -> Scoring:
    state = request.app.state
    model = _served_model(state.holder)
    return Scoring(model, state.settings, state.metrics, state.coalescer, state.scoring_limiter, state.recorder)


def api_key_failure(settings: Settings, key: str | None) -> HTTPException | None:
    """Why ``key`` may not call a secured route (401 without a key, 403 with a wrong one), or None when
    it may or no keys are configured. Keys are compared in constant time. The one check behind both the
    ``require_api_key`` dependency and ``service.app.ApiKeyGate``, which runs it before the body is read."""
    if not settings.auth_enabled:
        return None
    if not key:
        return HTTPException(status.HTTP_401_UNAUTHORIZED, MISSING_KEY, headers={"WWW-Authenticate": "APIKey"})
    given = key.encode("utf-8")
    matched = False
    for secret in settings.api_keys:  # every key is compared, so timing does not tell which one is close
        matched |= hmac.compare_digest(given, secret.get_secret_value().encode("utf-8"))
    return None if matched else HTTPException(status.HTTP_403_FORBIDDEN, INVALID_KEY)


async def require_api_key(
    settings: Annotated[Settings, Depends(get_settings)], key: Annotated[str | None, Security(_api_key_header)]
) -> None:
    """401 without a key, 403 with a wrong one (``api_key_failure``)."""
    if (failure := api_key_failure(settings, key)) is not None:
        raise failure


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
LimiterDep = Annotated[CapacityLimiter, Depends(get_limiter)]
RecorderDep = Annotated[PredictionRecorder, Depends(get_recorder)]
StoreDep = Annotated[Store, Depends(get_store)]
ApiKeyDep = Annotated[None, Depends(require_api_key)]
ScoringDep = Annotated[Scoring, Depends(get_scoring)]
