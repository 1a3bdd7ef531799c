"""``/v1/payers``: how each payer behaved in the served model's training history."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status

from features.idr_payers import idr_benchmark_for_payer, load_idr_benchmarks
from service.dependencies import ModelDep
from service.schemas import (
    MODEL_ROUTE_ERRORS,
    ErrorResponse,
    ModelRef,
    PayerIdrRecord,
    PayerLevelProfile,
    PayerListResponse,
    PayerProfileResponse,
    PayerSummary,
    ValidationErrorResponse,
)

router = APIRouter(prefix="/v1/payers", tags=["payers"])
PayerId = Annotated[
    str,
    Path(
        max_length=100, description="Payer id as the billing system names it (case and surrounding spaces are ignored)."
    ),
]

UNKNOWN_PAYER = "unknown payer"


@lru_cache(maxsize=4096)
def federal_idr_record(payer_id: str) -> PayerIdrRecord | None:
    """The payer's IDR group record; matching runs the name patterns, so each id is matched once."""
    record = idr_benchmark_for_payer(payer_id, load_idr_benchmarks())
    if record is None:
        return None
    return PayerIdrRecord.model_validate({name: record.get(name) for name in PayerIdrRecord.model_fields})


def _summary_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record.get(name) for name in PayerSummary.model_fields}


@router.get("", response_model=PayerListResponse, responses=MODEL_ROUTE_ERRORS)
async def list_payers(model: ModelDep) -> PayerListResponse:
    """List every payer in the model's history with its volume and initial pay levels."""
    payers = [
        PayerSummary.model_validate(_summary_fields(record)) for _, record in sorted(model.payers.summaries.items())
    ]
    return PayerListResponse(model=ModelRef(name=model.name, version=model.version), payers=payers)


@router.get(
    "/{payer_id}",
    response_model=PayerProfileResponse,
    responses={
        **MODEL_ROUTE_ERRORS,
        404: {"model": ErrorResponse, "description": "Unknown payer."},
        422: {"model": ValidationErrorResponse, "description": "The payer id is longer than 100 characters."},
    },
)
async def get_payer(model: ModelDep, payer_id: PayerId) -> PayerProfileResponse:
    """Show one payer's profile: pay levels, win rates, awards and timelines by level, and its IDR record."""
    key = payer_id.strip().upper()
    record = model.payers.summaries.get(key)
    idr = federal_idr_record(key)
    if record is None and idr is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, UNKNOWN_PAYER)
    record = record or {"payer_id": key}
    fields = PayerLevelProfile.model_fields
    levels = [
        PayerLevelProfile.model_validate({name: row.get(name) for name in fields})
        for row in model.payers.levels.get(key, [])
    ]
    return PayerProfileResponse(
        **_summary_fields(record),
        levels=levels,
        federal_idr=idr,
        model=ModelRef(name=model.name, version=model.version),
    )
