"""The rules in force: fees by effective date, deadlines as dates, overrides, old bundles' policies.

Hand-computed with the STEPS of test_decision (a = 300; gains: R 500, W 700, P 600, X 1000, L 20000) and
no time discount. At peer to peer an NSA claim's Federal IDR step is worth
Q(X) = -(300 + admin fee) + 0.6 * 1000 + 0.4 * (0 - 500) = 100 - admin fee.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from features.schema import Level
from models.decision import decide
from models.ladder import LadderClaims, LadderPolicy, deadlines
from models.rules import shipped_rules
from tests.models.test_decision import NO_DISCOUNT, STEPS, claims_frame, estimates_for

R, W, P, X, L = (Level.reconsideration, Level.written_appeal, Level.peer_to_peer, Level.external_review, Level.legal)


@pytest.mark.parametrize(
    ("as_of", "admin_fee", "action"),
    [
        ("2026-03-01", 115.0, "accept"),  # Q(X) = 100 - 115 = -15
        ("2026-06-10", 115.0, "accept"),  # the last day of the $115 fee
        ("2026-06-11", 15.0, "external_review"),  # Q(X) = 100 - 15 = 85: the final rule's effective date
        ("2026-12-01", 15.0, "external_review"),
    ],
)
def test_the_administrative_fee_in_force_on_the_filing_date(as_of, admin_fee, action):
    claims = claims_frame(current_level=P, nsa=True, paid="2026-01-02", as_of=as_of)
    decision = decide(claims, estimates_for(claims), NO_DISCOUNT)
    assert decision.cost[X][0] == pytest.approx(300.0 + admin_fee)
    assert decision.net_value[X][0] == pytest.approx(100.0 - admin_fee)
    assert decision.action[0] == action


@pytest.mark.parametrize(("days", "expected"), [(30.0, 238.4), (60.0, 274.1)])
def test_a_later_step_pays_the_fee_in_force_when_it_would_be_filed(days, expected):
    """Scored 2026-05-01 at level none, every step taking ``days``: a step after reconsideration is filed
    ``days`` later, 2026-05-31 ($115) or 2026-06-30 ($15).

    $115: V(P) = 0, V(W) = 0, V(R) = Q(W) = -118 + 280 = 162, Q(R) = -25 + 150 + 0.7 * 162 = 238.4.
    $15: from P, Q(X) = 85 -> V(P) = 85; from W, Q(X) = 85, Q(P) = -250 + 120 + 0.8 * 85 = -62 -> V(W) = 85;
    from R, Q(W) = -118 + 280 + 0.6 * 85 = 213 -> V(R) = 213; Q(R) = -25 + 150 + 0.7 * 213 = 274.1.
    """
    claims = claims_frame(nsa=True, paid="2026-04-28", as_of="2026-05-01")
    decision = decide(claims, estimates_for(claims, STEPS, days=days), NO_DISCOUNT)
    assert decision.net_value[R][0] == pytest.approx(expected)


def test_settings_overrides_win_over_the_rules_in_force():
    claims = claims_frame(current_level=P, nsa=True, paid="2026-11-02", as_of="2026-12-01")
    policy = NO_DISCOUNT.model_copy(update={"idr_admin_fee": 115.0, "idr_entity_fee": 0.0})
    decision = decide(claims, estimates_for(claims), policy)
    assert decision.net_value[X][0] == pytest.approx(-415 + 600)


def test_the_shipped_rules_and_their_sources():
    rules = shipped_rules()
    fee = rules.value("idr_administrative_fee", np.array(["2024-01-22", "2026-06-10", "2026-06-11"], "datetime64[D]"))
    assert fee.tolist() == [115.0, 115.0, 15.0]
    assert "FR Doc 2026-11140" in rules.citation("idr_administrative_fee", np.datetime64("2026-12-01"))
    assert "88 FR 88494" in rules.citation("idr_administrative_fee", np.datetime64("2026-03-01"))
    in_force = rules.in_force(np.datetime64("2026-12-01")).set_index("rule")
    assert (in_force.loc["idr_entity_fee_single", ["range_low", "range_high"]] == [200, 840]).all()
    assert (in_force.loc["idr_entity_fee_batched", ["range_low", "range_high"]] == [268, 1173]).all()
    assert (in_force.loc["idr_entity_fee_batched_tier", ["range_low", "range_high"]] == [75, 250]).all()
    assert in_force.index.is_unique


def test_batched_fees_are_shared_and_tiered_per_25_line_items():
    policy = LadderPolicy()
    filing = np.full(4, np.datetime64("2026-12-01"))
    fees = policy.idr_fees(filing, np.ones(4, dtype=bool), np.array([1.0, 2.0, 25.0, 26.0]))
    assert fees.admin.tolist() == pytest.approx([15.0, 7.5, 0.6, 15 / 26])
    # single 500; batched 720 up to 25 line items, 720 + 160 for 26-50
    assert fees.entity.tolist() == pytest.approx([500.0, 360.0, 28.8, 880 / 26])
    assert policy.idr_fees(filing[:1], np.zeros(1, dtype=bool), None).admin.tolist() == [0.0]


def ladder_of(claims) -> LadderClaims:
    return LadderClaims.of(claims)


def test_internal_appeal_deadline_is_180_days_from_the_initial_payment():
    claims = claims_frame(nsa=False, paid="2025-01-01", as_of="2025-06-30")
    due = deadlines(ladder_of(claims), LadderPolicy())
    assert due.date[int(W), 0] == np.datetime64("2025-06-30")
    assert due.days_left(ladder_of(claims).as_of)[int(W), 0] == 0
    assert due.rule[int(R), 0].startswith("internal appeal: 180 days from the initial payment")
    assert not due.late[int(W), 0]
    late = claims_frame(nsa=False, paid="2025-01-01", as_of="2025-07-01")
    assert deadlines(ladder_of(late), LadderPolicy()).late[int(W), 0]


def test_a_deadline_without_its_date_says_which_date_is_missing():
    claims = claims_frame(nsa=True, paid=None, as_of="2026-12-01")
    decision = decide(claims, estimates_for(claims), NO_DISCOUNT)
    for level in (R, W, P):
        assert np.isnat(decision.deadline[level][0])
        assert decision.deadline_rule[level][0] == "unknown: needs initial_payment_date"
        assert decision.eligible[level][0]
    assert decision.deadline_rule[L][0].startswith("no filing deadline modelled")


def test_external_review_names_the_state_window():
    claims = claims_frame(current_level=W, nsa=False, paid="2026-10-01", as_of="2026-12-01")
    for state, months in (("CA", 6), ("TX", 4)):
        ladder = LadderClaims.of(claims.assign(state=state))
        rule = deadlines(ladder, LadderPolicy()).rule[int(X), 0]
        assert rule.startswith("unknown: needs the date of the final internal adverse determination")
        assert f"external review {months} months from it" in rule


def test_levels_at_or_below_the_current_one_have_no_deadline():
    claims = claims_frame(current_level=P, nsa=True, paid="2026-11-02", as_of="2026-12-01")
    decision = decide(claims, estimates_for(claims), NO_DISCOUNT)
    for level in (R, W, P):
        assert np.isnat(decision.deadline[level][0]) and decision.deadline_rule[level][0] == ""


def test_policies_pickled_before_the_rules_table_take_the_rules_in_force():
    """A bundle trained before this change carries the 2024 figures as fixed numbers (external review
    415 = 115 + 300 preparation, entity fee 500): its customised figures stay, the old defaults go."""
    policy = LadderPolicy(cost=LadderPolicy().cost | {"legal": 4000.0})
    state = policy.__getstate__()
    fields = {
        name: value for name, value in state["__dict__"].items() if name == "cost" or name == "annual_discount_rate"
    }
    fields["cost"] = fields["cost"] | {"external_review": 415.0}
    fields |= {"idr_entity_fee": 500.0, "internal_appeal_days": 180, "open_negotiation_business_days": 30}
    fields |= {"idr_start_business_days": 4}
    legacy = {**state, "__dict__": fields, "__pydantic_fields_set__": set(fields)}
    revived = LadderPolicy.__new__(LadderPolicy)
    revived.__setstate__(legacy)
    assert revived.cost["external_review"] == 300.0 and revived.cost["legal"] == 4000.0
    assert revived.idr_entity_fee is None and revived.internal_appeal_days is None
    assert pickle.loads(pickle.dumps(revived)) == revived


@pytest.mark.parametrize(
    ("as_of", "eligible"),
    [("2027-01-05", True), ("2027-01-06", False)],  # the IDR deadline, and the day after
)
def test_idr_deadline_across_thanksgiving_christmas_and_new_year(as_of, eligible):
    """Open negotiation started Monday 2026-11-16 (day 1). Its 30 business days skip Thanksgiving (Thu Nov
    26) and Christmas (Fri Dec 25): Nov 16-20 (5), 23-25 (8), 27 (9), Nov 30-Dec 4 (14), 7-11 (19),
    14-18 (24), 21-24 (28), 28 (29), 29 (30). IDR then has 4 business days: Dec 30, Dec 31, New Year's Day
    (Fri Jan 1 2027) skipped, Jan 4, Jan 5."""
    claims = claims_frame(current_level=R, nsa=True, paid="2026-11-16", level_date="2026-11-16", as_of=as_of)
    decision = decide(claims, estimates_for(claims), NO_DISCOUNT)
    assert decision.deadline[X][0] == np.datetime64("2027-01-05")
    assert decision.eligible[X][0] is np.bool_(eligible)
    assert decision.days_left[X][0] == (np.datetime64("2027-01-05") - np.datetime64(as_of)).astype(int)
