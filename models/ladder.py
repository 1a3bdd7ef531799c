"""The escalation ladder's rules: what each level costs, and which levels a claim may still attempt.

Defaults are DESIGN.md's; every figure is configurable (the policy travels inside the model bundle, and
the service may override it from its settings).
"""

from __future__ import annotations

from functools import cache

import holidays
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from features.schema import Level

INTERNAL_LEVELS = (Level.reconsideration, Level.written_appeal, Level.peer_to_peer)


class LadderPolicy(BaseModel):
    """Costs, time value and deadline rules of the escalation ladder."""

    cost: dict[str, float] = Field(
        default_factory=lambda: {
            "reconsideration": 25.0,  # staff time
            "written_appeal": 118.0,  # published average cost to rework a denial
            "peer_to_peer": 250.0,  # physician time
            "external_review": 115.0 + 300.0,  # IDR administrative fee per party + preparation
            "legal": 5000.0,
        },
        description="Cost to the provider of attempting each level, in dollars.",
    )
    idr_entity_fee: float = Field(
        500.0, description="Certified IDR entity fee (single dispute); paid by the losing party only."
    )
    annual_discount_rate: float = Field(0.10, ge=0, description="Time value of money per year.")
    internal_appeal_days: int = Field(180, description="Internal levels must start within this many "
                                      "days of the initial payment date.")
    open_negotiation_business_days: int = Field(30, description="NSA open negotiation window.")
    idr_start_business_days: int = Field(4, description="Business days after open negotiation to "
                                         "start IDR.")

    def cost_of(self, level: Level) -> float:
        return self.cost[level.name]

    def discount(self, days: np.ndarray) -> np.ndarray:
        return (1.0 + self.annual_discount_rate) ** (-np.maximum(days, 0.0) / 365.0)


@cache
def _federal_holidays() -> np.ndarray:
    years = range(2015, 2036)
    return np.array(sorted(holidays.US(years=years).keys()), dtype="datetime64[D]")


def add_business_days(dates: pd.Series, days: int) -> pd.Series:
    """``dates`` moved forward by ``days`` US business days (weekends and federal holidays skipped)."""
    valid = dates.notna().to_numpy()
    result = np.full(len(dates), np.datetime64("NaT"), dtype="datetime64[D]")
    if valid.any():
        start = dates[valid].to_numpy().astype("datetime64[D]")
        result[valid] = np.busday_offset(start, days, roll="forward", holidays=_federal_holidays())
    return pd.Series(result.astype("datetime64[ns]"), index=dates.index)


def eligibility(claims: pd.DataFrame, from_level: np.ndarray, target: Level,
                policy: LadderPolicy, check_deadlines: bool) -> tuple[np.ndarray, np.ndarray]:
    """Whether each claim at ``from_level`` may attempt ``target``, and the reason when it may not.

    Deadlines are checked against ``as_of_date`` only for the claim's next step (``check_deadlines``)
    and only where the dates they need are given: later steps of a path have no known dates yet.
    """
    n = len(claims)
    reason = np.full(n, "", dtype=object)
    reason[from_level >= int(target)] = f"the claim is already at or beyond {target.name}"
    fully_paid = claims["current_allowed_amount"].to_numpy(dtype="float64") >= claims["billed_amount"].to_numpy(
        dtype="float64")
    reason[(reason == "") & fully_paid] = "nothing left to recover: the allowed amount equals the billed amount"
    nsa = claims["nsa_eligible"].to_numpy(dtype=bool)
    if target is Level.external_review:
        allowed = (nsa & (from_level >= Level.reconsideration)) | (from_level >= Level.written_appeal)
        blocked = (reason == "") & ~allowed
        reason[blocked & nsa] = "Federal IDR needs the open negotiation (reconsideration) first"
        reason[blocked & ~nsa] = "external review needs a written internal appeal first"
    if check_deadlines:
        as_of = claims["as_of_date"]
        paid = claims["initial_payment_date"]
        if target in INTERNAL_LEVELS:
            late = (as_of - paid).dt.days.to_numpy(dtype="float64") > policy.internal_appeal_days
            reason[(reason == "") & np.nan_to_num(late, nan=0).astype(bool)] = (
                f"internal appeals must start within {policy.internal_appeal_days} days of the initial payment"
            )
        if target is Level.reconsideration:
            window_end = add_business_days(paid, policy.open_negotiation_business_days)
            late = (as_of > window_end).to_numpy() & nsa
            reason[(reason == "") & late] = (
                f"NSA open negotiation must start within {policy.open_negotiation_business_days} business "
                "days of the initial payment"
            )
        if target is Level.external_review and "current_level_date" in claims:
            negotiation_end = add_business_days(claims["current_level_date"],
                                                policy.open_negotiation_business_days)
            idr_deadline = add_business_days(negotiation_end, policy.idr_start_business_days)
            in_negotiation = nsa & (from_level == Level.reconsideration)
            late = (as_of > idr_deadline).to_numpy() & in_negotiation
            reason[(reason == "") & late] = (
                f"Federal IDR must start within {policy.idr_start_business_days} business days after the "
                "open negotiation ends"
            )
    return reason == "", reason

