"""Response models of the scoring API, named by role.

Every field is described and every model carries an example (``service.examples``), so that the OpenAPI
document at ``/docs`` is the API's reference; ``tests/service/test_openapi.py`` holds it to that. Dollar
amounts are US dollars per claim; rates and probabilities are fractions between 0 and 1.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, SkipValidation, create_model

from features.requests import ClaimRequest
from features.schema import ESCALATION_LEVELS
from models.result import CLAIM_FIELDS, LEVEL_FIELDS, ResultField
from service import examples

LevelName = Literal[tuple(level.name for level in ESCALATION_LEVELS)]
ActionName = Literal[(*(level.name for level in ESCALATION_LEVELS), "accept")]


def _example(value: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [value]})


class FieldError(BaseModel):
    """One field-level problem, in FastAPI's validation error shape."""

    model_config = _example(examples.FIELD_ERROR)

    type: str = Field(description="Error kind, e.g. missing, value_error, literal_error.")
    loc: list[str | int] = Field(description='Where the problem is, e.g. ["body", "billed_amount"].')
    msg: str = Field(description="The rule the value breaks, in the data contract's words.")


class ValidationErrorResponse(BaseModel):
    """422: the request breaks the data contract; one entry per problem."""

    model_config = _example({"detail": [examples.FIELD_ERROR]})

    detail: list[FieldError] = Field(description="Every problem found, each naming its field and rule.")


class ErrorResponse(BaseModel):
    """An error with a message and no other detail (never the request's values or a stack trace)."""

    model_config = _example({"detail": "unknown payer"})

    detail: str = Field(description="A stable, human-readable error message.")


#: The errors every model-backed, key-protected route can answer with (OpenAPI ``responses``).
MODEL_ROUTE_ERRORS: dict[int | str, dict] = {
    401: {"model": ErrorResponse, "description": "Missing API key."},
    403: {"model": ErrorResponse, "description": "Invalid API key."},
    503: {"model": ErrorResponse, "description": "No model is loaded yet."},
}


class ModelRef(BaseModel):
    """Which registered model version answered."""

    model_config = _example(examples.MODEL_REF)

    name: str = Field(description="Registered model name in MLflow (normally recoup).")
    version: str | None = Field(None, description="Registered model version; null for a model served by run URI.")


def _answer_field(spec: ResultField) -> tuple[Any, Any]:
    """A response field from its declaration in ``models.result`` (one place for a new field)."""
    if spec.kind is bool:
        return bool, Field(description=spec.description)
    return spec.kind | None, Field(None, description=spec.description, **spec.constraints)


#: The numbers for attempting one escalation level next: ``models.result.LEVEL_FIELDS``, one field each.
LadderStep: type[BaseModel] = create_model(
    "LadderStep",
    __config__=_example(examples.LADDER[0]),
    __doc__="The numbers for attempting one escalation level next (dollars are US dollars for this claim).",
    level=(LevelName, Field(description="The escalation level these numbers are for.")),
    **{spec.name: _answer_field(spec) for spec in LEVEL_FIELDS},
)


class Recommendation(BaseModel):
    """The best next step and the path it starts."""

    model_config = _example(examples.RECOMMENDATION)

    action: ActionName = Field(description="The level to attempt next, or accept.")
    expected_net_recovery: float = Field(description="Expected net dollars of following the path (0 when accepting).")
    path: list[LevelName] = Field(description="The recommended step, then the best step after each failure.")


class ScoreResponse(BaseModel):
    """The escalation ladder and the recommendation for one claim."""

    model_config = _example(examples.SCORE_RESPONSE)

    claim_id: str = Field(description="The claim_id of the request, echoed.")
    ladder: list[LadderStep] = Field(description="One entry per escalation level, lowest first.")
    recommendation: Recommendation = Field(description="The step to take next and the path it starts.")
    reasons: list[str] = Field(description="The main drivers of the recommendation, in plain words.")
    warnings: list[str] = Field(description="Caveats: unknown payer or code, thin data, ignored fields.")
    model: ModelRef = Field(description="The model version that scored the claim.")


if CLAIM_FIELDS:  # per-claim answer fields declared in ``models.result``, beside the recommendation
    ScoreResponse = create_model(
        "ScoreResponse",
        __base__=ScoreResponse,
        __doc__=ScoreResponse.__doc__,
        **{spec.name: _answer_field(spec) for spec in CLAIM_FIELDS},
    )


