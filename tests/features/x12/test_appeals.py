"""The appeals log into history: header aliases, the join, and final amounts from 835 re-adjudications."""

from __future__ import annotations

import pandas as pd

from features.validation import validate_history
from features.x12 import ImportOptions, import_x12
from tests.features.x12.test_reversals_and_screening import DEFAULTS, files, paid


def test_a_log_in_the_billing_teams_spelling_becomes_a_valid_history(tmp_path):
    paths = files(
        tmp_path,
        ("20250301", [paid("A", 300.0), paid("B", 200.0), paid("C", 250.0)]),
        ("20250601", [paid("A", 300.0, status="22"), paid("A", 700.0, icn="ICN2")]),  # A won its written appeal
    )
    log = tmp_path / "appeals.csv"
    log.write_text(
        "Claim ID,Appeal Level,Date Submitted,Date Resolved,Result,Final Allowed,Network Gap\n"
        "A,Reconsideration,2025-03-10,2025-04-01,Upheld,,yes\n"  # nothing re-adjudicated: unchanged
        "A,Written Appeal,2025-04-15,,,,\n"  # the 835 of 2025-06-01 gives final, date and outcome
        "B,P2P,2025-03-12,2025-05-01,settled,450,\n"  # the log's own amount wins
        "C,1,2025-03-15,,pending,,\n"
        "Z,reconsideration,2025-03-15,,pending,,\n"  # no such claim: reported
    )
    imported = import_x12(paths, ImportOptions(defaults=DEFAULTS), appeals=log)
    history = imported.history
    assert history[["claim_id", "level", "outcome"]].values.tolist() == [
        ["A", "reconsideration", "upheld"],
        ["A", "written_appeal", "partially_overturned"],
        ["B", "peer_to_peer", "settled"],
        ["C", "reconsideration", "pending"],
    ]
    assert history["final_allowed_amount"].tolist()[:3] == [300.0, 700.0, 450.0]
    assert pd.isna(history["final_allowed_amount"].iloc[3])
    assert str(history["resolved_date"].iloc[1].date()) == "2025-06-01"
    assert history["network_gap"].tolist() == [True, True, False, False]  # a claim column the log carries
    (entry,) = imported.report.errors
    assert entry.claim_id == "Z" and "not among the imported claims" in entry.rule and entry.detail == "row 5"
    assert any("'Date Submitted' read as submitted_date" in note for note in imported.report.notes)
    assert validate_history(history).report.ok  # what `recoup validate` checks
