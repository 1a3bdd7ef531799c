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


class CalibrationRow(BaseModel):
    """Matured predictions of one group: predicted vs realised success and recovery."""

    level: str | None = Field(None, description="The level (calibration by level).")
    payer_id: str | None = Field(None, description="The payer (calibration by payer).")
    month: str | None = Field(None, description="The month attempts were submitted, YYYY-MM (over time).")
    n: float = Field(description="Matured predictions.")
    predicted: float | None = Field(None, description="Mean predicted success probability.")
    observed: float | None = Field(None, description="Realised success rate.")
    gap: float | None = Field(None, description="observed - predicted.")
    se: float | None = Field(None, description="Standard error of the gap if the predictions were right.")
    ece: float | None = Field(None, description="Expected calibration error.")
    predicted_recovery: float | None = Field(None, description="Mean predicted recovery (p x amount over allowed).")
    realised_recovery: float | None = Field(None, description="Mean realised recovery.")


class Calibration(BaseModel):
    overall: CalibrationRow | None = None
    by_level: list[CalibrationRow]
    by_payer: list[CalibrationRow]
    by_month: list[CalibrationRow]


class DriftRow(BaseModel):
    feature: str = Field(description="payer_id, code_family, denial_category, billed_amount, initial_allowed_amount.")
    psi: float | None = Field(None, description="Population stability index vs the training data.")
    claims: int = Field(description="Scored claims compared.")


class Drift(BaseModel):
    features: list[DriftRow]
    unknown_share: dict[str, float | None] = Field(
        description="Shares of scored claims whose payer / code the training data never saw."
    )


class Alert(BaseModel):
    kind: str = Field(description="calibration, drift, unknown_payer or unknown_code.")
    key: str = Field(description="The payer, the feature, or what is unknown.")
    value: float = Field(description="The measure that passed its threshold.")
    threshold: float
    n: int | None = Field(None, description="Matured predictions or claims behind the measure.")
    message: str


class MonitoringResponse(BaseModel):
    """Calibration with late labels, drift without labels, and the alerts they raise."""

    model: str | None = Field(None, description="The model version whose training data drift is measured against.")
    since: date | None = None
    thresholds: dict[str, float]
    labels: dict[str, Any] = Field(
        description="predictions, matured, waiting (no outcome yet), in_flight, median/p90/oldest age in days, "
        "age_days buckets."
    )
    calibration: Calibration
    drift: Drift
    alerts: list[Alert]
    notes: list[str]