class BatchScoreRequest(BaseModel):
    """Claims to score together; each one is validated and answered on its own."""

    model_config = _example({"claims": [examples.CLAIM]})

    # items are validated one by one in the route, so that one bad claim does not fail the batch
    claims: list[SkipValidation[ClaimRequest]] = Field(
        min_length=1, description="The claims (at most the server's configured batch size)."
    )


class BatchItem(BaseModel):
    """The answer for one claim of a batch: its score, or why it could not be scored."""

    model_config = _example(examples.BATCH_ITEM)

    index: int = Field(description="Position of the claim in the request (0-based).")
    claim_id: str | None = Field(None, description="The claim's claim_id, when it could be read.")
    result: ScoreResponse | None = Field(None, description="The claim's score; null when it has errors.")
    errors: list[FieldError] | None = Field(
        None, description="Why the claim could not be scored (locations start with claims, index); null when scored."
    )


class BatchScoreResponse(BaseModel):
    """One answer per claim of the batch, in request order."""

    model_config = _example(examples.BATCH_RESPONSE)

    model: ModelRef = Field(description="The model version that scored the batch.")
    scored: int = Field(description="Claims scored.")
    failed: int = Field(description="Claims answered with errors instead of a score.")
    results: list[BatchItem] = Field(description="One item per claim, in request order.")


class PayerSummary(BaseModel):
    """A payer's volume and initial pay levels in the training history."""

    model_config = _example(examples.PAYER_SUMMARY)

    payer_id: str = Field(description="Payer id as normalised by the contract (trimmed, upper-case).")
    claims: int | None = Field(None, description="Claims of this payer in the training history.")
    attempts: int | None = Field(None, description="Escalation attempts with this payer in the training history.")
    denial_rate: float | None = Field(None, description="Share of the payer's claims denied outright (0-1).")
    median_initial_pct_of_billed: float | None = Field(
        None, description="Median initial allowed amount as a fraction of billed charges."
    )
    median_initial_pct_of_medicare: float | None = Field(
        None, description="Median initial allowed amount as a multiple of the Medicare amount."
    )
    first_service_date: str | None = Field(None, description="Earliest service date of the payer's claims (ISO).")
    last_service_date: str | None = Field(None, description="Latest service date of the payer's claims (ISO).")


class PayerLevelProfile(BaseModel):
    """How a payer behaved at one escalation level."""

    model_config = _example(examples.PAYER_LEVELS[0])

    level: str = Field(description="The escalation level.")
    attempts: int | None = Field(None, description="Resolved attempts with this payer at this level.")
    successes: int | None = Field(None, description="Of those, attempts that raised the allowed amount.")
    success_rate: float | None = Field(None, description="successes / attempts (0-1).")
    success_rate_shrunk: float | None = Field(
        None, description="Success rate shrunk toward the market rate (20 pseudo-attempts), 0-1."
    )
    market_success_rate: float | None = Field(None, description="Success rate of all payers at this level (0-1).")
    median_settlement_pct_of_billed: float | None = Field(
        None, description="Median final allowed amount after a success, as a fraction of billed charges."
    )
    median_days: float | None = Field(None, description="Median days from submission to resolution.")


class PayerListResponse(BaseModel):
    """Every payer of the served model's training history."""

    model_config = _example({"model": examples.MODEL_REF, "payers": [examples.PAYER_SUMMARY]})

    model: ModelRef = Field(description="The model version whose history the profiles come from.")
    payers: list[PayerSummary] = Field(description="One summary per payer, by payer_id.")


class PayerIdrRecord(BaseModel):
    """The payer group's record in real Federal IDR determinations (CMS public use files).

    Associations in public data, not a prediction for a given dispute: parties choose their offers."""

    model_config = _example(examples.IDR_RECORD)

    payer_group: str = Field(description="The IDR payer group the payer matched (features/data/idr_payer_groups.csv).")
    disputes: int | None = Field(None, description="Distinct disputes of the payer group in the data.")
    provider_win_rate: float | None = Field(
        None, description="Share of dispute line items the provider won, shrunk toward the market (0-1)."
    )
    provider_win_rate_raw: float | None = Field(None, description="The same share, unshrunk (0-1).")
    default_decision_rate: float | None = Field(
        None, description="Share of line items decided by default, shrunk toward the market (0-1)."
    )
    median_prevailing_offer_ratio: float | None = Field(
        None, description="Median prevailing offer as a multiple of the QPA."
    )
    median_days: float | None = Field(None, description="Median days from dispute initiation to determination.")
    median_idre_fee: float | None = Field(None, description="Median certified IDR entity fee, in dollars.")
    first_quarter: str | None = Field(None, description="First quarter of the data (YYYYQn).")
    last_quarter: str | None = Field(None, description="Last quarter of the data (YYYYQn).")


