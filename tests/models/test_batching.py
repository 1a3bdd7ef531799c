"""Federal IDR batching: who may share a batched dispute, and what sharing its fees does to the decision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import Level
from models.batching import batch_totals, idr_batches
from models.decision import ACCEPT, decide
from models.ladder import IDR_BATCH_SIZE, LadderPolicy
from tests.models.test_decision import NO_DISCOUNT, STEPS, claims_frame, estimates_for

R, W, P, X, L = (Level.reconsideration, Level.written_appeal, Level.peer_to_peer, Level.external_review, Level.legal)

#: A low-dollar emergency claim after open negotiation (a = 300): IDR wins 80% for 700 (a gain of 400); the
#: internal levels and legal are not worth trying.
ED_STEPS = STEPS | {W: (0.05, 700.0), P: (0.05, 700.0), X: (0.8, 700.0), L: (0.01, 700.0)}


def ed_claim(batch_size: float | None = None) -> pd.DataFrame:
    claims = claims_frame(
        current_level=R, nsa=True, paid="2026-10-01", level_date="2026-11-02", as_of="2026-12-01", billed=2400.0
    )
    return claims if batch_size is None else claims.assign(**{IDR_BATCH_SIZE: batch_size})


def test_a_low_dollar_ed_claim_not_worth_idr_alone_is_worth_it_in_a_batch_of_25():
    """As of 2026-12-01 (administrative fee $15), no discount.

    Alone: Q(X) = -(300 + 15) + 0.8 * 400 + 0.2 * (0 - 500) = -95, and every other step loses: accept.
    In a batch of 25: one $15 administrative fee and one $720 batched entity fee for the 25 claims, so
    Q(X) = -(300 + 15 / 25) + 0.8 * 400 + 0.2 * (0 - 720 / 25) = -300.6 + 320 - 5.76 = 13.64.
    """
    alone = decide(ed_claim(), estimates_for(ed_claim(), ED_STEPS), NO_DISCOUNT)
    assert alone.net_value[X][0] == pytest.approx(-95.0)
    assert alone.action[0] == ACCEPT
    batched = decide(ed_claim(25), estimates_for(ed_claim(25), ED_STEPS), NO_DISCOUNT)
    assert batched.net_value[X][0] == pytest.approx(13.64)
    assert batched.cost[X][0] == pytest.approx(300.6)
    assert batched.action[0] == "external_review"
    assert batched.expected_net_recovery[0] == pytest.approx(13.64)


def test_before_the_final_rule_a_batch_of_25_is_not_enough():
    """As of 2026-03-01 ($115): Q(X) = -(300 + 115 / 25) + 320 - 5.76 = 9.64 in a batch, -195 alone."""
    claims = ed_claim(25).assign(as_of_date=pd.to_datetime(["2026-03-01"]), initial_payment_date=pd.NaT)
    claims["current_level_date"] = pd.to_datetime(["2026-02-02"])
    decision = decide(claims, estimates_for(claims, ED_STEPS), NO_DISCOUNT)
    assert decision.net_value[X][0] == pytest.approx(9.64)
    alone = claims.drop(columns=[IDR_BATCH_SIZE])
    assert decide(alone, estimates_for(alone, ED_STEPS), NO_DISCOUNT).net_value[X][0] == pytest.approx(-195.0)


def worklist(n: int, **columns) -> pd.DataFrame:
    """n NSA emergency claims after open negotiation, one payer and plan, served on consecutive days."""
    base = {
        "current_level": int(R),
        "current_allowed_amount": 300.0,
        "billed_amount": 2400.0,
        "nsa_eligible": True,
        "as_of_date": pd.Timestamp("2026-12-01"),
        "initial_payment_date": pd.Timestamp("2026-10-01"),
        "current_level_date": pd.Timestamp("2026-11-02"),
        "payer_id": "AETNA",
        "plan_type": "PPO",
        "cpt_code": "99285",
        "service_date": pd.date_range("2026-09-01", periods=n, freq="D"),
        "state": "TX",
    }
    return pd.DataFrame(base | columns, index=pd.RangeIndex(1, n + 1))


def test_26_claims_make_a_batch_of_25_and_one_claim_alone():
    batches = idr_batches(worklist(26), LadderPolicy())
    assert (batches.batch_id[:25] == "IDR-1").all() and batches.size[:25].tolist() == [25.0] * 25
    assert batches.batch_id[25] == "" and batches.size[25] == 1.0


def test_similar_codes_batch_and_other_families_do_not():
    claims = worklist(4, cpt_code=["99285", "99284", "71045", "99285"])  # ED visits, and a chest X-ray
    batches = idr_batches(claims, LadderPolicy())
    assert batches.batch_id.tolist() == ["IDR-1", "IDR-1", "", "IDR-1"]
    assert batches.size.tolist() == [3.0, 3.0, 1.0, 3.0]


def test_other_payers_plans_and_claims_that_cannot_file_idr_now_stay_alone():
    claims = worklist(6)
    claims.loc[2, "payer_id"] = "CIGNA"
    claims.loc[3, "plan_type"] = "HMO"
    claims.loc[4, "nsa_eligible"] = False
    claims.loc[5, "current_level"] = 0  # open negotiation not yet done
    batches = idr_batches(claims, LadderPolicy())
    assert batches.batch_id.tolist() == ["IDR-1", "", "", "", "", "IDR-1"]


def test_the_batch_window_is_30_business_days_from_its_first_service_date():
    # first service Tuesday 2026-09-01: Labor Day (Sep 7) and Columbus Day (Oct 12) fall in the next
    # weeks, so day 30 is Wednesday 2026-10-14; a claim served the day after opens a new batch
    served = pd.to_datetime(["2026-09-01", "2026-10-14", "2026-10-15", "2026-10-16"])
    batches = idr_batches(worklist(4, service_date=served), LadderPolicy())
    assert batches.batch_id.tolist() == ["IDR-1", "IDR-1", "IDR-3", "IDR-3"]


def test_a_missed_idr_deadline_leaves_a_claim_out():
    claims = worklist(3)
    claims.loc[3, "current_level_date"] = pd.Timestamp("2026-09-01")  # IDR window closed in October
    assert idr_batches(claims, LadderPolicy()).batch_id.tolist() == ["IDR-1", "IDR-1", ""]


def test_batch_totals_add_the_claims_net_values():
    totals = batch_totals(
        np.array(["IDR-1", "IDR-1", "", "IDR-3"], dtype=object),
        np.array([13.64, -2.0, 50.0, np.nan]),
        np.array([True, False, True, False]),
    )
    assert totals.loc["IDR-1"].tolist() == pytest.approx([2, 1, 11.64])
    assert totals.loc["IDR-3"].tolist() == [1, 0, 0.0]
    assert "" not in totals.index


def test_a_batch_prices_only_the_idr_filed_now_not_an_idr_reached_after_a_failure():
    """A claim at reconsideration files IDR now, in its batch. The same claim one level lower (IDR only after
    a failed open negotiation, weeks later) would file it alone: its batch size changes nothing."""
    lower = claims_frame(current_level=Level.none, nsa=True, paid="2026-11-20", as_of="2026-12-01", billed=2400.0)
    alone = decide(lower, estimates_for(lower, ED_STEPS), NO_DISCOUNT)
    batched = lower.assign(**{IDR_BATCH_SIZE: 25.0})
    in_batch = decide(batched, estimates_for(batched, ED_STEPS), NO_DISCOUNT)
    for level in (R, W, P, X, L):  # external review is not eligible from here: NaN in both
        np.testing.assert_array_equal(in_batch.net_value[level], alone.net_value[level])
    assert alone.net_value[R][0] > -np.inf and in_batch.action[0] == alone.action[0]
