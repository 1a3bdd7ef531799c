"""Service settings, read from the environment (prefix ``RECOUP_``) once per process.

Policy overrides (costs, discount rate, fees, deadlines) replace the figures of the policy that travels
inside the model bundle; unset ones keep the bundle's.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from features.schema import ESCALATION_LEVELS
from features.store import default_store_uri
from models.ladder import LadderPolicy
from models.monitoring import Thresholds
from models.served import DEFAULT_TRACKING_URI, tracking_uri

LEVEL_NAMES = frozenset(level.name for level in ESCALATION_LEVELS)


class Settings(BaseSettings):
    """Everything the scoring service can be configured with."""

    model_config = SettingsConfigDict(env_prefix="RECOUP_", extra="ignore", protected_namespaces=())

    model_uri: str = Field(
        "models:/recoup@champion",
        description="MLflow model URI to serve; an alias (models:/name@alias) is polled and followed.",
    )
    tracking_uri: str = Field(
        "", description=f"MLflow tracking/registry store; default MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI}."
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated API keys; empty disables authentication."
    )
    max_batch_claims: int = Field(1000, ge=1, description="Most claims one batch request may carry.")
    max_request_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest JSON request body.")
    max_worklist_bytes: int = Field(
        512 * 1024 * 1024, ge=1024, description="Largest worklist upload (POST /v1/worklists)."
    )
    reload_interval_seconds: float = Field(30.0, ge=0, description="How often the model alias is polled (0 = never).")
    scoring_threads: int = Field(
        1,
        ge=1,
        description="Scoring calls running at once in worker threads; "
        "single claims arriving meanwhile are scored together in the next call.",
    )
    batch_wait_ms: float = Field(
        2.0,
        ge=0,
        le=1000,
        description="Under concurrent load, how long a scoring call may wait for single claims to join it, "
        "in milliseconds (only after a call that scored several; a lone claim is never kept waiting; 0 = never).",
    )
    log_level: str = Field("INFO", description="Log level of the service's JSON logs.")
    compile_trees: bool = Field(
        True,
        description="Score with compiled trees (same numbers, several times "
        "faster); compiled once per model version on load, then cached.",
    )
    compiled_trees_dir: Path | None = Field(None, description="Cache of compiled trees; default ~/.cache/recoup/trees.")
    store_uri: str = Field(
        "",
        description="Store of claims, attempts and predictions (SQLAlchemy URL); default a SQLite file "
        "recoup-store.db beside a sqlite:/// tracking store, else in the working directory.",
    )
    record_predictions: bool = Field(True, description="Record every scored claim's prediction in the store.")
    record_queue_claims: int = Field(
        100_000, ge=1, description="Predictions waiting to be written at most; beyond it they are dropped (counted)."
    )
    monitor_calibration_gap: float = Field(
        0.10, gt=0, le=1, description="Alert when a payer's observed success rate is this far from the predicted."
    )
    monitor_min_matured: int = Field(30, ge=1, description="Matured predictions a payer needs before it can alert.")
    monitor_z: float = Field(
        3.0, ge=0, description="A calibration alert also needs the gap this many standard errors out."
    )
    monitor_psi: float = Field(0.2, gt=0, description="Alert when a feature's PSI vs the training data passes this.")
    monitor_unknown_share: float = Field(
        0.05, ge=0, le=1, description="Alert when this share of scored claims has an unknown payer or code."
    )
    monitor_min_traffic: int = Field(1000, ge=1, description="Scored claims drift needs before it can alert.")
    monitor_refresh_seconds: float = Field(
        0,
        ge=0,
        description="Recompute the recoup_monitor_* gauges this often in the background (0 = only on GET "
        "/v1/monitoring). Each round reads every prediction (about a minute of CPU per million): set it on "
        "one replica.",
    )
    max_outcome_rows: int = Field(10_000, ge=1, description="Most outcome rows one POST /v1/outcomes may carry.")
    web_session_secret: SecretStr | None = Field(
        None,
        description="Signs the web app's session cookies and CSRF tokens; default derived from the API keys "
        "(rotating a key ends its sessions), or random per process when there are none.",
    )
    web_session_hours: float = Field(8.0, gt=0, description="How long a web app sign-in lasts.")
    web_jobs_dir: Path | None = Field(
        None, description="Where the web app keeps uploaded worklists and their results; default a temporary folder."
    )
    web_job_hours: float = Field(24.0, gt=0, description="How long the web app keeps a worklist's files.")

    cost_overrides: dict[str, float] = Field(
        default_factory=dict, description='Per-level cost overrides as JSON, e.g. {"legal": 4000}.'
    )
    idr_entity_fee: float | None = Field(None, ge=0, description="Certified IDR entity fee (paid on a loss).")
    annual_discount_rate: float | None = Field(None, ge=0, description="Time value of money per year.")
    internal_appeal_days: int | None = Field(
        None, ge=0, description="Days after the initial payment within which internal levels must start."
    )
    open_negotiation_business_days: int | None = Field(None, ge=0, description="NSA open negotiation window.")
    idr_start_business_days: int | None = Field(
        None, ge=0, description="Business days after open negotiation to start Federal IDR."
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("tracking_uri", mode="after")
    @classmethod
    def _default_tracking_uri(cls, value: str) -> str:
        return tracking_uri(value)

    @field_validator("store_uri", mode="after")
    @classmethod
    def _default_store_uri(cls, value: str, info: ValidationInfo) -> str:
        return value or default_store_uri(info.data.get("tracking_uri"))

    @field_validator("cost_overrides", mode="after")
    @classmethod
    def _known_levels(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - LEVEL_NAMES)
        if unknown:
            expected = ", ".join(sorted(LEVEL_NAMES))
            raise ValueError(f"unknown level(s) {', '.join(unknown)}; expected {expected}")
        if any(cost < 0 for cost in value.values()):
            raise ValueError("costs must be >= 0")
        return value

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    def monitoring_thresholds(self) -> Thresholds:
        return Thresholds(
            calibration_gap=self.monitor_calibration_gap,
            min_matured=self.monitor_min_matured,
            z=self.monitor_z,
            psi=self.monitor_psi,
            unknown_share=self.monitor_unknown_share,
            min_traffic=self.monitor_min_traffic,
        )

    def policy_overrides(self) -> dict[str, Any]:
        """The ``LadderPolicy`` fields these settings replace (costs are merged level by level)."""
        names = (
            "idr_entity_fee",
            "annual_discount_rate",
            "internal_appeal_days",
            "open_negotiation_business_days",
            "idr_start_business_days",
        )
        overrides: dict[str, Any] = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        if self.cost_overrides:
            overrides["cost"] = dict(self.cost_overrides)
        return overrides

    def apply_policy(self, policy: LadderPolicy) -> LadderPolicy:
        """``policy`` (the bundle's) with these settings' overrides applied."""
        overrides = self.policy_overrides()
        if not overrides:
            return policy
        if "cost" in overrides:
            overrides["cost"] = {**policy.cost, **overrides["cost"]}
        return LadderPolicy.model_validate(policy.model_dump() | overrides)

    def log_startup_warnings(self, logger: logging.Logger) -> None:
        if not self.auth_enabled:
            logger.warning("API key authentication is disabled: set RECOUP_API_KEYS to enable it")


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
