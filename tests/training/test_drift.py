"""Drift in the simulated world: payers that turn tougher from a date, payers new to the provider."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.history import derive_attempts
from features.io import read_table
from features.schema import Level
from features.validation import validate_history
from service.cli import app
from training.simulator import simulate_history, simulate_worklist
from training.truth import world_of
from training.world import BehaviourChange, Drift, DriftSpecError, PayerEntry, World

SPEC = "BCBS_TX:all:0.4@2025-01-01,AETNA:written_appeal:0.5@2025-03-01,HUMANA:new@2025-07-01"
BINOMIAL_Z = 4.0


@pytest.fixture(scope="module")
def world() -> World:
    return World(2026, Drift.parse(SPEC))


@pytest.fixture(scope="module")
def history(world) -> pd.DataFrame:
    return simulate_history(20_000, seed=3, world=world)


def _attempt(world: World, payer: str, level: str, on: str) -> pd.DataFrame:
    """One claim of ``payer`` attempting ``level`` on ``on``, as scoring frames give attempts."""
    claim = simulate_worklist(1, seed=0, world=World()).iloc[[0]]
    return claim.assign(payer_id=payer, level=level, submitted_date=pd.Timestamp(on))


def _odds(p: float) -> float:
    return p / (1 - p)


# --- the spec ----------------------------------------------------------------------------------------


def test_a_spec_reads_into_changes_and_entries_and_back():
    drift = Drift.parse(" bcbs_tx:1:0.4@2025-01-01 , HUMANA:new@2025-07-01")
    assert drift.changes == (BehaviourChange("BCBS_TX", int(Level.reconsideration), 0.4, date(2025, 1, 1)),)
    assert drift.entries == (PayerEntry("HUMANA", date(2025, 7, 1)),)
    assert str(drift) == "BCBS_TX:reconsideration:0.4@2025-01-01,HUMANA:new@2025-07-01"
    assert Drift.parse(str(drift)) == drift
    assert not Drift.parse("") and Drift.parse("X:all:2@2025-01-01").changes[0].level is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("BCBS_TX:all:0.4", "drift item 1 'BCBS_TX:all:0.4': expected PAYER:LEVEL:FACTOR@DATE or PAYER:new@DATE"),
        ("BCBS_TX:0.4@2025-01-01", "expected PAYER:LEVEL:FACTOR@DATE"),
        ("BCBS_TX:all:0.4@2025-01-01,AETNA:recon:0.5@2025-01-01", "drift item 2 'AETNA:recon:0.5@2025-01-01': level"),
        ("BCBS_TX:none:0.4@2025-01-01", "level 'none' is not one of reconsideration"),
        ("BCBS_TX:all:-1@2025-01-01", "factor '-1' must be a positive number"),
        ("BCBS_TX:all:tough@2025-01-01", "factor 'tough' must be a positive number"),
        ("BCBS_TX:all:0.4@01/01/2025", "date '01/01/2025' is not an ISO date (YYYY-MM-DD)"),
        ("HUMANA:new@2025-01-01,HUMANA:new@2025-02-01", "payer HUMANA is already new from another date"),
    ],
)
def test_a_bad_spec_names_the_item_the_value_and_the_rule(spec, message):
    with pytest.raises(DriftSpecError, match=re.escape(message)):
        Drift.parse(spec)


def test_a_payer_the_world_does_not_have_is_refused():
    with pytest.raises(DriftSpecError, match="drift names payer NOBODY, which this world does not have"):
        World(2026, Drift.parse("NOBODY:all:0.5@2025-01-01"))


# --- the truth knows the date --------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["reconsideration", "written_appeal", "legal"])
def test_a_changed_payer_is_tougher_from_its_date_by_exactly_the_odds_factor(world, level):
    before = world.truth(_attempt(world, "BCBS_TX", level, "2024-12-31"))["p_success"].iloc[0]
    after = world.truth(_attempt(world, "BCBS_TX", level, "2025-01-01"))["p_success"].iloc[0]
    undrifted = World().truth(_attempt(world, "BCBS_TX", level, "2025-01-01"))["p_success"].iloc[0]
    assert before == pytest.approx(World().truth(_attempt(world, "BCBS_TX", level, "2024-12-31"))["p_success"].iloc[0])
    if before > 0:
        assert _odds(after) / _odds(undrifted) == pytest.approx(0.4, rel=1e-9)


def test_a_change_at_one_level_leaves_the_other_levels_and_payers_alone(world):
    for payer, level in (("AETNA", "reconsideration"), ("CIGNA", "written_appeal")):
        frame = _attempt(world, payer, level, "2025-06-01")
        assert world.truth(frame).equals(World().truth(frame)), (payer, level)
    frame = _attempt(world, "AETNA", "written_appeal", "2025-06-01")
    assert world.truth(frame)["p_success"].iloc[0] < World().truth(frame)["p_success"].iloc[0]


def test_the_history_was_drawn_from_the_drifted_truth(world, history):
    assert world_of(history).describe() == world.describe() == f"2026 {SPEC}"
    attempts = _derived(history)
    np.testing.assert_allclose(world.truth(attempts)["p_success"], attempts["truth_p_success"], rtol=1e-9)
    tx = attempts[(attempts["payer_id"] == "BCBS_TX") & attempts["resolved"] & (attempts["outcome"] != "withdrawn")]
    for after in (False, True):
        rows = tx[(tx["submitted_date"] >= "2025-01-01") == after]
        p = rows["truth_p_success"].to_numpy()
        tolerance = BINOMIAL_Z * np.sqrt(np.sum(p * (1 - p))) / len(p)
        assert abs(rows["success"].mean() - p.mean()) <= tolerance, after
    late, early = (tx[(tx["submitted_date"] >= "2025-01-01") == side]["truth_p_success"].mean() for side in (1, 0))
    assert late < early - 0.05


def _derived(history: pd.DataFrame) -> pd.DataFrame:
    valid = validate_history(history.set_axis(np.arange(1, len(history) + 1)), today=date(2026, 6, 30)).valid
    return derive_attempts(valid)


# --- new payers ------------------------------------------------------------------------------------------


def test_a_new_payer_has_no_claims_before_its_date_and_its_own_behaviour_after(world, history):
    humana = history[history["payer_id"] == "HUMANA"]
    assert len(humana) and (humana["service_date"] >= "2025-07-01").all()
    assert history[history["service_date"] >= "2025-07-01"]["payer_id"].nunique() > 20
    assert simulate_history(20_000, seed=3)["payer_id"].eq("HUMANA").sum() > 5 * len(humana)
    before = simulate_worklist(3_000, seed=1, world=world, as_of=date(2025, 6, 30))
    after = simulate_worklist(3_000, seed=1, world=world, as_of=date(2026, 1, 15))
    assert "HUMANA" not in set(before["payer_id"]) and "HUMANA" in set(after["payer_id"])
    # a new payer behaves as itself, not as the market (the world knows it; the model must learn it)
    frame = _attempt(world, "HUMANA", "reconsideration", "2026-01-15")
    market = frame.assign(payer_id="NOT_A_PAYER")
    assert world.truth(frame)["p_success"].iloc[0] != world.truth(market)["p_success"].iloc[0]


def test_a_world_without_drift_draws_what_it_always_drew():
    assert World().describe() == "2026"
    assert World.described("2026").drift == Drift()
    first = simulate_history(1_000, seed=4)
    assert (first["truth_world"] == "2026").all()


# --- the command ------------------------------------------------------------------------------------------


def test_recoup_simulate_writes_a_drifted_history_and_worklist(tmp_path):
    runner = CliRunner()
    history_path, worklist_path = tmp_path / "history.parquet", tmp_path / "worklist.csv"
    spec = "BCBS_TX:all:0.4@2025-01-01,HUMANA:new@2025-12-01"
    result = runner.invoke(
        app,
        ["simulate", "-o", str(history_path), "--claims", "3000", "--world-seed", "7", "--drift", spec],
    )
    assert result.exit_code == 0, result.output
    history = pd.read_parquet(history_path)
    assert world_of(history).describe() == f"7 {spec}"
    assert (history.loc[history["payer_id"] == "HUMANA", "service_date"] >= "2025-12-01").all()
    args = ["simulate", "-o", str(worklist_path), "--worklist", "500", "--drift", spec, "--as-of", "2026-02-01"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    worklist, _ = read_table(worklist_path)
    assert (worklist["as_of_date"] == "2026-02-01").all() and "HUMANA" in set(worklist["payer_id"])


def test_recoup_simulate_refuses_a_bad_spec_with_the_rule_and_no_traceback(tmp_path):
    result = CliRunner().invoke(app, ["simulate", "-o", str(tmp_path / "x.csv"), "--drift", "BCBS_TX:all:0@2025-01-01"])
    assert result.exit_code == 2
    text = " ".join(re.sub("[\u2500-\u257f]", " ", result.output).split())  # without the box rich draws
    assert "drift item 1 'BCBS_TX:all:0@2025-01-01': factor '0' must be a positive number" in text
    assert "Traceback" not in result.output and not (tmp_path / "x.csv").exists()


def test_simulate_called_as_a_function_keeps_its_defaults(tmp_path):
    """``recoup bootstrap`` calls the command function directly, with the option defaults as they are."""
    from service.cli import simulate

    simulate(output=tmp_path / "h.parquet", claims=300, worklist=None, seed=0)
    assert world_of(pd.read_parquet(tmp_path / "h.parquet")).describe() == "2026"
