"""The decision rule: the value of each next step, and the best one.

For a claim at level c with allowed amount a, attempting level j is worth
``Q(j) = -cost_j + d(t_j) * [p_j * (E[allowed | success at j] - a) + (1 - p_j) * (V(j) - fee_j)]``,
where V(j) is the best value from level j after a failure (0 = stop), d discounts over the predicted days
and fee_j is the IDR entity fee, paid only on a loss. Federal IDR fees are those in force on the step's
expected filing date, and a claim in an IDR batch pays its share of the batch's fees. The recommendation
is the argmax, or ``accept`` when no step is worth more than 0. Vectorised over claims and over the steps
from one level, so one claim costs a few dozen array operations, not a few hundred.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from features.schema import ESCALATION_LEVELS, LEVEL_NAMES, Level
from models.ladder import Deadlines, LadderClaims, LadderPolicy, deadlines, eligibility, steps_allowed

ACCEPT = "accept"
#: The ladder's level numbers, in order
LEVEL_NUMBERS = np.array([int(level) for level in ESCALATION_LEVELS])
#: A step's name by level number; -1 (the last entry) is ``accept``
_ACTION_NAMES = np.array([*LEVEL_NAMES, ACCEPT], dtype=object)
_EXTERNAL_REVIEW = int(Level.external_review)  # a plain int: comparing arrays with IntEnum members is slow


@dataclass
class StepEstimates:
    """Model estimates for attempting ``level`` from ``from_level`` (arrays over claims)."""

    p_success: np.ndarray
    expected_allowed: np.ndarray  # E[final allowed | success], dollars
    expected_days: np.ndarray


@dataclass(frozen=True)
class StepGrid:
    """Estimates for the (from_level, target) ``pairs`` of ``step_pairs``, each a (pairs, claims) array."""

    pairs: tuple[tuple[int, Level], ...]
    p_success: np.ndarray
    expected_allowed: np.ndarray
    expected_days: np.ndarray

    @classmethod
    def of(cls, estimates: Mapping[tuple[int, Level], StepEstimates]) -> StepGrid:
        pairs = tuple(sorted(estimates))
        return cls(
            pairs,
            *(
                np.stack([getattr(estimates[pair], name) for pair in pairs])
                for name in ("p_success", "expected_allowed", "expected_days")
            ),
        )

    @property
    def layout(self) -> PairLayout:
        return pair_layout(self.pairs)


@dataclass(frozen=True)
class PairLayout:
    """``pairs`` as arrays: each pair's from_level and target, a (levels, levels) table of the position in
    ``pairs`` of each (from_level, target), -1 where absent, and the pairs from each level (a slice: pairs
    are ordered by from_level)."""

    starts: np.ndarray
    targets: np.ndarray
    position: np.ndarray
    by_start: dict[int, slice]


@cache
def pair_layout(pairs: tuple[tuple[int, Level], ...]) -> PairLayout:
    position = np.full((len(Level), len(Level)), -1)
    for index, (start, target) in enumerate(pairs):
        position[start, int(target)] = index
    starts = np.array([start for start, _ in pairs], dtype="int64")
    if np.any(np.diff(starts) < 0):
        raise ValueError("pairs must be ordered by from_level")
    by_start = {
        int(start): slice(int(np.searchsorted(starts, start)), int(np.searchsorted(starts, start, "right")))
        for start in np.unique(starts)
    }
    layout = PairLayout(starts, np.array([int(target) for _, target in pairs], dtype="int64"), position, by_start)
    for table in (layout.starts, layout.targets, layout.position):
        table.flags.writeable = False  # shared by every caller
    return layout


@dataclass
class Decision:
    action: np.ndarray  # level name or "accept" per claim
    expected_net_recovery: np.ndarray
    path: list[tuple[str, ...]]  # the expected path: the recommended step, then the best after each failure
    net_value: dict[Level, np.ndarray]  # Q of each level from the current level (NaN where ineligible)
    eligible: dict[Level, np.ndarray]
    ineligible_reason: dict[Level, np.ndarray]
    expected_recovery: dict[Level, np.ndarray]  # p * (E[allowed | success] - a), before costs
    cost: dict[Level, np.ndarray]  # of the next step to each level, fees in force on its filing date included
    deadline: dict[Level, np.ndarray]  # last day to start the level as the next step (datetime64[D], NaT: none)
    days_left: dict[Level, np.ndarray]  # days from as_of to the deadline (NaN: none or unknown)
    deadline_rule: dict[Level, np.ndarray]  # the rule that set the deadline, or which date it needs


def step_pairs(current_level: np.ndarray) -> tuple[tuple[int, Level], ...]:
    """The (from_level, target) pairs the recursion needs for claims at ``current_level``, by from_level
    then target."""
    return _pairs_from(int(current_level.min()) if len(current_level) else 0)


@cache
def _pairs_from(lowest: int) -> tuple[tuple[int, Level], ...]:
    return tuple(
        (start, target) for start in range(lowest, int(Level.legal)) for target in ESCALATION_LEVELS if target > start
    )


@dataclass(frozen=True)
class StepEligibility:
    """Which steps each claim may take. ``steps``: every pair of a ``PairLayout`` (pairs, claims), the
    claim's next steps with their deadlines checked and later steps without (they have no dates yet);
    ``next_ok`` and ``next_reason``: the next step to each level (levels, claims); ``deadlines``: the
    claims' deadlines, which the next steps were checked against."""

    steps: np.ndarray
    next_ok: np.ndarray
    next_reason: np.ndarray
    deadlines: Deadlines


