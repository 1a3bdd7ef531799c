"""``POST /v1/outcomes``: what happened to escalation attempts, stored all or nothing.

Rows are checked by the same validator as history files (``features.outcomes.import_outcomes``), so the
rules and their wording are the file's. Idempotent on (claim_id, level): a row sent again is
``unchanged``; a pending attempt may be resolved; a changed resolved attempt is a 409 conflict.
"""

from __future__ import annotations

from typing import Any

import anyio
import pandas as pd
from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from features.outcomes import CONFLICT_RULE, OutcomeImport, import_outcomes
from features.requests import REQUIRED_RULE, error, printable
from features.schema import Level, parse_level
from features.validation import HEADER_ROW
from service.dependencies import SettingsDep, StoreDep
from service.schemas import ErrorResponse, ValidationErrorResponse
from service.store_schemas import OutcomeRow, OutcomesErrorResponse, OutcomesRequest, OutcomesResponse

router = APIRouter(prefix="/v1/outcomes", tags=["outcomes"])
LOC = ("body", "outcomes")
NOT_AN_OBJECT = "must be an object of history columns"


def _frame(rows: list[Any]) -> pd.DataFrame:
    """Rows as a history table of text, as a CSV file would give it (1-based row numbers)."""
    names: dict[str, None] = {}
    for row in rows:
        if isinstance(row, dict):
            names.update(dict.fromkeys(str(key) for key in row))
    data = {
        name: [None if not isinstance(r, dict) or r.get(name) is None else _text(r[name]) for r in rows]
        for name in names
    }
    return pd.DataFrame(data, index=pd.RangeIndex(1, len(rows) + 1, name="row"), dtype=object)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return printable(value) if isinstance(value, str) else str(value)


def _identity(row: Any) -> tuple[str | None, str | None]:
    if not isinstance(row, dict):
        return None, None
    claim_id = row.get("claim_id")
    level = parse_level(row["level"]) if isinstance(row.get("level"), (str, int)) else None
    return (
        printable(claim_id.strip()) if isinstance(claim_id, str) else None,
        level.name if level not in (None, Level.none) else None,
    )


def _rejected(rows: list[Any], result: OutcomeImport) -> list[OutcomeRow]:
    errors: dict[int, list[dict[str, Any]]] = {}
    report = result.validation.report
    for problem in report.problems:
        targets = range(1, len(rows) + 1) if problem.row == HEADER_ROW else [problem.row]
        for row in targets:
            if problem.row == HEADER_ROW and problem.rule == "required column is missing":
                item = error((*LOC, row - 1, problem.column), REQUIRED_RULE, "missing")
            elif problem.row == HEADER_ROW:
                item = error((*LOC, row - 1, problem.column) if problem.column else (*LOC,), problem.rule)
            else:
                kind = "missing" if problem.rule == REQUIRED_RULE else "value_error"
                item = error((*LOC, row - 1, problem.column), problem.rule, kind)
            errors.setdefault(row, []).append(item)
    rejected = []
    for row, row_errors in sorted(errors.items()):
        claim_id, level = _identity(rows[row - 1])
        rejected.append(OutcomeRow(index=row - 1, claim_id=claim_id, level=level, status="rejected", errors=row_errors))
    return rejected


def _conflicts(result: OutcomeImport) -> list[OutcomeRow]:
    return [
        OutcomeRow(
            index=change.row - 1,
            claim_id=change.claim_id,
            level=change.level,
            status="conflict",
            fields=list(change.fields),
            errors=[error((*LOC, change.row - 1, name), CONFLICT_RULE, "conflict") for name in change.fields],
        )
        for change in result.conflicts
    ]


def _warnings(result: OutcomeImport) -> list[str]:
    unknown = result.validation.report.unknown_columns + result.validation.report.truth_columns
    return [f"unknown field(s) ignored: {', '.join(printable(name[:40]) for name in unknown[:10])}"] if unknown else []


@router.post(
    "",
    response_model=OutcomesResponse,
    responses={
        400: {"model": ErrorResponse, "description": "The body is not readable (e.g. not UTF-8)."},
        401: {"model": ErrorResponse, "description": "Missing API key."},
        403: {"model": ErrorResponse, "description": "Invalid API key."},
        409: {"model": OutcomesErrorResponse, "description": "A row would change a resolved attempt: nothing stored."},
        422: {"model": OutcomesErrorResponse, "description": "Rows break the contract: nothing stored."},
        503: {"model": ErrorResponse, "description": "The store is unavailable."},
    },
)
async def post_outcomes(body: OutcomesRequest, store: StoreDep, settings: SettingsDep) -> Any:
    """Store the outcomes of escalation attempts, all or nothing, idempotent on (claim_id, level).

    An outcome for a claim the store has never seen is stored with the claim columns it carries.
    """
    rows = body.outcomes
    if len(rows) > settings.max_outcome_rows:
        detail = [error(LOC, f"must hold at most {settings.max_outcome_rows} rows", "too_long")]
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    not_objects = [index for index, row in enumerate(rows) if not isinstance(row, dict)]
    if not_objects:
        detail = [error((*LOC, index), NOT_AN_OBJECT, "dict_type") for index in not_objects]
        return JSONResponse(
            ValidationErrorResponse(detail=detail).model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
        )
    result = await anyio.to_thread.run_sync(import_outcomes, store, _frame(rows))
    warnings = _warnings(result)
    if not result.stored:
        rejected = _rejected(rows, result) if result.rejected else _conflicts(result)
        body_out = OutcomesErrorResponse(
            detail=[item for row in rejected for item in row.errors],
            stored=[],
            unchanged=[],
            rejected=rejected,
            warnings=warnings,
        )
        code = status.HTTP_422_UNPROCESSABLE_CONTENT if result.rejected else status.HTTP_409_CONFLICT
        return JSONResponse(body_out.model_dump(mode="json"), status_code=code)
    changes = result.changes
    outcome_rows = {
        status_name: [
            OutcomeRow(index=c.row - 1, claim_id=c.claim_id, level=c.level, status=status_name, fields=list(c.fields))
            for c in changes.by_status(status_name)
        ]
        for status_name in ("inserted", "updated", "unchanged")
    }
    return OutcomesResponse(
        stored=sorted(outcome_rows["inserted"] + outcome_rows["updated"], key=lambda row: row.index),
        unchanged=outcome_rows["unchanged"],
        rejected=[],
        warnings=warnings,
    )
