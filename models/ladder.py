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
    internal_appeal_days: int = Field(
        180, description="Internal levels must start within this many days of the initial payment date."
    )
    open_negotiation_business_days: int = Field(30, description="NSA open negotiation window.")
    idr_start_business_days: int = Field(4, description="Business days after open negotiation to start IDR.")

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

        return cls(
            claims["current_level"].to_numpy(dtype="int64"),
            claims["current_allowed_amount"].to_numpy(dtype="float64"),
            claims["billed_amount"].to_numpy(dtype="float64"),
            claims["nsa_eligible"].to_numpy(dtype=bool),
            days("as_of_date"),
            days("initial_payment_date"),
            days("current_level_date") if "current_level_date" in claims else None,
        )

    def __len__(self) -> int:
        return len(self.current_level)


@cache
def _business_days() -> np.busdaycalendar:
    """Weekdays except US federal holidays (a calendar made once: numpy checks the holidays on every use)."""
    years = range(2015, 2036)
    return np.busdaycalendar(holidays=np.array(sorted(holidays.US(years=years).keys()), dtype="datetime64[D]"))


def add_business_days(dates: np.ndarray, days: int) -> np.ndarray:
    """``dates`` (datetime64[D]) moved forward by ``days`` US business days (weekends and federal holidays
    skipped); NaT stays NaT."""
    return np.busday_offset(np.asarray(dates, dtype="datetime64[D]"), days, roll="forward", busdaycal=_business_days())


# By level number; plain ints, since comparing an array with an IntEnum member costs several microseconds
_BEYOND = np.array([f"the claim is already at or beyond {level.name}" for level in Level], dtype=object)
_INTERNAL = np.isin(np.arange(len(Level)), INTERNAL_LEVELS)
_RECONSIDERATION, _WRITTEN_APPEAL, _EXTERNAL_REVIEW = (
    int(level) for level in (Level.reconsideration, Level.written_appeal, Level.external_review)
)


def eligibility(
    claims: LadderClaims,
    from_level: np.ndarray | int,
    target: np.ndarray | Level,
    policy: LadderPolicy,
    check_deadlines: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each claim at ``from_level`` may attempt ``target``, and the reason when it may not.

    ``from_level`` and ``target`` broadcast against the claims: a column of levels (shape (k, 1)) asks k
    questions of every claim at once, and the answers have shape (k, claims). Deadlines are checked against
    ``as_of_date`` only for the claim's next step (``check_deadlines``) and only where the dates they need
    are given: later steps of a path have no known dates yet.
    """
    from_level, target = np.asarray(from_level), np.asarray(target)
    nsa = claims.nsa
    external = target == _EXTERNAL_REVIEW
    blocked = external & ~((nsa & (from_level >= _RECONSIDERATION)) | (from_level >= _WRITTEN_APPEAL))
    # (broken, reason) in order: a claim's reason is the first rule it breaks. The first reason names the
    # target, so it is filled in last.
    rules = [
        (from_level >= target, ""),
        (
            claims.current_allowed >= claims.billed,
            "nothing left to recover: the allowed amount equals the billed amount",
        ),
        (blocked & nsa, "Federal IDR needs the open negotiation (reconsideration) first"),
        (blocked & ~nsa, "external review needs a written internal appeal first"),
    ]
    if check_deadlines:
        as_of, paid = claims.as_of, claims.paid
        # NaT compares False: without both dates there is no deadline to miss
        rules.append(
            (
                _INTERNAL[target] & (as_of > paid + np.timedelta64(policy.internal_appeal_days, "D")),
                f"internal appeals must start within {policy.internal_appeal_days} days of the initial payment",
            )
        )
        late = as_of > add_business_days(paid, policy.open_negotiation_business_days)
        rules.append(
            (
                (target == _RECONSIDERATION) & nsa & late,
                f"NSA open negotiation must start within {policy.open_negotiation_business_days} "
                "business days of the initial payment",
            )
        )
        if claims.level_date is not None:
            negotiation_end = add_business_days(claims.level_date, policy.open_negotiation_business_days)
            late = as_of > add_business_days(negotiation_end, policy.idr_start_business_days)
            rules.append(
                (
                    external & (from_level == _RECONSIDERATION) & nsa & late,
                    f"Federal IDR must start within {policy.idr_start_business_days} business days after "
                    "the open negotiation ends",
                )
            )
    # integer codes, not strings, while the rules are applied: operations on object arrays cost far more
    first = np.zeros(np.broadcast_shapes(from_level.shape, target.shape, (len(claims),)), dtype="int64")
    for number in range(len(rules), 0, -1):
        first = np.where(rules[number - 1][0], number, first)
    reason = np.array(["", *(because for _, because in rules)], dtype=object)[first]
    return first == 0, np.where(first == 1, _BEYOND[target], reason)
