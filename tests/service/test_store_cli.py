"""``recoup outcomes import`` and ``recoup score --record`` against a real store and MLflow registry."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from features.store import Store
from service.cli import app

runner = CliRunner()


def test_outcomes_import_is_all_or_nothing_and_idempotent(history_csv, store_uri):
    path = history_csv()
    first = runner.invoke(app, ["outcomes", "import", str(path), "--store-uri", store_uri])
    assert first.exit_code == 0, first.output
    assert "3 inserted, 0 updated, 0 unchanged" in first.output
    again = runner.invoke(app, ["outcomes", "import", str(path), "--store-uri", store_uri])
    assert "0 inserted, 0 updated, 3 unchanged" in again.output
    bad = history_csv(
        "C8,aetna,PPO,self_funded,TX,23,99285,,1,emergency_medicine,true,true,false,2025-01-02,2025-02-01,"
        "2400,310,350,CO-45,false,true,false,reconsideration,2025-02-10,2025-01-01,upheld,310"
    )
    rejected = runner.invoke(app, ["outcomes", "import", str(bad), "--store-uri", store_uri])
    assert rejected.exit_code == 1
    assert "row 4, column 'resolved_date', value '2025-01-01': must not be before submitted_date" in rejected.output
    store = Store.open(store_uri)
    assert store.counts()["attempts"] == 3 and store.claim("C8") is None
    store.close()


def test_outcomes_import_reports_conflicts_by_row_and_column(history_csv, store_uri):
    runner.invoke(app, ["outcomes", "import", str(history_csv()), "--store-uri", store_uri])
    changed = history_csv(
        rows=(
            "C1,aetna,PPO,self_funded,TX,23,99285,,1,emergency_medicine,true,true,false,2025-01-02,2025-02-01,"
            "2400,310,350,CO-45,false,true,false,external_review,2025-03-20,2025-05-01,settled,1200",
        )
    )
    result = runner.invoke(app, ["outcomes", "import", str(changed), "--store-uri", store_uri])
    assert result.exit_code == 1
    assert "row 1, column final_allowed_amount: differs from the resolved attempt" in result.output


def test_score_record_stores_each_ranked_claim_as_a_worklist_prediction(model_store, tmp_path):
    from training.simulator import simulate_worklist

    worklist = tmp_path / "worklist.csv"
    simulate_worklist(40, seed=3).to_csv(worklist, index=False, date_format="%Y-%m-%d")
    store_uri = f"sqlite:///{tmp_path / 'store.db'}"
    output = tmp_path / "ranked.csv"
    arguments = ["score", str(worklist), "-o", str(output), "--jobs", "1", "--record", "--store-uri", store_uri]
    result = runner.invoke(app, [*arguments, "--tracking-uri", model_store.tracking_uri])
    assert result.exit_code == 0, result.output
    assert f"recorded 40 predictions of recoup v{model_store.version}" in result.output
    store = Store.open(store_uri)
    predictions = store.read_predictions()
    ranked = pd.read_csv(output)
    assert len(predictions) == 40 and set(predictions["source"]) == {"worklist"}
    merged = predictions.merge(ranked, on="claim_id", suffixes=("", "_ranked"))
    assert (merged["recommended_action"] == merged["recommended_action_ranked"]).all()
    assert (merged["p_success_written_appeal"] - merged["p_success_written_appeal_ranked"]).abs().max() < 1e-9
    store.close()
