"""``POST /v1/brief``: the negotiation brief of one claim, as JSON, a printable page or a PDF.

The claim is scored as ``POST /v1/score`` scores it (the same coalesced call, the same 422 for a bad
claim); the brief is built on its structured answer (``models.brief``) and rendered by ``service.web``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, status
from fastapi.responses import HTMLResponse, JSONResponse, Response

from features.requests import ClaimRequest, typed_claim
from service.brief_schemas import BriefResponse
from service.dependencies import ScoringDep
from service.routers.score import ERROR_RESPONSES
from service.scoring import SCORING_FAILED
from service.web.brief import model_brief, render_html, render_pdf

router = APIRouter(prefix="/v1/brief", tags=["brief"])


class BriefFormat(StrEnum):
    json = "json"
    html = "html"
    pdf = "pdf"


BRIEF_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {
        "description": "The brief: JSON (default), a printable HTML page (?format=html) or a PDF (?format=pdf).",
        "content": {
            "text/html": {
                "schema": {"type": "string"},
                "example": '<!doctype html><html lang="en">...<h1>Negotiation brief - claim C-000123</h1>...',
            },
            "application/pdf": {"schema": {"type": "string", "format": "binary"}, "example": "%PDF-1.3 ..."},
        },
    },
}


@router.post("", response_model=BriefResponse, responses=BRIEF_RESPONSES)
async def claim_brief(
    claim: ClaimRequest,
    scoring: ScoringDep,
    output_format: Annotated[
        BriefFormat, Query(alias="format", description="json (default), html (a printable page) or pdf.")
    ] = BriefFormat.json,
) -> Any:
    """Argue one claim: its facts, benchmarks, the payer's record, the opening ask, deadlines, a
    documentation checklist, the regulations that apply, every number with its source and count."""
    model = scoring.model
    outcome = await scoring.coalescer.score(model, claim)
    if outcome.failed:
        return JSONResponse({"detail": SCORING_FAILED}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if outcome.errors is not None:
        return JSONResponse({"detail": outcome.errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    values = typed_claim(claim)
    if values is None:  # scored, so its values pass every rule; kept as a guard, never a 500
        return JSONResponse({"detail": SCORING_FAILED}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
    brief = await anyio.to_thread.run_sync(model_brief, model, values, outcome.response)
    if output_format is BriefFormat.html:
        return HTMLResponse(render_html(brief))
    if output_format is BriefFormat.pdf:
        pdf = await anyio.to_thread.run_sync(render_pdf, brief)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": 'attachment; filename="brief.pdf"'},
        )
    return JSONResponse(BriefResponse.model_validate(brief).model_dump(mode="json"))
