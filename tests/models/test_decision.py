"""The decision rule on hand-built estimates, checked against arithmetic done by hand.

Q(j) = -cost_j + d(t_j) * [p_j * (E_j - a) + (1 - p_j) * (V(j) - fee_j)], V(j) = max(0, best Q from j),
fee_j = the IDR entity fee, charged only on a loss and only for NSA claims at external review.
Default costs: reconsideration 25, written appeal 118, peer to peer 250, external review 300 (preparation)
plus, for NSA claims, the Federal IDR administrative fee in force on the filing date ($115 before
2026-06-11, $15 from then on), legal 5000; IDR entity fee 500 (single dispute).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import ESCALATION_LEVELS, Level
from models.calendar import add_business_days
from models.decision import ACCEPT, StepEstimates, decide, step_pairs
from models.ladder import LadderPolicy

R, W, P, X, L = (Level.reconsideration, Level.written_appeal, Level.peer_to_peer, Level.external_review, Level.legal)
NO_DISCOUNT = LadderPolicy(annual_discount_rate=0.0)

#: Per target level: (p_success, E[allowed | success]); the same from every starting level.
#: With a = 300 the gains are 500, 700, 600, 1000 and 20000.
STEPS = {R: (0.3, 800.0), W: (0.4, 1000.0), P: (0.2, 900.0), X: (0.6, 1300.0), L: (0.1, 20300.0)}


def claims_frame(
    *, current_level=0, allowed=300.0, nsa=True, as_of="2025-03-10", paid="2025-03-03", level_date=None, billed=25000.0
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "current_level": [int(current_level)],
            "current_allowed_amount": [allowed],
            "billed_amount": [billed],
            "nsa_eligible": [nsa],
            "as_of_date": pd.to_datetime([as_of]),
            "initial_payment_date": pd.to_datetime([paid]),
            "current_level_date": pd.to_datetime([level_date]),
        }
    )


def estimates_for(claims: pd.DataFrame, steps=STEPS, days: float = 30.0) -> dict:
    return {
        (start, target): StepEstimates(np.array([steps[target][0]]), np.array([steps[target][1]]), np.array([days]))
        for start, target in step_pairs(claims["current_level"].to_numpy())
    }


def path_of(decision) -> list[str]:
    path = decision.path[0]
    if isinstance(path, str):
        return [part for part in path.split(" > ") if part]
    return list(path)


def by_level(values: dict) -> dict[str, float]:
    return {level.name: float(values[level][0]) for level in ESCALATION_LEVELS}


def test_nsa_claim_ladder_by_hand():
    claims = claims_frame(nsa=True)
    decision = decide(claims, estimates_for(claims), NO_DISCOUNT)
    # backwards from legal (a = 300, no discount):
    # from external review: Q(legal) = -5000 + 0.1 * 20000 = -3000 -> V(X) = 0
    # from peer to peer: Q(X) = -415 + 0.6 * 1000 + 0.4 * (0 - 500) = -15 -> V(P) = 0
    # from written appeal: Q(P) = -250 + 0.2 * 600 = -130; Q(X) = -15 -> V(W) = 0
    # from reconsideration: Q(W) = -118 + 0.4 * 700 = 162 -> V(R) = 162 (written appeal)
    # from none: Q(R) = -25 + 0.3 * 500 + 0.7 * 162 = 238.4; Q(W) = -118 + 280 + 0.6 * 0 = 162;
    #            Q(P) = -130; Q(X) ineligible (NSA needs the open negotiation first); Q(legal) = -3000
    net = by_level(decision.net_value)
    assert net["reconsideration"] == pytest.approx(238.4)
    assert net["written_appeal"] == pytest.approx(162.0)
    assert net["peer_to_peer"] == pytest.approx(-130.0)
    assert np.isnan(net["external_review"])
    assert net["legal"] == pytest.approx(-3000.0)
    assert decision.action[0] == "reconsideration"
    assert decision.expected_net_recovery[0] == pytest.approx(238.4)
    assert path_of(decision) == ["reconsideration", "written_appeal"]
    recovery = by_level(decision.expected_recovery)  # p * (E - a), before costs
    assert recovery["reconsideration"] == pytest.approx(150.0)
    assert recovery["written_appeal"] == pytest.approx(280.0)
    assert recovery["peer_to_peer"] == pytest.approx(120.0)
    assert np.isnan(recovery["external_review"])
    assert recovery["legal"] == pytest.approx(2000.0)
    assert by_level(decision.cost) == {
        "reconsideration": 25.0,
        "written_appeal": 118.0,
        "peer_to_peer": 250.0,
        "external_review": 415.0,
        "legal": 5000.0,
    }
    assert not decision.eligible[X][0]
    assert decision.ineligible_reason[X][0] == ("Federal IDR needs the open negotiation (reconsideration) first")
    assert all(decision.eligible[level][0] for level in (R, W, P, L))


def test_non_nsa_claim_ladder_by_hand():
    claims = claims_frame(nsa=False)
    decision = decide(claims, estimates_for(claims), NO_DISCOUNT)
    # no IDR fees (external review costs its preparation only): from P, Q(X) = -300 + 600 = 300 -> V(P) = 300
    # from W: Q(P) = -250 + 120 + 0.8 * 300 = 110; Q(X) = 300 -> V(W) = 300 (external review)
    # from R: Q(W) = -118 + 280 + 0.6 * 300 = 342; Q(P) = 110; Q(X) ineligible before a written appeal
    # from none: Q(R) = -25 + 150 + 0.7 * 342 = 364.4; Q(W) = -118 + 280 + 0.6 * 300 = 342
    net = by_level(decision.net_value)
    assert net["reconsideration"] == pytest.approx(364.4)
    assert net["written_appeal"] == pytest.approx(342.0)
    assert net["peer_to_peer"] == pytest.approx(110.0)
    assert np.isnan(net["external_review"])
    assert decision.ineligible_reason[X][0] == "external review needs a written internal appeal first"
    assert decision.action[0] == "reconsideration"
    assert path_of(decision) == ["reconsideration", "written_appeal", "external_review"]
    assert decision.cost[X][0] == 300.0


@pytest.mark.parametrize(("nsa", "expected_q", "action"), [(True, -15.0, ACCEPT), (False, 300.0, "external_review")])
def test_the_idr_fee_is_charged_only_for_nsa_claims(nsa, expected_q, action):
    """At peer to peer, as of 2025: Q(X) = -300 - 115 + 0.6 * 1000 + 0.4 * (0 - 500) for NSA claims (the
    administrative fee, and the entity fee on a loss), Q(X) = -300 + 0.6 * 1000 otherwise."""
    claims = claims_frame(current_level=P, nsa=nsa)
    decision = decide(claims, estimates_for(claims), NO_DISCOUNT)
    assert decision.net_value[X][0] == pytest.approx(expected_q)
    assert decision.action[0] == action
    assert decision.expected_net_recovery[0] == pytest.approx(max(expected_q, 0.0))
    if action == ACCEPT:
        assert path_of(decision) == []


@pytest.mark.parametrize("p", [0.0, 0.25, 1.0])
def test_the_idr_fee_is_charged_only_on_a_loss(p):
    """Q(X) = -415 + p * 1000 - (1 - p) * 500: a certain win pays no entity fee, a certain loss all of it."""
    steps = STEPS | {X: (p, 1300.0)}
    nsa = claims_frame(current_level=P, nsa=True)
    plain = claims_frame(current_level=P, nsa=False)
    with_fee = decide(nsa, estimates_for(nsa, steps), NO_DISCOUNT).net_value[X][0]
    without_fee = decide(plain, estimates_for(plain, steps), NO_DISCOUNT).net_value[X][0]
    assert with_fee == pytest.approx(-415 + p * 1000 - (1 - p) * 500)
    assert without_fee == pytest.approx(-300 + p * 1000)
    assert without_fee - with_fee == pytest.approx(115 + (1 - p) * 500)
    recovery = decide(nsa, estimates_for(nsa, steps), NO_DISCOUNT).expected_recovery[X][0]
    assert recovery == pytest.approx(p * 1000)  # before costs and fees


def test_the_time_discount():
    """From external review, legal over 365 days at 10%/year: Q = -5000 + (0.5 * 20000) / 1.1."""
    claims = claims_frame(current_level=X)
    steps = STEPS | {L: (0.5, 20300.0)}
    decision = decide(claims, estimates_for(claims, steps, days=365.0), LadderPolicy())
    assert decision.net_value[L][0] == pytest.approx(-5000 + 10000 / 1.1)
    assert decision.action[0] == "legal"
    assert [decision.eligible[level][0] for level in ESCALATION_LEVELS] == [False, False, False, False, True]
    assert decision.ineligible_reason[W][0] == "the claim is already at or beyond written_appeal"


def test_costs_are_configurable():
    claims = claims_frame(current_level=X)
    steps = STEPS | {L: (0.5, 20300.0)}
    cheap = LadderPolicy(annual_discount_rate=0.0, cost=LadderPolicy().cost | {"legal": 100.0})
    decision = decide(claims, estimates_for(claims, steps), cheap)
    assert decision.net_value[L][0] == pytest.approx(-100 + 0.5 * 20000)
    assert decision.cost[L][0] == 100.0


def test_a_lower_allowed_amount_is_never_a_gain():
    """E below the current allowed amount counts as no gain: Q = -cost."""
    claims = claims_frame(current_level=X, allowed=30000.0, billed=40000.0)
    decision = decide(claims, estimates_for(claims), NO_DISCOUNT)
    assert decision.net_value[L][0] == pytest.approx(-5000.0)
    assert decision.expected_recovery[L][0] == 0.0
    assert decision.action[0] == ACCEPT


def test_internal_appeals_must_start_within_180_days_of_payment():
    on_time = claims_frame(nsa=False, paid="2025-01-01", as_of="2025-06-30")  # 180 days
    late = claims_frame(nsa=False, paid="2025-01-01", as_of="2025-07-01")  # 181 days
    assert decide(on_time, estimates_for(on_time), NO_DISCOUNT).eligible[W][0]
    decision = decide(late, estimates_for(late), NO_DISCOUNT)
    for level in (R, W, P):
        assert not decision.eligible[level][0]
        assert decision.ineligible_reason[level][0] == (
            "internal appeals must start within 180 days of the initial payment"
        )
        assert np.isnan(decision.net_value[level][0])
    assert decision.eligible[L][0]  # legal has no such deadline
    assert decision.action[0] == ACCEPT  # legal is worth -3000


def test_nsa_open_negotiation_window_is_30_business_days():
    # the 30 business days begin on the day of the initial payment, Monday 2025-03-03 (day 1); no federal
    # holiday falls in the next six weeks, so day 30 is Friday 2025-04-11
    assert add_business_days(np.array(["2025-03-03"], dtype="datetime64[D]"), 29)[0] == np.datetime64("2025-04-11")
    last_day = claims_frame(nsa=True, paid="2025-03-03", as_of="2025-04-11")
    day_after = claims_frame(nsa=True, paid="2025-03-03", as_of="2025-04-14")
    on_time = decide(last_day, estimates_for(last_day), NO_DISCOUNT)
    assert on_time.eligible[R][0]
    assert on_time.deadline[R][0] == np.datetime64("2025-04-11") and on_time.days_left[R][0] == 0
    decision = decide(day_after, estimates_for(day_after), NO_DISCOUNT)
    assert not decision.eligible[R][0]
    assert decision.days_left[R][0] == -3
    assert decision.ineligible_reason[R][0] == (
        "NSA open negotiation must start within 30 business days of the initial payment"
    )
    assert decision.eligible[W][0]  # the internal appeal window (180 days) is still open
    # the deadline applies to the next step only: the best plan now starts with the written appeal
    assert decision.action[0] == "written_appeal"
    non_nsa = claims_frame(nsa=False, paid="2025-03-03", as_of="2025-04-14")
    assert decide(non_nsa, estimates_for(non_nsa), NO_DISCOUNT).eligible[R][0]


def test_idr_must_start_within_4_business_days_after_open_negotiation():
    # open negotiation started Monday 2025-03-03: its 30th business day is Friday 2025-04-11, and IDR must
    # start in the next 4 business days, by Thursday 2025-04-17
    in_time = claims_frame(current_level=R, nsa=True, paid="2025-03-01", level_date="2025-03-03", as_of="2025-04-17")
    too_late = claims_frame(current_level=R, nsa=True, paid="2025-03-01", level_date="2025-03-03", as_of="2025-04-18")
    no_date = claims_frame(current_level=R, nsa=True, paid="2025-03-01", level_date=None, as_of="2025-04-21")
    decision = decide(in_time, estimates_for(in_time), NO_DISCOUNT)
    assert decision.eligible[X][0] and decision.deadline[X][0] == np.datetime64("2025-04-17")
    assert decision.deadline_rule[X][0].startswith("Federal IDR: 4 business days after the open negotiation")
    decision = decide(too_late, estimates_for(too_late), NO_DISCOUNT)
    assert not decision.eligible[X][0]
    assert decision.ineligible_reason[X][0] == (
        "Federal IDR must start within 4 business days after the open negotiation ends"
    )
    undated = decide(no_date, estimates_for(no_date), NO_DISCOUNT)
    assert undated.eligible[X][0]  # checked only when dated
    assert np.isnat(undated.deadline[X][0]) and np.isnan(undated.days_left[X][0])
    assert undated.deadline_rule[X][0] == (
        "unknown: needs current_level_date, the day open negotiation (reconsideration) started"
    )


def test_claims_are_decided_independently_in_one_call():
    one = claims_frame(nsa=True)
    two = claims_frame(nsa=False)
    both = pd.concat([one, two], ignore_index=True)
    estimates = {
        (start, target): StepEstimates(*(np.repeat(value, 2) for value in (*STEPS[target], 30.0)))
        for start, target in step_pairs(both["current_level"].to_numpy())
    }
    decision = decide(both, estimates, NO_DISCOUNT)
    assert decision.expected_net_recovery == pytest.approx([238.4, 364.4])


def test_a_fully_paid_claim_has_nothing_left_to_recover():
    claims = claims_frame(allowed=25000.0, billed=25000.0)
    decision = decide(claims, estimates_for(claims), LadderPolicy())
    assert decision.action[0] == "accept"
    for level in (R, W, P, X, L):
        assert not decision.eligible[level][0]
        assert decision.ineligible_reason[level][0].startswith("nothing left to recover")
