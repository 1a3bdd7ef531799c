"""``/v1/score``: one claim, or a batch, scored with the escalation ladder and a recommendation
(``service.scoring`` validates and scores; the routes turn its outcomes into responses)."""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, status

from features.requests import ClaimRequest, error
from service.dependencies import ScoringDep
from service.responses import CompactJSONResponse
from service.schemas import (
    MODEL_ROUTE_ERRORS,
    BatchItem,
    BatchScoreRequest,
    BatchScoreResponse,
    ErrorResponse,
    ModelRef,
    ScoreResponse,
    ValidationErrorResponse,
)
from service.scoring import SCORING_FAILED, observe, score_batch_items

router = APIRouter(prefix="/v1/score", tags=["score"])

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **MODEL_ROUTE_ERRORS,
    400: {"model": ErrorResponse, "description": "The body is not readable (e.g. not UTF-8)."},
    413: {"model": ErrorResponse, "description": "Request body too large."},
    422: {"model": ValidationErrorResponse, "description": "Invalid claim: field-level errors."},
    500: {"model": ErrorResponse, "description": "Internal error (no details are returned)."},
}


@router.post("", response_model=ScoreResponse, responses=ERROR_RESPONSES)
async def score_claim(claim: ClaimRequest, scoring: ScoringDep) -> Any:
    """Score one claim: the ladder of next steps, the recommended action, reasons and warnings."""
    model = scoring.model
    outcome = await scoring.coalescer.score(model, claim)
    observe(scoring.metrics, [outcome])
    if outcome.response is not None:
        scoring.recorder.record(model, [outcome.scored], [outcome.response], source="api")
    if outcome.failed:
        return CompactJSONResponse({"detail": SCORING_FAILED}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if outcome.errors is not None:
        return CompactJSONResponse({"detail": outcome.errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    # built from the structured result in ``ScoreResponse``'s shape (a test holds it to the model): sent as
    # it is rather than validated again
    return CompactJSONResponse(outcome.response)


@router.post("/batch", response_model=BatchScoreResponse, responses=ERROR_RESPONSES)
async def score_batch(batch: BatchScoreRequest, scoring: ScoringDep) -> Any:
    """Score up to the configured number of claims; a bad claim gets its own errors, the rest are scored."""
    model, metrics = scoring.model, scoring.metrics
    if len(batch.claims) > scoring.settings.max_batch_claims:
        message = f"must hold at most {scoring.settings.max_batch_claims} claims"
        detail = [error(("body", "claims"), message, "too_long")]
        return CompactJSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    started = time.perf_counter()
    outcomes = await anyio.to_thread.run_sync(score_batch_items, model, list(batch.claims), limiter=scoring.limiter)
    metrics.scoring_latency.labels(endpoint="batch").observe(time.perf_counter() - started)
    observe(metrics, outcomes)
    answered = [outcome for outcome in outcomes if outcome.response is not None]
    scoring.recorder.record(model, [o.scored for o in answered], [o.response for o in answered], source="api")
    results = [
        BatchItem(
            index=position,
            claim_id=outcome.claim_id,
            result=ScoreResponse.model_validate(outcome.response) if outcome.response else None,
            errors=outcome.errors,
        )
        for position, outcome in enumerate(outcomes)
    ]
    scored = sum(1 for item in results if item.result is not None)
    return BatchScoreResponse(
        model=ModelRef(name=model.name, version=model.version),
        scored=scored,
        failed=len(results) - scored,
        results=results,
    )
