"""The store on SQLite and on PostgreSQL: migrations, claims upserts, idempotent outcomes, conflicts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from features.io import read_table
from features.outcomes import import_outcomes
from features.store import PREDICTION_COLUMNS, Store, default_store_uri, metadata


def _table(history_csv, *extra: str, **kwargs) -> pd.DataFrame:
    return read_table(history_csv(*extra, **kwargs))[0]


def test_migrations_build_the_declared_schema_and_rerun_as_no_ops(store, store_uri):
    inspector = sa.inspect(store.engine)
    for table in metadata.tables.values():
        assert {column["name"] for column in inspector.get_columns(table.name)} == set(table.columns.keys())
    Store.open(store_uri).close()  # opening again finds the schema at head
    with store.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM recoup_store_version")).scalar_one() == "0001"


def test_default_store_sits_beside_a_sqlite_tracking_store():
    assert default_store_uri("sqlite:////srv/data/mlflow.db") == "sqlite:////srv/data/recoup-store.db"
    assert default_store_uri("http://mlflow:5000") == "sqlite:///recoup-store.db"
    assert default_store_uri(None) == "sqlite:///recoup-store.db"


def test_outcomes_are_idempotent_and_a_pending_attempt_can_be_resolved(store, history_csv):
    first = import_outcomes(store, _table(history_csv))
    assert first.stored and [c.status for c in first.changes.changes] == ["inserted"] * 3
    again = import_outcomes(store, _table(history_csv))
    assert [c.status for c in again.changes.changes] == ["unchanged"] * 3
    resolved = (
        "C2,CIGNA,HMO,fully_insured,FL,22,74177,26,1,radiology,false,,false,2025-03-05,2025-04-01,"
        '900,0,,"CO-50,PR-2",true,false,false,written_appeal,2025-04-15,2025-06-01,overturned,700'
    )
    update = import_outcomes(store, _table(history_csv, rows=(resolved,)))
    (change,) = update.changes.changes
    assert change.status == "updated" and set(change.fields) == {"resolved_date", "outcome", "final_allowed_amount"}
    record = store.claim("C2")
    (attempt,) = record["attempts"]
    assert attempt["outcome"] == "overturned" and attempt["final_allowed_amount"] == 700
    assert store.counts() == {"claims": 2, "attempts": 3, "predictions": 0}


def test_a_changed_resolved_attempt_is_a_conflict_and_nothing_is_stored(store, history_csv):
    import_outcomes(store, _table(history_csv))
    changed = (
        "C1,aetna,PPO,self_funded,TX,23,99285,,1,emergency_medicine,true,true,false,2025-01-02,2025-02-01,"
        "2400,310,350,CO-45,false,true,false,reconsideration,2025-02-10,2025-03-01,settled,900"
    )
    new_claim = (
        "C9,aetna,PPO,self_funded,TX,23,99285,,1,emergency_medicine,true,true,false,2025-01-02,2025-02-01,"
        "2400,310,350,CO-45,false,true,false,reconsideration,2025-02-10,,pending,"
    )
    result = import_outcomes(store, _table(history_csv, rows=(new_claim, changed)))
    (conflict,) = result.conflicts
    assert (conflict.row, conflict.claim_id, conflict.level) == (2, "C1", "reconsideration")
    assert set(conflict.fields) == {"outcome", "final_allowed_amount"}
    assert store.claim("C9") is None  # all or nothing
    assert store.counts()["attempts"] == 3


def test_rejected_rows_store_nothing_and_keep_the_files_messages(store, history_csv):
    bad = (
        "C7,aetna,PPO,self_funded,TX,23,99285,,1,emergency_medicine,true,true,false,2025-01-02,2025-02-01,"
        "2400,310,350,CO-45,false,true,false,reconsideration,2025-02-10,2025-03-01,won,310"
    )
    result = import_outcomes(store, _table(history_csv, bad))
    assert result.rejected and not result.stored
    (problem,) = result.validation.report.problems
    assert (problem.row, problem.column, problem.value) == (4, "outcome", "won")
    assert store.counts()["attempts"] == 0


def _claim(claim_id: str) -> dict:
    return {
        "claim_id": claim_id, "payer_id": "AETNA", "plan_type": "PPO", "funding": "unknown", "state": "TX",
        "place_of_service": "23", "cpt_code": "99285", "modifier": None, "units": 1, "specialty": None,
        "emergency": True, "nsa_eligible": True, "network_gap": False, "service_date": date(2025, 1, 2),
        "initial_payment_date": None, "billed_amount": 2400.0, "initial_allowed_amount": 310.0,
        "qpa_amount": None, "carc_codes": "CO-45", "has_medical_necessity_letter": False,
        "has_clinical_notes": False, "prior_authorization": False,
    }  # fmt: skip


def test_predictions_are_stored_with_their_claim_and_read_back(store):
    claim = _claim("C5")
    prediction = {
        "claim_id": "C5", "model_name": "recoup", "model_version": "3", "source": "api",
        "served_at": datetime.now(UTC), "as_of_date": date(2025, 2, 1), "current_level": 0,
        "current_allowed_amount": 310.0, "recommended_action": "reconsideration", "expected_net_recovery": 412.5,
        "p_success_reconsideration": 0.41, "eligible_reconsideration": True,
    }  # fmt: skip
    store.record_predictions([claim], [prediction, prediction | {"model_version": "4"}])
    store.record_predictions([claim | {"billed_amount": 2500.0}], [])
    record = store.claim("C5")
    assert record["claim"]["billed_amount"] == 2500.0  # upserted by claim_id: the latest values win
    assert [p["model_version"] for p in record["predictions"]] == ["3", "4"]
    frame = store.read_predictions(since=date(2025, 1, 1))
    assert len(frame) == 2 and set(PREDICTION_COLUMNS) <= set(frame.columns)
    assert frame["p_success_reconsideration"].tolist() == [0.41, 0.41]
    assert store.read_predictions(since=date(2025, 3, 1)).empty


def test_history_reads_back_in_the_contract(store, history_csv):
    from features.validation import validate_history

    import_outcomes(store, _table(history_csv))
    history = store.read_history()
    result = validate_history(history)
    assert result.report.ok and len(result.valid) == 3
    assert sorted(history["level"]) == ["external_review", "reconsideration", "written_appeal"]
    assert len(store.read_history(since=date(2025, 3, 15))) == 2


@pytest.mark.postgres
def test_two_stores_opening_one_new_database_at_once_both_succeed(fresh_postgres_uri):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: Store.open(fresh_postgres_uri), range(4)))
    assert all(opened.counts()["claims"] == 0 for opened in stores)
    for opened in stores:
        opened.close()


@pytest.mark.postgres
def test_two_writers_upserting_overlapping_claims_in_opposite_orders_both_commit(fresh_postgres_uri):
    """Two replicas recording the same worklist, one in reverse order: without one global write order
    each transaction holds row locks the other waits on, and PostgreSQL aborts one as a deadlock."""
    import threading

    first, second = Store.open(fresh_postgres_uri), Store.open(fresh_postgres_uri)
    worklist = [_claim(f"C{number:05d}") for number in range(3000)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(store: Store, rows: list[dict]) -> None:
        try:
            for _ in range(3):
                start.wait()
                store.record_predictions(rows, [])
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
            start.abort()

    writers = [
        threading.Thread(target=write, args=(first, worklist)),
        threading.Thread(target=write, args=(second, worklist[::-1])),
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    try:
        assert errors == []
        assert first.counts()["claims"] == len(worklist)
    finally:
        first.close()
        second.close()