class PayerProfileResponse(PayerSummary):
    """A payer's summary, its behaviour at each escalation level, and its Federal IDR record."""

    model_config = _example(examples.PAYER_PROFILE)

    model: ModelRef = Field(description="The model version whose history the profile comes from.")
    levels: list[PayerLevelProfile] = Field(
        description="The payer's record at each level it was tried (empty when only its IDR record is known)."
    )
    federal_idr: PayerIdrRecord | None = Field(
        None, description="None when the payer matches no IDR payer group (features/data/idr_payer_groups.csv)."
    )


class RuleInForce(BaseModel):
    """One fee or window of the rules table (``features/data/policy_rules.csv``) in force today."""

    model_config = _example(examples.RULE_IN_FORCE)

    rule: str = Field(description="The rule's name, e.g. idr_administrative_fee.")
    value: float = Field(description="The published figure (or recoup's planning figure within a range), in unit.")
    range_low: float | None = Field(None, description="Lower end of the published range, where there is one.")
    range_high: float | None = Field(None, description="Upper end of the published range, where there is one.")
    unit: str = Field(description="What the figure counts, e.g. dollars per party per dispute.")
    effective_from: date = Field(description="First day the figure is in force.")
    effective_to: date | None = Field(None, description="Last day it is in force; null while it still is.")
    citation: str = Field(description="The regulation or Federal Register document that sets it.")
    applied: float = Field(description="The figure the service applies: the rule's, or the policy's override.")


class ModelInfo(BaseModel):
    """The model being served."""

    model_config = _example(examples.MODEL_INFO)

    name: str = Field(description="Registered model name in MLflow.")
    version: str | None = Field(None, description="Registered model version; null when served by run URI.")
    uri: str = Field(description="The MLflow URI the model was loaded from (an alias resolved to its version).")
    run_id: str | None = Field(None, description="The MLflow run that trained the model.")
    loaded_at: datetime = Field(description="When this process loaded the model (UTC).")
    training_window: list[str] | None = Field(
        None, description="First and last submission dates (ISO) of the training and validation attempts."
    )
    test_window: list[str] | None = Field(
        None, description="First and last submission dates (ISO) of the test attempts the metrics come from."
    )
    metrics: dict[str, float | None] = Field(
        default_factory=dict, description="Test-slice metrics logged by the training run, by MLflow metric name."
    )
    policy: dict[str, Any] = Field(
        default_factory=dict,
        description="The decision policy: costs in dollars, discount, and the overrides of the rules table (a "
        "null fee or window is the one in force on each date, see rules_in_force).",
    )
    rules_in_force: list[RuleInForce] = Field(
        default_factory=list, description="Every fee and window of the rules table in force today, with its source."
    )


class HealthResponse(BaseModel):
    """The process is alive."""

    model_config = _example({"status": "ok"})

    status: Literal["ok"] = Field("ok", description="Always ok.")


class RecordingStatus(BaseModel):
    """How recording predictions in the store goes; a store outage never fails a score, it shows here."""

    model_config = _example(examples.RECORDING)

    enabled: bool = Field(description="Whether scores are recorded (RECOUP_RECORD_PREDICTIONS).")
    recorded: int = Field(description="Scored claims written to the store since start.")
    queued: int = Field(description="Scored claims waiting to be written.")
    dropped: int = Field(description="Scored claims not recorded because the queue was full.")
    failed: int = Field(description="Scored claims not recorded because a write to the store failed.")
    last_error: str | None = Field(None, description="The last failed write (type and message, no claim data).")
    last_error_at: datetime | None = Field(None, description="When the last write failed (UTC).")


class ReadinessResponse(BaseModel):
    """Whether a model is loaded, and the last failed reload."""

    model_config = _example(examples.READINESS)

    status: Literal["ready", "not_ready"] = Field(description="ready once a model is loaded.")
    model: ModelRef | None = Field(None, description="The model being served; null when none is loaded.")
    loaded_at: datetime | None = Field(None, description="When the served model was loaded (UTC).")
    last_reload_error: str | None = Field(
        None, description="The last failed model load, if any (the previous model keeps serving)."
    )
    last_reload_error_at: datetime | None = Field(None, description="When the last failed load happened (UTC).")
    trees: Literal["compiled", "compiling", "lightgbm"] | None = Field(
        None,
        description="How the served model scores: compiled trees; LightGBM while its trees compile in the "
        "background (a first start with an empty cache; same numbers, slower); or LightGBM (compiling off "
        "or unavailable). Null when no model is loaded.",
    )
    recording: RecordingStatus | None = Field(None, description="Prediction recording (RECOUP_RECORD_PREDICTIONS).")


