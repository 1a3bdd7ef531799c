"""Response models of the scoring API, named by role."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, SkipValidation, create_model

from features.requests import ClaimRequest
from features.schema import ESCALATION_LEVELS
from models.result import CLAIM_FIELDS, LEVEL_FIELDS, ResultField

LevelName = Literal[tuple(level.name for level in ESCALATION_LEVELS)]
ActionName = Literal[(*(level.name for level in ESCALATION_LEVELS), "accept")]


class FieldError(BaseModel):
    """One field-level problem, in FastAPI's validation error shape."""

    type: str = Field(description="Error kind, e.g. missing, value_error, literal_error.")
    loc: list[str | int] = Field(description='Where the problem is, e.g. ["body", "billed_amount"].')
    msg: str = Field(description="The rule the value breaks, in the data contract's words.")


class ValidationErrorResponse(BaseModel):
    detail: list[FieldError]


class ErrorResponse(BaseModel):
    detail: str = Field(description="A stable, human-readable error message.")


#: The errors every model-backed, key-protected route can answer with (OpenAPI ``responses``).
MODEL_ROUTE_ERRORS: dict[int | str, dict] = {
    401: {"model": ErrorResponse, "description": "Missing API key."},
    403: {"model": ErrorResponse, "description": "Invalid API key."},
    503: {"model": ErrorResponse, "description": "No model is loaded yet."},
}


class ModelRef(BaseModel):
    """Which registered model version answered."""

    name: str
    version: str | None = None


def _answer_field(spec: ResultField) -> tuple[Any, Any]:
    """A response field from its declaration in ``models.result`` (one place for a new field)."""
    if spec.kind is bool:
        return bool, Field(description=spec.description)
    return spec.kind | None, Field(None, description=spec.description, **spec.constraints)


#: The numbers for attempting one escalation level next: ``models.result.LEVEL_FIELDS``, one field each.
LadderStep: type[BaseModel] = create_model(
    "LadderStep",
    __doc__="The numbers for attempting one escalation level next.",
    level=(LevelName, Field(description="The escalation level.")),
    **{spec.name: _answer_field(spec) for spec in LEVEL_FIELDS},
)


class Recommendation(BaseModel):
    """The best next step and the path it starts."""

    action: ActionName = Field(description="The level to attempt next, or accept.")
    expected_net_recovery: float = Field(description="Expected net dollars of following the path (0 when accepting).")
    path: list[LevelName] = Field(description="The recommended step, then the best step after each failure.")


class ScoreResponse(BaseModel):
    """The escalation ladder and the recommendation for one claim."""

    claim_id: str
    ladder: list[LadderStep]
    recommendation: Recommendation
    reasons: list[str] = Field(description="The main drivers of the recommendation, in plain words.")
    warnings: list[str] = Field(description="Caveats: unknown payer or code, thin data, ignored fields.")
    model: ModelRef


if CLAIM_FIELDS:  # per-claim answer fields declared in ``models.result``, beside the recommendation
    ScoreResponse = create_model(
        "ScoreResponse",
        __base__=ScoreResponse,
        __doc__=ScoreResponse.__doc__,
        **{spec.name: _answer_field(spec) for spec in CLAIM_FIELDS},
    )


class BatchScoreRequest(BaseModel):
    """Claims to score together; each one is validated and answered on its own."""

    # items are validated one by one in the route, so that one bad claim does not fail the batch
    claims: list[SkipValidation[ClaimRequest]] = Field(
        min_length=1, description="The claims (at most the server's configured batch size)."
    )


class BatchItem(BaseModel):
    """The answer for one claim of a batch: its score, or why it could not be scored."""

    index: int = Field(description="Position of the claim in the request (0-based).")
    claim_id: str | None = None
    result: ScoreResponse | None = None
    errors: list[FieldError] | None = None


class BatchScoreResponse(BaseModel):
    model: ModelRef
    scored: int
    failed: int
    results: list[BatchItem]


class PayerSummary(BaseModel):
    """A payer's volume and initial pay levels in the training history."""

    payer_id: str
    claims: int | None = None
    attempts: int | None = None
    denial_rate: float | None = None
    median_initial_pct_of_billed: float | None = None
    median_initial_pct_of_medicare: float | None = None
    first_service_date: str | None = None
    last_service_date: str | None = None


class PayerLevelProfile(BaseModel):
    """How a payer behaved at one escalation level."""

    level: str
    attempts: int | None = None
    successes: int | None = None
    success_rate: float | None = None
    success_rate_shrunk: float | None = Field(None, description="Success rate shrunk toward the market rate.")
    market_success_rate: float | None = None
    median_settlement_pct_of_billed: float | None = None
    median_days: float | None = None


class PayerListResponse(BaseModel):
    model: ModelRef
    payers: list[PayerSummary]


class PayerIdrRecord(BaseModel):
    """The payer group's record in real Federal IDR determinations (CMS public use files).

    Associations in public data, not a prediction for a given dispute: parties choose their offers."""

    payer_group: str
    disputes: int | None = None
    provider_win_rate: float | None = Field(
        None, description="Share of determinations the provider won, shrunk toward the market."
    )
    provider_win_rate_raw: float | None = None
    default_decision_rate: float | None = None
    median_prevailing_offer_ratio: float | None = Field(
        None, description="Median prevailing offer as a multiple of the QPA."
    )
    median_days: float | None = None
    median_idre_fee: float | None = None
    first_quarter: str | None = None
    last_quarter: str | None = None


class PayerProfileResponse(PayerSummary):
    """A payer's summary, its behaviour at each escalation level, and its Federal IDR record."""

    model: ModelRef
    levels: list[PayerLevelProfile]
    federal_idr: PayerIdrRecord | None = Field(
        None, description="None when the payer matches no IDR payer group (features/data/idr_payer_groups.csv)."
    )


class ModelInfo(BaseModel):
    """The model being served."""

    name: str
    version: str | None = None
    uri: str
    run_id: str | None = None
    loaded_at: datetime
    training_window: list[str] | None = None
    test_window: list[str] | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    policy: dict[str, Any] = Field(default_factory=dict, description="The decision policy in force.")


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessResponse(BaseModel):
    status: Literal["ready", "not_ready"]
    model: ModelRef | None = None
    loaded_at: datetime | None = None
    last_reload_error: str | None = Field(
        None, description="The last failed model load, if any (the previous model keeps serving)."
    )
    last_reload_error_at: datetime | None = None
