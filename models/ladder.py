"""The escalation ladder's rules: what each level costs, and which levels a claim may still attempt.

Defaults are DESIGN.md's; every figure is configurable (the policy travels inside the model bundle, and
the service may override it from its settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from features.schema import Level
from models.calendar import add_business_days
from models.rules import shipped_rules, state_external_review_windows

INTERNAL_LEVELS = (Level.reconsideration, Level.written_appeal, Level.peer_to_peer)


class LadderPolicy(BaseModel):
    """Costs, time value, fees and deadline rules of the escalation ladder.

    Fees and windows left unset (None) come from the rules in force (``models.rules``): the figure
    effective on the date it applies to (a step's expected filing date for fees, the event that starts a
    window for deadlines). A figure set here, from the service's settings or the CLI, wins on every date.
    """

    cost: dict[str, float] = Field(
        default_factory=lambda: {
            "reconsideration": 25.0,  # staff time
            "written_appeal": 118.0,  # published average cost to rework a denial
            "peer_to_peer": 250.0,  # physician time
            "external_review": 300.0,  # preparation; the Federal IDR administrative fee is added by date
            "legal": 5000.0,
        },
        description="Cost to the provider of attempting each level, in dollars (external review: preparation; "
        "NSA claims also pay the Federal IDR administrative fee in force).",
    )
    idr_admin_fee: float | None = Field(
        None, ge=0, description="Federal IDR administrative fee per party per dispute; unset: the fee in force."
    )
    idr_entity_fee: float | None = Field(
        None, ge=0, description="Certified IDR entity fee, single dispute, paid by the losing party; unset: in force."
    )
    idr_batched_entity_fee: float | None = Field(
        None, ge=0, description="Certified IDR entity fee, batched dispute of up to 25 line items; unset: in force."
    )
    annual_discount_rate: float = Field(0.10, ge=0, description="Time value of money per year.")
    internal_appeal_days: int | None = Field(
        None, ge=0, description="Days after the initial payment or denial to start an internal appeal."
    )
    open_negotiation_business_days: int | None = Field(
        None, ge=1, description="NSA open negotiation: business days to start it, and its length."
    )
    idr_start_business_days: int | None = Field(
        None, ge=1, description="Business days after open negotiation ends to start Federal IDR."
    )
    external_review_months: int | None = Field(
        None, ge=1, description="Months after the final internal adverse determination to request external review."
    )
    idr_batch_max_line_items: int | None = Field(None, ge=2, description="Most line items in one batched dispute.")
    inauguration_day_is_holiday: bool = Field(
        True, description="Count Inauguration Day (an OPM holiday for the Washington, DC area) as a non-business day."
    )

    def __setstate__(self, state: dict) -> None:
        # Bundles pickled before the rules table carry fixed figures, among them the 2024 administrative fee
        # inside the external review cost: their customised figures are kept, the defaults of the time give
        # way to the rules in force
        fields = state.get("__dict__", {})
        if "idr_admin_fee" not in fields:
            legacy = {"idr_entity_fee": 500.0, "internal_appeal_days": 180, "open_negotiation_business_days": 30}
            legacy |= {"idr_start_business_days": 4}
            kept = {name: value for name, value in fields.items() if name != "cost" and legacy.get(name) != value}
            cost = dict(fields.get("cost", {}))
            cost["external_review"] = cost.get("external_review", 415.0) - 115.0
            state = LadderPolicy(**kept, cost=cost).__getstate__()
        super().__setstate__(state)

    def cost_of(self, level: Level) -> float:
        return self.cost[level.name]

    def discount(self, days: np.ndarray) -> np.ndarray:
        return (1.0 + self.annual_discount_rate) ** (-np.maximum(days, 0.0) / 365.0)

    def rule(self, name: str, dates: np.ndarray) -> np.ndarray:
        """The figure of rule ``name`` on each of ``dates``: this policy's own when set, else the one in force."""
        own = getattr(self, _OVERRIDES.get(name, name), None)
        if own is not None:
            return np.full(np.shape(dates), float(own))
        return shipped_rules().value(name, dates)

    def idr_fees(self, filing: np.ndarray, nsa: np.ndarray, batch_size: np.ndarray | None) -> IdrFees:
        """Each NSA claim's share of the Federal IDR fees for a dispute filed on ``filing``, alone or in a
        batch of ``batch_size`` claims (1 = alone): one administrative fee per dispute, and the entity fee
        of a single or a batched determination (plus a fee per further 25 line items), split evenly."""
        admin = self.rule("idr_administrative_fee", filing)
        single = self.rule("idr_entity_fee_single", filing)
        if batch_size is None:  # every claim alone: its own fees (a share of 1/1, exactly)
            return IdrFees(admin * nsa, single * nsa)
        size = np.broadcast_to(batch_size, np.shape(filing))
        batched = size > 1
        if batched.any():
            tiers = np.ceil(np.maximum(size - 25, 0) / 25)
            tier_fee = self.rule("idr_entity_fee_batched_tier", filing)
            batch = self.rule("idr_entity_fee_batched", filing) + tiers * tier_fee
            entity = np.where(batched, batch, single)
        else:
            entity = single
        return IdrFees(admin * nsa / size, entity * nsa / size)

    def rules_in_force(self, date: np.datetime64) -> list[dict]:
        """The rules table's rows in force on ``date``, each with the figure this policy applies."""
        rows = shipped_rules().in_force(date)
        rows["applied"] = [float(self.rule(name, np.datetime64(date, "D"))) for name in rows["rule"]]
        return rows.to_dict(orient="records")


