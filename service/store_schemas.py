"""Request and response models of the store's routes: outcomes in, a claim's record and monitoring out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from features.schema import OUTCOMES
from service.schemas import ActionName, FieldError, LevelName

EXAMPLE_OUTCOME: dict[str, Any] = {
    "claim_id": "C-000123",
    "payer_id": "AETNA",
    "plan_type": "PPO",
    "funding": "self_funded",
    "state": "TX",
    "place_of_service": "23",
    "cpt_code": "99285",
    "emergency": True,
    "service_date": "2026-03-02",
    "initial_payment_date": "2026-04-01",
    "billed_amount": 2400,
    "initial_allowed_amount": 310,
    "qpa_amount": 350,
    "carc_codes": "CO-45",
    "level": "reconsideration",
    "submitted_date": "2026-04-20",
    "resolved_date": "2026-06-01",
    "outcome": "settled",
    "final_allowed_amount": 1300,
}


class OutcomesRequest(BaseModel):
    """History rows: the contract's claim columns plus level, submitted_date, resolved_date, outcome and
    final_allowed_amount (optionally prior_level), one row per escalation attempt."""

    outcomes: list[dict[str, Any]] = Field(
        min_length=1,
        description="History rows, checked with the same rules and messages as a history file.",
        examples=[[EXAMPLE_OUTCOME]],
    )


class OutcomeRow(BaseModel):
    """What happened to one row of the request."""

    index: int = Field(description="Position of the row in `outcomes` (from 0).")
    claim_id: str | None = Field(None, description="The row's claim id, when it has a readable one.")
    level: LevelName | None = Field(None, description="The row's level, when valid.")
    status: Literal["inserted", "updated", "unchanged", "conflict", "rejected"] = Field(
        description="inserted: a new attempt; updated: a pending attempt resolved or changed; unchanged: "
        "sent before; conflict: differs from a resolved attempt; rejected: breaks a rule."
    )
    fields: list[str] = Field(default_factory=list, description="Fields that changed (updated) or differ (conflict).")
    errors: list[FieldError] = Field(default_factory=list, description="Field-level reasons (conflict, rejected).")


class OutcomesResponse(BaseModel):
    """The rows stored, the rows already stored as sent, and the rows rejected (then nothing is stored)."""

    stored: list[OutcomeRow] = Field(description="Rows inserted or updated.")
    unchanged: list[OutcomeRow] = Field(description="Rows identical to what the store holds.")
    rejected: list[OutcomeRow] = Field(description="Rows breaking a rule or conflicting; when any, nothing is stored.")
    warnings: list[str] = Field(default_factory=list, description="E.g. unknown fields ignored.")


class OutcomesErrorResponse(OutcomesResponse):
    """A request that stored nothing: every problem as a field-level error, and the rows it concerns."""

    detail: list[FieldError]


class AttemptRecord(BaseModel):
    """One stored escalation attempt."""

    level: LevelName
    prior_level: str | None = Field(None, description="Highest earlier level, when given.")
    submitted_date: date
    resolved_date: date | None = None
    outcome: Literal[OUTCOMES] = Field(description="Result of the attempt (pending until resolved).")
    final_allowed_amount: float | None = Field(None, description="Total allowed after the attempt, when resolved.")
    recorded_at: datetime = Field(description="When the store first received the attempt.")
    updated_at: datetime = Field(description="When the attempt last changed.")


class PredictedStep(BaseModel):
    """A prediction's numbers for one level."""

    level: LevelName
    eligible: bool | None = None
    p_success: float | None = None
    expected_allowed: float | None = None
    expected_recovery: float | None = None
    expected_days: float | None = None
    net_value: float | None = None


class PredictionRecord(BaseModel):
    """One scoring of the claim."""

    model_name: str
    model_version: str | None = None
    source: Literal["api", "worklist"] = Field(
        description="api (POST /v1/score...) or worklist (recoup score --record)."
    )
    served_at: datetime
    as_of_date: date
    current_level: str = Field(description="The level the claim stood at when scored.")
    current_allowed_amount: float
    recommended_action: ActionName
    expected_net_recovery: float | None = None
    ladder: list[PredictedStep]


class ClaimRecordResponse(BaseModel):
    """A claim as the store holds it: its columns, its attempts and every prediction made for it."""

    claim: dict[str, Any] = Field(description="The contract's claim columns, as last received.")
    updated_at: datetime = Field(description="When the claim's columns were last written.")
    attempts: list[AttemptRecord]
    predictions: list[PredictionRecord]
