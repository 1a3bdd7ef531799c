"""``GET /v1/claims/{claim_id}``: a claim as the store holds it, with its attempts and predictions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Path, status

from features.schema import ESCALATION_LEVELS, Level
from features.store import CLAIM_COLUMN_NAMES, PREDICTION_LEVEL_FIELDS
from service.dependencies import StoreDep
from service.schemas import ErrorResponse, ValidationErrorResponse
from service.store_schemas import AttemptRecord, ClaimRecordResponse, PredictedStep, PredictionRecord

router = APIRouter(prefix="/v1/claims", tags=["claims"])
UNKNOWN_CLAIM = "the store holds no claim with this id"


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as UTC-aware values: SQLite hands back the stored UTC times without their zone."""
    return {
        key: value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value
        for key, value in row.items()
    }


def _level_name(value: Any) -> str | None:
    return None if value is None else Level(int(value)).name


def _prediction(row: dict[str, Any]) -> PredictionRecord:
    row = _utc(row)
    ladder = [
        PredictedStep(level=level.name, **{name: row[f"{name}_{level.name}"] for name in PREDICTION_LEVEL_FIELDS})
        for level in ESCALATION_LEVELS
    ]
    fields = {name: row[name] for name in PredictionRecord.model_fields if name in row}
    return PredictionRecord(**fields | {"current_level": _level_name(row["current_level"]), "ladder": ladder})


@router.get(
    "/{claim_id}",
    response_model=ClaimRecordResponse,
    responses={
        401: {"model": ErrorResponse, "description": "Missing API key."},
        403: {"model": ErrorResponse, "description": "Invalid API key."},
        404: {"model": ErrorResponse, "description": "The store holds no such claim."},
        422: {"model": ValidationErrorResponse, "description": "The claim id is not a valid path segment."},
        503: {"model": ErrorResponse, "description": "The store is unavailable."},
    },
)
async def get_claim(
    claim_id: Annotated[str, Path(description="The claim's id, as scored or sent with its outcomes.")],
    store: StoreDep,
) -> ClaimRecordResponse:
    """The claim's columns, its attempts (by level) and every prediction made for it (oldest first)."""
    record = await anyio.to_thread.run_sync(store.claim, claim_id.strip())
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, UNKNOWN_CLAIM)
    claim = _utc(record["claim"])
    attempts = [
        AttemptRecord(
            **_utc(row) | {"level": _level_name(row["level"]), "prior_level": _level_name(row["prior_level"])}
        )
        for row in record["attempts"]
    ]
    return ClaimRecordResponse(
        claim={name: claim[name] for name in CLAIM_COLUMN_NAMES},
        updated_at=claim["updated_at"],
        attempts=attempts,
        predictions=[_prediction(row) for row in record["predictions"]],
    )