#: Policy fields that override a rule of the table under another name
_OVERRIDES = {
    "idr_administrative_fee": "idr_admin_fee",
    "idr_entity_fee_single": "idr_entity_fee",
    "idr_entity_fee_batched": "idr_batched_entity_fee",
    "open_negotiation_initiation_business_days": "open_negotiation_business_days",
    "idr_initiation_business_days": "idr_start_business_days",
}


@dataclass(frozen=True)
class IdrFees:
    """Per claim: its share of the administrative fee (paid on filing) and of the entity fee (on a loss)."""

    admin: np.ndarray
    entity: np.ndarray


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
    state: np.ndarray | None = None  # object: where the service was rendered (names its external review window)
    idr_batch_size: np.ndarray | None = None  # claims in the claim's IDR batch (1 = filed alone); None: all alone

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
            claims["state"].to_numpy(dtype=object) if "state" in claims else None,
            claims[IDR_BATCH_SIZE].to_numpy(dtype="float64") if IDR_BATCH_SIZE in claims else None,
        )

    def __len__(self) -> int:
        return len(self.current_level)


#: The claim columns the worklist's IDR batching sets: how many claims share the claim's batched dispute,
#: and the dispute's name
IDR_BATCH_SIZE = "idr_batch_size"
IDR_BATCH_ID = "idr_batch_id"

# By level number; plain ints, since comparing an array with an IntEnum member costs several microseconds
_BEYOND = np.array([f"the claim is already at or beyond {level.name}" for level in Level], dtype=object)
_INTERNAL = np.isin(np.arange(len(Level)), INTERNAL_LEVELS)
_RECONSIDERATION, _WRITTEN_APPEAL, _EXTERNAL_REVIEW = (
    int(level) for level in (Level.reconsideration, Level.written_appeal, Level.external_review)
)


@dataclass(frozen=True)
class Deadlines:
    """Each claim's last day to start each level as its next step, by level number (rows 1-5 of arrays
    shaped (levels, claims); row 0, ``none``, is unused): ``date`` (NaT where unknown or none applies),
    ``rule`` (the rule that set it, or why it is unknown and which date is missing), and ``late``
    (``as_of`` is after the date; the reason a late level is ineligible is ``late_reason``)."""

    date: np.ndarray
    rule: np.ndarray
    late: np.ndarray
    late_reason: np.ndarray

    def days_left(self, as_of: np.ndarray) -> np.ndarray:
        """Days from ``as_of`` to each deadline (0 on the last day, negative once missed; NaN if unknown)."""
        left = (self.date - as_of).astype("timedelta64[D]").astype("float64")
        return np.where(np.isnat(self.date), np.nan, left)


