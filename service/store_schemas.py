"""Request and response models of the store's routes: outcomes in, a claim's record and monitoring out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from features.schema import OUTCOMES
from service.schemas import ActionName, FieldError, LevelName


def _example(value: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [value]})


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
_STORED_ROW = {"index": 0, "claim_id": "C-000123", "level": "reconsideration", "status": "inserted"}
_CONFLICT_ROW = {
    "index": 0,
    "claim_id": "C-000123",
    "level": "reconsideration",
    "status": "conflict",
    "fields": ["final_allowed_amount"],
    "errors": [
        {
            "type": "conflict",
            "loc": ["body", "outcomes", 0, "final_allowed_amount"],
            "msg": "differs from the resolved attempt already stored (a resolved outcome never changes)",
        }
    ],
}
_STEP = {
    "level": "reconsideration",
    "eligible": True,
    "p_success": 0.42,
    "expected_allowed": 980.0,
    "expected_recovery": 281.4,
    "expected_days": 34.0,
    "net_value": 255.07,
}
_CALIBRATION_ROW = {
    "payer_id": "AETNA",
    "n": 412,
    "predicted": 0.41,
    "observed": 0.22,
    "gap": -0.19,
    "se": 0.024,
    "ece": 0.19,
    "predicted_recovery": 281.4,
    "realised_recovery": 140.2,
}


class OutcomesRequest(BaseModel):
    """History rows: the contract's claim columns plus level, submitted_date, resolved_date, outcome and
    final_allowed_amount (optionally prior_level), one row per escalation attempt."""

    model_config = _example({"outcomes": [EXAMPLE_OUTCOME]})

    outcomes: list[dict[str, Any]] = Field(
        min_length=1,
        description="History rows, checked with the same rules and messages as a history file.",
    )


class OutcomeRow(BaseModel):
    """What happened to one row of the request."""

    model_config = _example(_STORED_ROW)

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
    """The rows stored and the rows already stored as sent (nothing is rejected in a 200)."""

    model_config = _example({"stored": [_STORED_ROW], "unchanged": [], "rejected": [], "warnings": []})

    stored: list[OutcomeRow] = Field(description="Rows inserted or updated.")
    unchanged: list[OutcomeRow] = Field(description="Rows identical to what the store holds.")
    rejected: list[OutcomeRow] = Field(description="Rows breaking a rule or conflicting; when any, nothing is stored.")
    warnings: list[str] = Field(default_factory=list, description="E.g. unknown fields ignored.")


class OutcomesErrorResponse(OutcomesResponse):
    """A request that stored nothing: every problem as a field-level error, and the rows it concerns (a
    body that is not ``{"outcomes": [...]}`` at all gets ``detail`` only)."""

    model_config = _example(
        {"detail": _CONFLICT_ROW["errors"], "stored": [], "unchanged": [], "rejected": [_CONFLICT_ROW], "warnings": []}
    )

    stored: list[OutcomeRow] = Field(default_factory=list, description="Always empty: nothing was stored.")
    unchanged: list[OutcomeRow] = Field(default_factory=list, description="Always empty: nothing was compared.")
    rejected: list[OutcomeRow] = Field(default_factory=list, description="The rows breaking a rule or conflicting.")
    detail: list[FieldError] = Field(description="Every problem, located at body.outcomes.<index>.<field>.")


class AttemptRecord(BaseModel):
    """One stored escalation attempt."""

    level: LevelName = Field(description="The level attempted.")
    prior_level: str | None = Field(None, description="Highest earlier level, when given.")
    submitted_date: date = Field(description="When the attempt was submitted.")
    resolved_date: date | None = Field(None, description="When it was resolved; null while pending.")
    outcome: Literal[OUTCOMES] = Field(description="Result of the attempt (pending until resolved).")
    final_allowed_amount: float | None = Field(
        None, description="Total allowed after the attempt, in dollars, when resolved."
    )
    recorded_at: datetime = Field(description="When the store first received the attempt (UTC).")
    updated_at: datetime = Field(description="When the attempt last changed (UTC).")


class PredictedStep(BaseModel):
    """A prediction's numbers for one level."""

    level: LevelName = Field(description="The escalation level.")
    eligible: bool | None = Field(None, description="Whether the level could be attempted next.")
    p_success: float | None = Field(None, description="Predicted probability the attempt raises the allowed amount.")
    expected_allowed: float | None = Field(None, description="Expected total allowed given success, in dollars.")
    expected_recovery: float | None = Field(None, description="p_success x (expected_allowed - allowed), in dollars.")
    expected_days: float | None = Field(None, description="Expected days to resolution.")
    net_value: float | None = Field(None, description="Value of attempting the level next, in dollars.")


class PredictionRecord(BaseModel):
    """One scoring of the claim."""

    model_name: str = Field(description="Registered model that scored the claim.")
    model_version: str | None = Field(None, description="Its version.")
    source: Literal["api", "worklist"] = Field(
        description="api (POST /v1/score...) or worklist (recoup score --record)."
    )
    served_at: datetime = Field(description="When the score was made (UTC).")
    as_of_date: date = Field(description="The date the decision was made for.")
    current_level: str = Field(description="The level the claim stood at when scored.")
    current_allowed_amount: float = Field(description="The allowed amount when scored, in dollars.")
    recommended_action: ActionName = Field(description="The step recommended.")
    expected_net_recovery: float | None = Field(None, description="Its expected net recovery, in dollars.")
    ladder: list[PredictedStep] = Field(description="The numbers predicted for each level.")