def step_eligibility(claims: LadderClaims, layout: PairLayout, policy: LadderPolicy) -> StepEligibility:
    due = deadlines(claims, policy)
    next_ok, next_reason = eligibility(claims, claims.current_level, LEVEL_NUMBERS[:, None], due)
    later_ok = steps_allowed(claims, layout.starts[:, None], layout.targets[:, None])
    steps = np.where(layout.starts[:, None] == claims.current_level, next_ok[layout.targets - 1], later_ok)
    return StepEligibility(steps, next_ok, next_reason, due)


def filing_dates(claims: LadderClaims, layout: PairLayout, expected_days: np.ndarray) -> np.ndarray:
    """When each step (pairs, claims) would be filed: the next steps on ``as_of``, a later step once the
    step that reaches its starting level directly from the claim's level is expected to resolve."""
    rows = np.arange(len(claims))
    reaching = layout.position[claims.current_level, layout.starts[:, None]]  # -1 where start <= current level
    days = np.where(reaching >= 0, expected_days[reaching, rows], 0.0)
    # unknown days (NaN, +inf) as none; ``np.where`` rather than ``np.nan_to_num``, whose checks cost more
    # than the arithmetic for a claim's steps (days are at least 1: never -inf)
    days = np.where(np.isnan(days) | (days == np.inf), 0.0, days)
    return claims.as_of + np.rint(days).astype("int64").astype("timedelta64[D]")


