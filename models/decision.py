"""The decision rule: the value of each next step, and the best one.

For a claim at level c with allowed amount a, attempting level j is worth
``Q(j) = -cost_j + d(t_j) * [p_j * (E[allowed | success at j] - a) + (1 - p_j) * (V(j) - fee_j)]``,
where V(j) is the best value from level j after a failure (0 = stop), d discounts over the predicted days
and fee_j is the IDR entity fee, paid only on a loss. The recommendation is the argmax, or ``accept`` when
no step is worth more than 0. Vectorised over claims.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.schema import ESCALATION_LEVELS, Level
from models.ladder import LadderClaims, LadderPolicy, eligibility

ACCEPT = "accept"


@dataclass
class StepEstimates:
    """Model estimates for attempting ``level`` from ``from_level`` (arrays over claims)."""

    p_success: np.ndarray
    expected_allowed: np.ndarray  # E[final allowed | success], dollars
    expected_days: np.ndarray


@dataclass
class Decision:
    action: np.ndarray  # level name or "accept" per claim
    expected_net_recovery: np.ndarray
    path: np.ndarray  # the expected path: the recommended step, then the best after each failure ("a > b")
    net_value: dict[Level, np.ndarray]  # Q of each level from the current level (NaN where ineligible)
    eligible: dict[Level, np.ndarray]
    ineligible_reason: dict[Level, np.ndarray]
    expected_recovery: dict[Level, np.ndarray]  # p * (E[allowed | success] - a), before costs
    cost: dict[Level, np.ndarray]


def step_pairs(current_level: np.ndarray) -> list[tuple[int, Level]]:
    """The (from_level, target) pairs the recursion needs for claims at ``current_level``."""
    lowest = int(current_level.min()) if len(current_level) else 0
    return [(start, target) for start in range(lowest, int(Level.legal))
            for target in ESCALATION_LEVELS if target > start]


def decide(claims: pd.DataFrame | LadderClaims, estimates: dict[tuple[int, Level], StepEstimates],
           policy: LadderPolicy) -> Decision:
    """Best next step for each claim, given estimates for every (from_level, target) pair it needs.

    ``claims`` carries ``current_level``, ``current_allowed_amount``, ``billed_amount``, ``nsa_eligible``
    and the dates the deadline rules read (a frame, or those as ``LadderClaims``).
    """
    if isinstance(claims, pd.DataFrame):
        claims = LadderClaims.of(claims)
    n = len(claims)
    current, allowed, nsa = claims.current_level, claims.current_allowed, claims.nsa
    # value[start] = best value after reaching `start` (by failing there); 0 means stop.
    value = {int(Level.legal): np.zeros(n)}
    best_next: dict[int, np.ndarray] = {int(Level.legal): np.full(n, ACCEPT, dtype=object)}
    q_from: dict[int, dict[Level, np.ndarray]] = {}
    lowest = int(current.min()) if n else 0
    # eligibility is decided row by row, so each target's deadline check from the claims' own levels serves
    # every start: a claim's next step is the step from its own level
    next_step = {target: eligibility(claims, current, target, policy, check_deadlines=True)
                 for target in ESCALATION_LEVELS}
    for start in range(int(Level.legal) - 1, lowest - 1, -1):
        from_level = np.full(n, start)
        is_next_step = current == start
        q_start: dict[Level, np.ndarray] = {}
        for target in ESCALATION_LEVELS:
            if target <= start:
                continue
            ok, _ = eligibility(claims, from_level, target, policy, check_deadlines=False)
            if is_next_step.any():
                ok = np.where(is_next_step, next_step[target][0], ok)
            q_start[target] = np.where(ok, _step_value(estimates[(start, target)], target, allowed, nsa,
                                                      value[int(target)], policy), np.nan)
        q_from[start] = q_start
        stacked = np.column_stack([q_start[t] for t in q_start])
        best = np.nanmax(np.where(np.isnan(stacked), -np.inf, stacked), axis=1)
        choice = np.array([t.name for t in q_start], dtype=object)[np.argmax(
            np.where(np.isnan(stacked), -np.inf, stacked), axis=1)]
        value[start] = np.maximum(best, 0.0)
        best_next[start] = np.where(best > 0, choice, ACCEPT)

    rows = np.arange(n)
    action = _by_level(best_next, lowest)[current - lowest, rows]
    net = _by_level(value, lowest)[current - lowest, rows]
    paths = _paths(best_next, current)
    net_value, eligible_map, reasons, recovery, costs = {}, {}, {}, {}, {}
    for target in ESCALATION_LEVELS:
        ok, why = next_step[target]
        eligible_map[target], reasons[target] = ok, why
        q = np.full(n, np.nan)
        rec = np.full(n, np.nan)
        for start in np.unique(current):
            rows = (current == start) & ok
            if target > start and rows.any():
                q[rows] = q_from[int(start)][target][rows]
                step = estimates[(int(start), target)]
                rec[rows] = (step.p_success * np.maximum(step.expected_allowed - allowed, 0.0))[rows]
        net_value[target], recovery[target] = q, rec
        costs[target] = np.full(n, policy.cost_of(target))
    return Decision(action, net, paths, net_value, eligible_map, reasons, recovery, costs)


def _step_value(step: StepEstimates, target: Level, allowed: np.ndarray, nsa: np.ndarray,
                after_failure: np.ndarray, policy: LadderPolicy) -> np.ndarray:
    gain = np.maximum(step.expected_allowed - allowed, 0.0)
    loss_fee = policy.idr_entity_fee * nsa if target is Level.external_review else 0.0
    p = step.p_success
    return -policy.cost_of(target) + policy.discount(step.expected_days) * (
        p * gain + (1.0 - p) * (after_failure - loss_fee)
    )


def _by_level(per_level: dict[int, np.ndarray], lowest: int) -> np.ndarray:
    """Arrays keyed by level stacked into rows lowest..legal, to pick each claim's own level at once."""
    return np.stack([per_level[level] for level in range(lowest, int(Level.legal) + 1)])


def _paths(best_next: dict[int, np.ndarray], current: np.ndarray) -> np.ndarray:
    """The expected path as text: the recommended step, then the best step after each failure."""
    n = len(current)
    rows = np.arange(n)
    lowest = int(current.min()) if n else 0
    choices = _by_level(best_next, lowest)
    numbers = {level.name: int(level) for level in ESCALATION_LEVELS} | {ACCEPT: -1}
    choice_levels = np.array([numbers[choice] for choice in choices.ravel()], dtype="int64").reshape(choices.shape)
    level = current.copy()
    path = np.full(n, "", dtype=object)
    walking = level < int(Level.legal)
    while walking.any():
        at = np.minimum(level, int(Level.legal)) - lowest
        walking &= choice_levels[at, rows] >= 0
        action = choices[at, rows]
        path = np.where(walking & (path != ""), path + " > " + action, np.where(walking, action, path))
        level = np.where(walking, choice_levels[at, rows], level)
        walking &= level < int(Level.legal)
    return path