def deadlines(claims: LadderClaims, policy: LadderPolicy) -> Deadlines:
    """The filing deadline of each level as the claims' next step, by the rules in force.

    - NSA open negotiation (reconsideration of an NSA claim): the 30-business-day period beginning on the
      day of the initial payment or denial, 45 CFR 149.510(b)(1)(i);
    - internal appeal (other reconsiderations, written appeal, peer to peer): 180 days from the initial
      payment or denial, 29 CFR 2560.503-1(h)(3)(i);
    - Federal IDR (external review of an NSA claim): the 4 business days after the 30-business-day open
      negotiation, which started on ``current_level_date`` when the claim is at reconsideration,
      45 CFR 149.510(b)(2)(i);
    - external review of other claims: 4 months (or the state's window) from the final internal adverse
      determination, a date the contract does not carry, so it is reported as unknown;
    - legal: no deadline is modelled.
    """
    n = len(claims)
    current, nsa, as_of, paid = claims.current_level, claims.nsa, claims.as_of, claims.paid
    holiday = policy.inauguration_day_is_holiday
    paid_known = ~np.isnat(paid)
    date = np.full((len(Level), n), np.datetime64("NaT"), dtype="datetime64[D]")
    rule = np.full((len(Level), n), "", dtype=object)

    appeal_days = policy.rule("internal_appeal_days", paid).astype("int64")
    internal = paid + appeal_days.astype("timedelta64[D]")
    negotiation_days = policy.rule("open_negotiation_initiation_business_days", paid).astype("int64")
    negotiation = add_business_days(paid, np.where(paid_known, negotiation_days - 1, 0), inauguration_day=holiday)
    internal_text = _texts(
        "internal appeal: {} days from the initial payment or denial (29 CFR 2560.503-1(h)(3)(i))", appeal_days
    )
    missing_paid = "unknown: needs initial_payment_date"
    # the internal levels share the internal appeal's deadline; reconsideration of an NSA claim is the
    # open negotiation instead
    date[_INTERNAL] = internal
    rule[_INTERNAL] = np.where(paid_known, internal_text, missing_paid)
    date[_RECONSIDERATION] = np.where(nsa, negotiation, internal)
    rule[_RECONSIDERATION] = np.where(
        paid_known,
        np.where(
            nsa,
            _texts(
                "NSA open negotiation: {} business days beginning on the initial payment or denial "
                "(45 CFR 149.510(b)(1)(i))",
                negotiation_days,
            ),
            internal_text,
        ),
        missing_paid,
    )

    # Federal IDR: dated by the open negotiation's start, known when the claim is at reconsideration
    started = claims.level_date if claims.level_date is not None else np.full(n, np.datetime64("NaT"), "datetime64[D]")
    dated = nsa & (current == _RECONSIDERATION) & ~np.isnat(started)
    period = policy.rule("open_negotiation_business_days", started).astype("int64")
    window = policy.rule("idr_initiation_business_days", started).astype("int64")
    idr = add_business_days(started, np.where(dated, period - 1 + window, 0), inauguration_day=holiday)
    months = policy.rule("external_review_months", as_of).astype("int64")
    date[_EXTERNAL_REVIEW] = np.where(dated, idr, np.datetime64("NaT"))
    rule[_EXTERNAL_REVIEW] = np.where(
        dated,
        _texts(
            "Federal IDR: {} business days after the open negotiation of current_level_date ends "
            "(45 CFR 149.510(b)(2)(i))",
            window,
        ),
        np.where(
            nsa,
            "unknown: needs current_level_date, the day open negotiation (reconsideration) started",
            _external_review_texts(claims.state, months, n, policy.external_review_months is not None),
        ),
    )
    rule[int(Level.legal)] = "no filing deadline modelled: limitation periods vary by claim and state"

    beyond = np.arange(len(Level))[:, None] <= current
    date[beyond] = np.datetime64("NaT")
    rule[beyond] = ""
    late = as_of > date  # NaT compares False: without a date there is no deadline to miss
    late_reason = np.empty((len(Level), n), dtype=object)
    late_reason[:] = ""
    internal_late = _texts("internal appeals must start within {} days of the initial payment", appeal_days)
    late_reason[_INTERNAL] = internal_late
    late_reason[_RECONSIDERATION] = np.where(
        nsa,
        _texts("NSA open negotiation must start within {} business days of the initial payment", negotiation_days),
        internal_late,
    )
    late_reason[_EXTERNAL_REVIEW] = _texts(
        "Federal IDR must start within {} business days after the open negotiation ends", window
    )
    return Deadlines(date, rule, late, late_reason)


def _texts(template: str, values: np.ndarray) -> np.ndarray:
    """``template`` filled with each of ``values``, formatted once per distinct value. A rule's figure is
    usually the same for every claim, and that case costs one comparison instead of a sort."""
    values = np.asarray(values).reshape(-1)
    first = values[:1].tolist()
    if len(values) == 1 or (first and (values == first[0]).all()):
        return np.full(len(values), _text(template, first[0]), dtype=object)
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.array([template.format(value) for value in distinct.tolist()], dtype=object)[inverse.reshape(-1)]