#: Headers of a ranked worklist (``POST /v1/worklists``), named and described once.
WORKLIST_HEADERS: dict[str, tuple[str, str]] = {
    "X-Recoup-Rows-Read": ("integer", "Data rows read from the upload."),
    "X-Recoup-Rows-Scored": ("integer", "Rows scored (in the ranked part)."),
    "X-Recoup-Rows-Rejected": ("integer", "Rows rejected (in the rejects part, with their errors)."),
    "X-Recoup-Expected-Net-Recovery": (
        "number",
        "Sum of expected_net_recovery over the scored rows, in dollars (2 decimals).",
    ),
    "X-Recoup-Model-Version": ("string", "The registered model version that scored the worklist."),
    "X-Recoup-IDR-Batches": ("integer", "Batched Federal IDR disputes formed (in the batches part)."),
}

_PART = "A whole {what} file: CSV (text/csv, the default) or Parquet (application/vnd.apache.parquet)."

#: The 200 answer of ``POST /v1/worklists``: two files in one ``multipart/mixed`` body, counts in headers.
WORKLIST_RESPONSE: dict[str, Any] = {
    "description": "multipart/mixed with three parts, each a whole file in the requested format (CSV, or "
    "Parquet with ?format=parquet): `ranked`, every scored row with its ladder columns, highest expected "
    "net recovery first; `rejects`, every rejected row with its `errors` (header only when none); and "
    "`batches`, one row per batched Federal IDR dispute (header only when none; absent with "
    "?batch_idr=false). The counts are in the X-Recoup-* headers.",
    "headers": {
        name: {"description": text, "schema": {"type": kind}} for name, (kind, text) in WORKLIST_HEADERS.items()
    },
    "content": {
        "multipart/mixed": {
            "schema": {
                "type": "object",
                "properties": {
                    "ranked": {
                        "type": "string",
                        "format": "binary",
                        "description": _PART.format(what="ranked")
                        + " The input columns (and the input row number) plus recommended_action, "
                        "expected_net_recovery, path, reasons, warnings and, per level L, eligible_L, "
                        "ineligible_reason_L, p_success_L, expected_allowed_L, allowed_p10_L, allowed_p90_L, "
                        "expected_days_L, expected_recovery_L, cost_L (dollars), net_value_L, deadline_L "
                        "(ISO date), days_left_L and deadline_rule_L; and idr_batch_id.",
                    },
                    "batches": {
                        "type": "string",
                        "format": "binary",
                        "description": _PART.format(what="batches")
                        + " Per batched dispute: idr_batch_id, payer_id, plan_type, similar_services, "
                        "first_service_date, last_service_date, claims, recommending_idr and "
                        "combined_expected_net_value (dollars: the sum of its claims' net value of filing IDR now).",
                    },
                    "rejects": {
                        "type": "string",
                        "format": "binary",
                        "description": _PART.format(what="rejects")
                        + " The rejected rows as uploaded, with their row number and errors.",
                    },
                },
                "required": ["ranked", "rejects"],
            },
            "encoding": {
                name: {"contentType": "text/csv, application/vnd.apache.parquet"}
                for name in ("ranked", "rejects", "batches")
            },
            "example": "--8f3c\r\nContent-Type: text/csv\r\n"
            'Content-Disposition: attachment; name="ranked"; filename="ranked.csv"\r\n\r\n'
            f"{examples.RANKED_CSV}\r\n"
            "--8f3c\r\nContent-Type: text/csv\r\n"
            'Content-Disposition: attachment; name="rejects"; filename="rejects.csv"\r\n\r\n'
            "row,claim_id,...,errors\r\n"
            "--8f3c\r\nContent-Type: text/csv\r\n"
            'Content-Disposition: attachment; name="batches"; filename="batches.csv"\r\n\r\n'
            "idr_batch_id,payer_id,plan_type,similar_services,...,combined_expected_net_value\r\n--8f3c--\r\n",
        }
    },
}


#: The 200 answer of ``GET /metrics`` (Prometheus text exposition format).
METRICS_RESPONSE: dict[str, Any] = {
    "description": "Prometheus text format: request counts and latency by route, scoring latency, the "
    "served model version, recommended actions and score distributions.",
    "content": {
        CONTENT_TYPE_LATEST: {
            "schema": {"type": "string"},
            "example": "# HELP recoup_model_info The model version being served (value 1).\n"
            "# TYPE recoup_model_info gauge\n"
            'recoup_model_info{name="recoup",version="3"} 1.0\n',
        }
    },
}
