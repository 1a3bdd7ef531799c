"""Liveness, readiness and Prometheus metrics (no API key: for the orchestrator and the scraper)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST

from service.dependencies import HolderDep, MetricsDep, RecorderDep
from service.schemas import METRICS_RESPONSE, HealthResponse, ModelRef, ReadinessResponse, RecordingStatus

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """Report that the process is alive."""
    return HealthResponse()


@router.get(
    "/readyz",
    response_model=ReadinessResponse,
    responses={503: {"model": ReadinessResponse, "description": "No model is loaded."}},
)
async def readyz(holder: HolderDep, recorder: RecorderDep, response: Response) -> ReadinessResponse:
    """Report whether a model is loaded, the last failed reload if any, and how recording goes."""
    model = holder.current
    if model is None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessResponse(
        status="ready" if model is not None else "not_ready",
        model=ModelRef(name=model.name, version=model.version) if model is not None else None,
        loaded_at=model.loaded_at if model is not None else None,
        last_reload_error=holder.last_error,
        last_reload_error_at=holder.last_error_at,
        trees=holder.trees,
        recording=RecordingStatus(**recorder.status()),
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: METRICS_RESPONSE},
)
async def metrics(registry: MetricsDep) -> Response:
    """Expose Prometheus metrics: requests, latency, model version and score distribution."""
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