@lru_cache(maxsize=1_024, typed=True)
def _text(template: str, value: object) -> str:
    return template.format(value)


def _external_review_texts(state: np.ndarray | None, months: np.ndarray, n: int, overridden: bool) -> np.ndarray:
    """Why an external review deadline is unknown, with the window that will apply: the state's when the
    table gives a longer one than the federal four months and the policy sets none."""
    states = np.full(n, "", dtype=object) if state is None or overridden else np.asarray(state, dtype=object)
    if n == 1:
        return np.array([_external_review_text(str(states[0]), int(np.asarray(months).flat[0]))], dtype=object)
    months = np.broadcast_to(np.asarray(months, dtype="int64"), (n,))
    if n and (months == months[0]).all():  # one federal window for every claim: one text per state
        distinct, inverse = np.unique(states.astype(str), return_inverse=True)
        texts = [_external_review_text(code, int(months[0])) for code in distinct.tolist()]
    else:
        pairs = list(zip(states.tolist(), months.tolist(), strict=True))
        table = {pair: position for position, pair in enumerate(dict.fromkeys(pairs))}
        inverse = np.array([table[pair] for pair in pairs], dtype="int64")
        texts = [_external_review_text(code, floor) for code, floor in table]
    return np.array(texts, dtype=object)[inverse.reshape(-1)]


@cache
def _external_review_text(state: str, federal_months: int) -> str:
    text = "unknown: needs the date of the final internal adverse determination; external review {} months from it ({})"
    window = state_external_review_windows().get(state)
    if window is not None and window[0] > federal_months:
        return text.format(window[0], f"{state}: {window[1]}")
    return text.format(federal_months, "45 CFR 147.136(d)(2)(i)")


#: Why a step is not eligible, by the number of the first rule it breaks (``_first_broken``); the first
#: rule's reason names the target (``_BEYOND``)
_REASONS = np.array(
    [
        "",
        "",
        "nothing left to recover: the allowed amount equals the billed amount",
        "Federal IDR needs the open negotiation (reconsideration) first",
        "external review needs a written internal appeal first",
    ],
    dtype=object,
)


def _first_broken(claims: LadderClaims, from_level: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The number of the first eligibility rule each (from_level, target) step of each claim breaks, 0 for
    none: 1 the claim is at or beyond the target, 2 nothing is left to recover, 3 Federal IDR before the
    open negotiation, 4 external review before a written internal appeal (reasons in ``_REASONS``)."""
    nsa = claims.nsa
    external = target == _EXTERNAL_REVIEW
    blocked = external & ~((nsa & (from_level >= _RECONSIDERATION)) | (from_level >= _WRITTEN_APPEAL))
    broken = (from_level >= target, claims.current_allowed >= claims.billed, blocked & nsa, blocked & ~nsa)
    shape = np.broadcast_shapes(from_level.shape, target.shape, (len(claims),))
    first = np.zeros(shape, dtype="int64")
    for number in range(len(broken), 0, -1):  # a claim's reason is the first rule it breaks
        first = np.where(broken[number - 1], number, first)
    return first


def steps_allowed(claims: LadderClaims, from_level: np.ndarray | int, target: np.ndarray | Level) -> np.ndarray:
    """``eligibility``'s verdict without deadlines or reasons (for the later steps of a path)."""
    return _first_broken(claims, np.asarray(from_level), np.asarray(target)) == 0


def eligibility(
    claims: LadderClaims,
    from_level: np.ndarray | int,
    target: np.ndarray | Level,
    late: Deadlines | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each claim at ``from_level`` may attempt ``target``, and the reason when it may not.

    ``from_level`` and ``target`` broadcast against the claims: a column of levels (shape (k, 1)) asks k
    questions of every claim at once, and the answers have shape (k, claims). Deadlines (``late``, the
    claims' ``deadlines``) are checked only for the claim's next step, that is for ``from_level`` equal to
    its current level: later steps of a path have no known dates yet.
    """
    from_level, target = np.asarray(from_level), np.asarray(target)
    first = _first_broken(claims, from_level, target)
    reason = _REASONS[first]
    reason = np.where(first == 1, _BEYOND[target], reason)
    ok = first == 0
    if late is not None:
        rows = np.arange(len(claims))  # indexing broadcasts it against ``target``
        missed = ok & late.late[target, rows] & (from_level == claims.current_level)
        ok &= ~missed
        reason = np.where(missed, late.late_reason[target, rows], reason)
    return ok, reason
