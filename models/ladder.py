"""The escalation ladder's rules: what each level costs, and which levels a claim may still attempt.

Defaults are DESIGN.md's; every figure is configurable (the policy travels inside the model bundle, and
the service may override it from its settings).
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class LadderClaims:
    """What the ladder rules read of each claim, as numpy arrays (dates at day resolution, NaT where not
    given): made from a validated frame (``of``), or directly for one claim, so a single claim never
    pays for a DataFrame."""

    current_level: np.ndarray  # int64
    current_allowed: np.ndarray  # float64, dollars
    billed: np.ndarray  # float64, dollars
    nsa: np.ndarray  # bool
    as_of: np.ndarray  # datetime64[D]
    paid: np.ndarray  # datetime64[D]: the initial payment date
    level_date: np.ndarray | None = None  # datetime64[D]: when the current level was submitted

    @classmethod
    def of(cls, claims: pd.DataFrame) -> LadderClaims:
        def days(name: str) -> np.ndarray:
            return claims[name].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")

        return cls(claims["current_level"].to_numpy(dtype="int64"),
                   claims["current_allowed_amount"].to_numpy(dtype="float64"),
                   claims["billed_amount"].to_numpy(dtype="float64"), claims["nsa_eligible"].to_numpy(dtype=bool),
                   days("as_of_date"), days("initial_payment_date"),
                   days("current_level_date") if "current_level_date" in claims else None)

    def __len__(self) -> int:
        return len(self.current_level)


@cache
def _federal_holidays() -> np.ndarray:
    years = range(2015, 2036)
    return np.array(sorted(holidays.US(years=years).keys()), dtype="datetime64[D]")


def add_business_days(dates: np.ndarray, days: int) -> np.ndarray:
    """``dates`` (datetime64[D]) moved forward by ``days`` US business days (weekends and federal holidays
    skipped); NaT stays NaT."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    result = np.full(len(dates), np.datetime64("NaT"), dtype="datetime64[D]")
    given = ~np.isnat(dates)
    if given.any():
        result[given] = np.busday_offset(dates[given], days, roll="forward", holidays=_federal_holidays())
    return result


def eligibility(claims: LadderClaims, from_level: np.ndarray, target: Level,
                policy: LadderPolicy, check_deadlines: bool) -> tuple[np.ndarray, np.ndarray]:
    """Whether each claim at ``from_level`` may attempt ``target``, and the reason when it may not.

    Deadlines are checked against ``as_of_date`` only for the claim's next step (``check_deadlines``)
    and only where the dates they need are given: later steps of a path have no known dates yet.
    """
    n = len(claims)
    reason = np.full(n, "", dtype=object)
    reason[from_level >= int(target)] = f"the claim is already at or beyond {target.name}"
    fully_paid = claims.current_allowed >= claims.billed
    reason[(reason == "") & fully_paid] = "nothing left to recover: the allowed amount equals the billed amount"
    nsa = claims.nsa
    if target is Level.external_review:
        allowed = (nsa & (from_level >= Level.reconsideration)) | (from_level >= Level.written_appeal)
        blocked = (reason == "") & ~allowed
        reason[blocked & nsa] = "Federal IDR needs the open negotiation (reconsideration) first"
        reason[blocked & ~nsa] = "external review needs a written internal appeal first"
    if check_deadlines:
        as_of, paid = claims.as_of, claims.paid
        if target in INTERNAL_LEVELS:
            # NaT compares False: without both dates there is no deadline to miss
            late = as_of > paid + np.timedelta64(policy.internal_appeal_days, "D")
            reason[(reason == "") & late] = (
                f"internal appeals must start within {policy.internal_appeal_days} days of the initial payment"
            )
        if target is Level.reconsideration:
            late = (as_of > add_business_days(paid, policy.open_negotiation_business_days)) & nsa
            reason[(reason == "") & late] = (
                f"NSA open negotiation must start within {policy.open_negotiation_business_days} business "
                "days of the initial payment"
            )
        if target is Level.external_review and claims.level_date is not None:
            negotiation_end = add_business_days(claims.level_date, policy.open_negotiation_business_days)
            idr_deadline = add_business_days(negotiation_end, policy.idr_start_business_days)
            in_negotiation = nsa & (from_level == Level.reconsideration)
            late = (as_of > idr_deadline) & in_negotiation
            reason[(reason == "") & late] = (
                f"Federal IDR must start within {policy.idr_start_business_days} business days after the "
                "open negotiation ends"
            )
    return reason == "", reason
