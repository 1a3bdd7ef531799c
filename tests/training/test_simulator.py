"""The negotiation simulator: determinism, the data contract, the ladder's rules, and honest truth."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.history import derive_attempts
from features.schema import CLAIM_COLUMN_NAMES, LEVEL_NAMES, REQUEST_TABLE, Level
from features.validation import validate_claims, validate_history
from training.simulator import HISTORY_COLUMNS, TRUTH_COLUMNS, simulate_history, simulate_worklist
from training.world import PAYER_SPECS, World

HISTORY_CLAIMS = 20_000
WORKLIST_CLAIMS = 5_000
VALIDATION_DAY = date(2026, 6, 30)  # after the default worklist's as_of; validation rejects future dates
#: Sampled frequencies must sit within this many binomial standard errors of the truth.
BINOMIAL_Z = 4.0


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.fixture(scope="module")
def history(world) -> pd.DataFrame:
    return simulate_history(HISTORY_CLAIMS, seed=11, world=world)


@pytest.fixture(scope="module")
def attempts(history) -> pd.DataFrame:
    """Validated and derived as training reads them: ``allowed_before``, ``success``, integer levels."""
    valid = validate_history(history.set_axis(np.arange(1, len(history) + 1)), today=VALIDATION_DAY).valid
    return derive_attempts(valid)


@pytest.fixture(scope="module")
def worklist(world) -> pd.DataFrame:
    return simulate_worklist(WORKLIST_CLAIMS, seed=5, world=world)


def _resolved(attempts: pd.DataFrame) -> pd.DataFrame:
    return attempts[attempts["resolved"]]


# --- determinism ----------------------------------------------------------------------------------------


def test_same_seed_same_history_and_another_seed_another():
    first, again = simulate_history(2_000, seed=3), simulate_history(2_000, seed=3)
    pd.testing.assert_frame_equal(first, again)
    assert not simulate_history(2_000, seed=4)["billed_amount"].equals(first["billed_amount"])


def test_same_seed_same_worklist():
    pd.testing.assert_frame_equal(simulate_worklist(1_000, seed=2), simulate_worklist(1_000, seed=2))


def test_payer_behaviours_belong_to_the_world_not_the_sample():
    one, same, other = World(7), World(7), World(8)
    pd.testing.assert_frame_equal(one.payers.frame(), same.payers.frame())
    assert not np.allclose(one.payers.frame()["generosity"], other.payers.frame()["generosity"])


# --- the data contract ----------------------------------------------------------------------------------


def test_history_columns_are_the_contract_plus_truth(history):
    assert tuple(history.columns) == (*CLAIM_COLUMN_NAMES, *HISTORY_COLUMNS, *TRUTH_COLUMNS)
    assert history["claim_id"].nunique() == HISTORY_CLAIMS
    assert history["claim_id"].str.fullmatch(r"C[0-9A-F]{10}").all()
    assert set(history["level"]) == set(LEVEL_NAMES[1:])
    for column in ("service_date", "initial_payment_date", "submitted_date", "resolved_date"):
        assert pd.api.types.is_datetime64_any_dtype(history[column]), column


def test_history_is_contract_valid(history):
    result = validate_history(history.set_axis(np.arange(1, len(history) + 1)), today=VALIDATION_DAY)
    assert result.report.rows_rejected == 0, result.report.to_text()
    assert result.report.truth_columns == sorted(TRUTH_COLUMNS)
    assert result.report.pending > 0 and result.report.withdrawn > 0


def test_worklist_is_contract_valid_and_has_no_truth(worklist):
    assert tuple(worklist.columns) == tuple(column.name for column in REQUEST_TABLE)
    result = validate_claims(worklist.set_axis(np.arange(1, len(worklist) + 1)), today=VALIDATION_DAY)
    assert result.report.rows_rejected == 0, result.report.to_text()
    assert not [name for name in worklist.columns if name.startswith("truth_")]


def test_prior_level_is_what_derivation_finds(history, attempts):
    derived = attempts["prior_level"].map(lambda level: Level(level).name)
    assert (derived.to_numpy() == history["prior_level"].to_numpy()).all()


# --- the ladder's rules ---------------------------------------------------------------------------------


def test_external_review_eligibility_is_never_violated(attempts):
    external = attempts[attempts["level"] == Level.external_review]
    eligible = (external["nsa_eligible"] & (external["prior_level"] >= Level.reconsideration)) | (
        external["prior_level"] >= Level.written_appeal
    )
    assert len(external) > 0 and eligible.all()


def test_each_claim_climbs_and_its_timeline_moves_forward(history):
    by_claim = history.groupby("claim_id", sort=False)
    levels = history["level"].map(lambda name: int(Level[name]))
    assert (levels.groupby(history["claim_id"]).diff().dropna() > 0).all()
    assert (history["initial_payment_date"] >= history["service_date"]).all()
    first = by_claim.head(1)
    assert (first["submitted_date"] >= first["initial_payment_date"]).all()
    previous_resolution = by_claim["resolved_date"].shift(1)
    later = previous_resolution.notna()
    assert (history.loc[later, "submitted_date"] > previous_resolution[later]).all()
    resolved = history["resolved_date"].notna()
    assert (history.loc[resolved, "resolved_date"] >= history.loc[resolved, "submitted_date"]).all()


def test_pending_and_withdrawn_attempts_end_their_claim(history):
    last = history.groupby("claim_id", sort=False).tail(1).index
    stopped = history.index[history["outcome"].isin(["pending", "withdrawn"])]
    assert stopped.isin(last).all()
    pending = history[history["outcome"] == "pending"]
    assert pending["resolved_date"].isna().all() and pending["final_allowed_amount"].isna().all()
    # open at the end of 2025: recent attempts, or lawsuits, which take months to years
    recent = pending["submitted_date"] > pd.Timestamp("2025-01-01")
    assert (recent | (pending["level"] == "legal")).all()


def test_success_raises_the_allowed_amount_and_failure_keeps_it(attempts):
    resolved = _resolved(attempts)
    won = resolved[resolved["outcome"].isin(["overturned", "partially_overturned", "settled"])]
    assert (won["final_allowed_amount"] > won["allowed_before"]).all()
    assert (won["final_allowed_amount"] <= won["billed_amount"]).all()
    upheld = resolved[resolved["outcome"] == "upheld"]
    assert (upheld["final_allowed_amount"] == upheld["allowed_before"]).all()
    assert set(won["outcome"]) == {"overturned", "partially_overturned", "settled"}


def test_every_level_has_rows_to_learn_from_and_legal_is_rare(history):
    shares = history["level"].value_counts(normalize=True)
    assert (history["level"].value_counts() >= 200).all()
    assert 0.01 <= shares["legal"] <= 0.03


def test_denials_have_nothing_allowed_and_nsa_claims_mostly_show_a_qpa(history):
    claims = history.drop_duplicates("claim_id")
    denied = claims["initial_allowed_amount"] == 0
    assert 0.25 <= denied.mean() <= 0.35
    assert claims.loc[denied, "carc_codes"].str.contains("CO-(?:50|16|197|97)").mean() > 0.6
    assert claims.loc[claims["nsa_eligible"], "qpa_amount"].notna().mean() > 0.8
    assert claims.loc[~claims["nsa_eligible"], "qpa_amount"].notna().mean() < 0.1


def test_regional_payers_stay_mostly_at_home(history):
    claims = history.drop_duplicates("claim_id")
    assert len(PAYER_SPECS) >= 30
    for spec in PAYER_SPECS:
        if spec.home_states and spec.payer_id in set(claims["payer_id"]):
            theirs = claims[claims["payer_id"] == spec.payer_id]
            assert theirs["state"].isin(spec.home_states).mean() > 0.6, spec.payer_id


# --- the truth ------------------------------------------------------------------------------------------


def test_truth_is_a_probability_an_amount_above_allowed_and_positive_days(attempts):
    assert attempts["truth_p_success"].between(0, 1).all()
    assert (attempts["truth_expected_allowed"] >= attempts["allowed_before"]).all()
    assert (attempts["truth_expected_allowed"] <= attempts["billed_amount"]).all()
    assert (attempts["truth_expected_days"] > 0).all()


def test_the_history_was_sampled_from_world_truth(world, attempts):
    recomputed = world.truth(attempts)
    for name in ("p_success", "expected_allowed", "expected_days"):
        np.testing.assert_allclose(recomputed[name], attempts[f"truth_{name}"], rtol=1e-9, err_msg=name)


def test_sampled_success_matches_the_truth_at_every_level(attempts):
    resolved = _resolved(attempts)
    for level, rows in resolved.groupby("level"):
        p = rows["truth_p_success"].to_numpy()
        tolerance = BINOMIAL_Z * np.sqrt(np.sum(p * (1 - p))) / len(p)
        assert abs(rows["success"].mean() - p.mean()) <= tolerance, Level(level).name


def test_sampled_amounts_and_days_match_the_truth(world):
    """One attempt repeated many times: the law of large numbers on every part of ``sample_outcomes``."""
    repeats = 40_000
    claim = simulate_history(50, seed=1, world=world).iloc[[0]]
    frame = claim.loc[claim.index.repeat(repeats)].assign(
        level="written_appeal", prior_level="reconsideration", allowed_before=claim["initial_allowed_amount"].iloc[0]
    )
    truth = world.truth(frame.iloc[[0]]).iloc[0]
    drawn = world.sample_outcomes(frame, np.random.default_rng(0))
    p = truth["p_success"]
    assert abs(drawn["success"].mean() - p) <= BINOMIAL_Z * np.sqrt(p * (1 - p) / repeats)
    won = drawn.loc[drawn["success"], "final_allowed_amount"]
    assert won.mean() == pytest.approx(truth["expected_allowed"], rel=0.02)
    assert drawn["days"].mean() == pytest.approx(truth["expected_days"], rel=0.02)


def _one_claim(**overrides) -> pd.DataFrame:
    claim = {
        "claim_id": "C1",
        "payer_id": "AETNA",
        "plan_type": "PPO",
        "funding": "fully_insured",
        "state": "TX",
        "place_of_service": "23",
        "cpt_code": "99285",
        "modifier": None,
        "units": 1,
        "specialty": "emergency_medicine",
        "emergency": True,
        "nsa_eligible": True,
        "network_gap": False,
        "service_date": pd.Timestamp("2025-01-10"),
        "initial_payment_date": pd.Timestamp("2025-02-10"),
        "billed_amount": 1_400.0,
        "initial_allowed_amount": 260.0,
        "qpa_amount": 280.0,
        "carc_codes": "CO-45",
        "has_medical_necessity_letter": False,
        "has_clinical_notes": False,
        "prior_authorization": False,
        "level": "reconsideration",
        "prior_level": "none",
        "allowed_before": 260.0,
        "submitted_date": pd.Timestamp("2025-02-20"),
    }
    claim.update(overrides)
    return pd.DataFrame([claim])


def _p(world: World, **overrides) -> float:
    return float(world.truth(_one_claim(**overrides))["p_success"].iloc[0])


def test_missing_information_folds_early_and_medical_necessity_turns_at_peer_to_peer(world):
    missing_info = {"carc_codes": "CO-16", "initial_allowed_amount": 0.0, "allowed_before": 0.0}
    assert _p(world, **missing_info) > _p(world, **missing_info, level="peer_to_peer")
    necessity = {"carc_codes": "CO-50", "initial_allowed_amount": 0.0, "allowed_before": 0.0, "nsa_eligible": False}
    at_p2p = _p(world, **necessity, level="peer_to_peer")
    assert at_p2p > _p(world, **necessity)
    assert _p(world, **necessity, level="peer_to_peer", has_medical_necessity_letter=True) > at_p2p


def test_idr_is_strong_only_for_nsa_pricing_disputes(world):
    idr = {"level": "external_review", "prior_level": "reconsideration"}
    assert _p(world, **idr) > 0.6
    assert _p(world, **idr) > 2 * _p(world, **idr, nsa_eligible=False)
    assert _p(world, **idr) > 2 * _p(world, **idr, initial_allowed_amount=0.0, allowed_before=0.0, carc_codes="CO-50")


def test_self_funded_plans_are_weaker_at_state_external_review(world):
    review = {
        "level": "external_review",
        "prior_level": "written_appeal",
        "nsa_eligible": False,
        "carc_codes": "CO-50",
        "initial_allowed_amount": 0.0,
        "allowed_before": 0.0,
    }
    assert _p(world, **review, funding="self_funded") < _p(world, **review)


def test_refusals_harden_the_payer_and_stale_claims_weaken(world):
    coding = {"carc_codes": "CO-150", "level": "peer_to_peer", "nsa_eligible": False}
    assert _p(world, **coding, prior_level="written_appeal") < _p(world, **coding)
    assert _p(world, submitted_date=pd.Timestamp("2026-06-01")) < _p(world)


def test_payers_differ_by_level_and_unknown_payers_behave_like_the_market(world):
    appeal = {"level": "written_appeal"}
    by_payer = [_p(world, **appeal, payer_id=spec.payer_id) for spec in PAYER_SPECS]
    assert max(by_payer) - min(by_payer) > 0.2
    unknown = _p(world, **appeal, payer_id="SOME_NEW_PLAN")
    assert min(by_payer) < unknown < max(by_payer)


def test_truth_accepts_scoring_requests(world, worklist):
    """Policy evaluation asks the truth about worklist rows: current level and amount, the as-of date."""
    truth = world.truth(worklist.assign(level=int(Level.legal)))
    assert truth["p_success"].between(0, 1).all() and len(truth) == len(worklist)


# --- the worklist ---------------------------------------------------------------------------------------


def test_worklist_claims_stand_at_the_start_of_the_ladder(worklist):
    assert len(worklist) == WORKLIST_CLAIMS and worklist["claim_id"].is_unique
    shares = worklist["current_level"].value_counts(normalize=True)
    assert set(shares.index) == {"none", "reconsideration", "written_appeal"} and shares["none"] > 0.6
    fresh = worklist[worklist["current_level"] == "none"]
    assert fresh["current_level_date"].isna().all()
    assert (fresh["current_allowed_amount"] == fresh["initial_allowed_amount"]).all()
    worked = worklist[worklist["current_level"] != "none"]
    assert (worked["current_level_date"] >= worked["initial_payment_date"]).all()
    assert (worked["current_level_date"] < worked["as_of_date"]).all()
    assert (worked["current_allowed_amount"] >= worked["initial_allowed_amount"]).all()
    assert (worklist["current_allowed_amount"] <= worklist["billed_amount"]).all()
    assert (worklist["as_of_date"] == pd.Timestamp("2026-01-15")).all()
    assert (worklist["initial_payment_date"] < worklist["as_of_date"]).all()