class ClaimRecordResponse(BaseModel):
    """A claim as the store holds it: its columns, its attempts and every prediction made for it."""

    model_config = _example(
        {
            "claim": {k: v for k, v in EXAMPLE_OUTCOME.items() if k not in ("level", "submitted_date", "outcome")},
            "updated_at": "2026-06-02T09:00:00Z",
            "attempts": [
                {
                    "level": "reconsideration",
                    "submitted_date": "2026-04-20",
                    "resolved_date": "2026-06-01",
                    "outcome": "settled",
                    "final_allowed_amount": 1300,
                    "recorded_at": "2026-06-02T09:00:00Z",
                    "updated_at": "2026-06-02T09:00:00Z",
                }
            ],
            "predictions": [
                {
                    "model_name": "recoup",
                    "model_version": "3",
                    "source": "api",
                    "served_at": "2026-04-10T08:00:01Z",
                    "as_of_date": "2026-04-10",
                    "current_level": "none",
                    "current_allowed_amount": 310,
                    "recommended_action": "reconsideration",
                    "expected_net_recovery": 255.07,
                    "ladder": [_STEP],
                }
            ],
        }
    )

    claim: dict[str, Any] = Field(description="The contract's claim columns, as last received.")
    updated_at: datetime = Field(description="When the claim's columns were last written (UTC).")
    attempts: list[AttemptRecord] = Field(description="Its escalation attempts, by level.")
    predictions: list[PredictionRecord] = Field(description="Every prediction made for it, oldest first.")


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
    predicted_recovery: float | None = Field(
        None, description="Mean predicted recovery (p_success x amount over the allowed), in dollars."
    )
    realised_recovery: float | None = Field(None, description="Mean realised recovery, in dollars.")


class Calibration(BaseModel):
    """Calibration of matured predictions, overall and by group."""

    overall: CalibrationRow | None = Field(None, description="All matured predictions.")
    by_level: list[CalibrationRow] = Field(description="By the level attempted.")
    by_payer: list[CalibrationRow] = Field(description="By payer (alerts are raised here).")
    by_month: list[CalibrationRow] = Field(description="By the month the attempts were submitted.")


class DriftRow(BaseModel):
    """One feature's drift."""

    feature: str = Field(description="payer_id, code_family, denial_category, billed_amount, initial_allowed_amount.")
    psi: float | None = Field(None, description="Population stability index vs the training data.")
    claims: int = Field(description="Scored claims compared.")


class Drift(BaseModel):
    """Recent scoring traffic against the served model's training data, without labels."""

    features: list[DriftRow] = Field(description="PSI by feature.")
    unknown_share: dict[str, float | None] = Field(
        description="Shares of scored claims whose payer / code the training data never saw."
    )


class Alert(BaseModel):
    """A measure past its threshold."""

    kind: str = Field(description="calibration, drift, unknown_payer or unknown_code.")
    key: str = Field(description="The payer, the feature, or what is unknown.")
    value: float = Field(description="The measure that passed its threshold.")
    threshold: float = Field(description="The threshold it passed.")
    n: int | None = Field(None, description="Matured predictions or claims behind the measure.")
    message: str = Field(description="The alert in words.")


class MonitoringResponse(BaseModel):
    """Calibration with late labels, drift without labels, and the alerts they raise."""

    model_config = _example(
        {
            "model": "recoup v3",
            "since": "2026-01-01",
            "thresholds": {"calibration_gap": 0.1, "min_matured": 30, "z": 3.0, "psi": 0.2},
            "labels": {"predictions": 5200, "matured": 1830, "waiting": 3370, "in_flight": 610},
            "calibration": {"overall": None, "by_level": [], "by_payer": [_CALIBRATION_ROW], "by_month": []},
            "drift": {
                "features": [{"feature": "payer_id", "psi": 0.03, "claims": 5200}],
                "unknown_share": {"payer": 0.0, "code": 0.01},
            },
            "alerts": [
                {
                    "kind": "calibration",
                    "key": "AETNA",
                    "value": -0.19,
                    "threshold": 0.1,
                    "n": 412,
                    "message": "payer AETNA: 22.0% of 412 matured attempts succeeded where 41.0% was predicted",
                }
            ],
            "notes": [],
        }
    )

    model: str | None = Field(None, description="The model version whose training data drift is measured against.")
    since: date | None = Field(None, description="Only predictions with an as_of_date on or after this day.")
    thresholds: dict[str, float] = Field(description="The alert thresholds in force (RECOUP_MONITOR_*).")
    labels: dict[str, Any] = Field(
        description="predictions, matured, waiting (no outcome yet), in_flight, median/p90/oldest age in days, "
        "age_days buckets."
    )
    calibration: Calibration = Field(description="Calibration of matured predictions.")
    drift: Drift = Field(description="Drift of the scored traffic vs the training data.")
    alerts: list[Alert] = Field(description="Every measure past its threshold.")
    notes: list[str] = Field(description="E.g. why drift could not be measured.")