def decide(
    claims: pd.DataFrame | LadderClaims,
    estimates: Mapping[tuple[int, Level], StepEstimates] | StepGrid,
    policy: LadderPolicy,
    eligible: StepEligibility | None = None,
) -> Decision:
    """Best next step for each claim, given estimates for every (from_level, target) pair it needs.

    ``claims`` carries ``current_level``, ``current_allowed_amount``, ``billed_amount``, ``nsa_eligible``
    and the dates the deadline rules read (a frame, or those as ``LadderClaims``); ``eligible`` is
    ``step_eligibility`` of the claims, when the caller has it already.
    """
    if isinstance(claims, pd.DataFrame):
        claims = LadderClaims.of(claims)
    grid = estimates if isinstance(estimates, StepGrid) else StepGrid.of(estimates)
    layout = grid.layout
    eligible = eligible or step_eligibility(claims, layout, policy)
    n = len(claims)
    rows = np.arange(n)
    current, allowed = claims.current_level, claims.current_allowed
    targets = layout.targets
    cost_by_level = np.array([policy.cost_of(level) for level in ESCALATION_LEVELS])
    # the Federal IDR fees in force on each step's filing date (NSA claims only), shared within a batch
    # when IDR is the claim's next step: a batch is formed for filing now, and an IDR reached later, after
    # a failure, is filed alone
    idr = targets == _EXTERNAL_REVIEW
    batch_size = claims.idr_batch_size
    if batch_size is not None:
        batch_size = np.where(layout.starts[idr][:, None] == current, batch_size, 1.0)
    fees = policy.idr_fees(filing_dates(claims, layout, grid.expected_days)[idr], claims.nsa, batch_size)
    cost = np.repeat(cost_by_level[targets - 1][:, None], n, axis=1)
    cost[idr] += fees.admin
    loss_fee = np.zeros((len(targets), n))
    loss_fee[idr] = fees.entity
    gain = grid.p_success * np.maximum(grid.expected_allowed - allowed, 0.0)
    discount, failure = policy.discount(grid.expected_days), 1.0 - grid.p_success
    blocked = ~eligible.steps
    q = np.empty((len(layout.starts), n))
    # value[level] = best value after reaching `level` (by failing there), 0 meaning stop; best_next[level]
    # = the step then taken, as a level number, -1 for accept
    value = np.zeros((len(Level), n))
    best_next = np.full((len(Level), n), -1)
    for start in range(int(Level.legal) - 1, (int(current.min()) if n else 0) - 1, -1):
        block = layout.by_start[start]
        after_failure = value[targets[block]] - loss_fee[block]
        q[block] = discount[block] * (gain[block] + failure[block] * after_failure) - cost[block]
        candidates = np.where(blocked[block] | np.isnan(q[block]), -np.inf, q[block])
        pick = np.argmax(candidates, axis=0)
        best = candidates[pick, rows]
        value[start] = np.maximum(best, 0.0)
        best_next[start] = np.where(best > 0, targets[block][pick], -1)
    q[blocked] = np.nan  # the value of a step the claim may not take

    # each level's numbers from the claim's own level (NaN where it is at or beyond the level, or ineligible)
    own = layout.position[current, LEVEL_NUMBERS[:, None]]
    reachable = (own >= 0) & eligible.next_ok
    net_value = np.where(reachable, q[own, rows], np.nan)
    recovery = np.where(reachable, gain[own, rows], np.nan)
    # the cost of each level from the claim's own level (the base cost where the claim cannot reach it)
    costs = np.where(own >= 0, cost[own, rows], cost_by_level[:, None])
    due = eligible.deadlines
    return Decision(
        _ACTION_NAMES[best_next[current, rows]],
        value[current, rows],
        _paths(best_next, current),
        *(
            dict(zip(ESCALATION_LEVELS, table, strict=True))
            for table in (
                net_value,
                eligible.next_ok,
                eligible.next_reason,
                recovery,
                costs,
                due.date[LEVEL_NUMBERS],
                due.days_left(claims.as_of)[LEVEL_NUMBERS],
                due.rule[LEVEL_NUMBERS],
            )
        ),
    )


def _paths(best_next: np.ndarray, current: np.ndarray) -> list[tuple[str, ...]]:
    """The expected path as levels: the recommended step, then the best step after each failure.

    A claim's path follows from its level and the step chosen after failing at each level below legal, so
    those are packed into one number (base 7: level 0-5, steps -1-5 shifted up by one) and each distinct
    number is followed once.
    """
    digits = np.concatenate((current[None, :], best_next[: int(Level.legal)] + 1))
    packed = (7 ** np.arange(len(digits))) @ digits
    if len(packed) == 1:  # one claim: nothing to share
        return [_path_levels(int(packed[0]))]
    distinct, inverse = np.unique(packed, return_inverse=True)
    paths = [_path_levels(int(number)) for number in distinct.tolist()]
    return [paths[position] for position in inverse.ravel().tolist()]


@cache
def _path_levels(packed: int) -> tuple[str, ...]:
    level, chosen = packed % 7, [(packed // 7 ** (position + 1)) % 7 - 1 for position in range(int(Level.legal))]
    steps = []
    while level < int(Level.legal) and chosen[level] >= 0:
        level = chosen[level]
        steps.append(LEVEL_NAMES[level])
    return tuple(steps)
