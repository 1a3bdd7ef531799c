"""Malformed inputs: every problem named by row, column, value and rule; no row lost."""

from __future__ import annotations

import pandas as pd
import pytest

from features.io import TableReadError, read_table
from features.schema import Level
from features.validation import validate_claims, validate_history
from tests.conftest import GOOD_ROWS, HISTORY_HEADER


def validate_file(path):
    table, _ = read_table(path)
    return validate_history(table)


def only_problem(result, row):
    problems = [p for p in result.report.problems if p.row == row]
    assert len(problems) == 1, problems
    return problems[0]


def assert_nothing_lost(result):
    report = result.report
    assert report.rows_kept + report.rows_rejected == report.rows_read
    assert len(result.valid) + len(result.rejected) == report.rows_read


def test_good_file_is_kept_typed_and_defaulted(history_csv):
    result = validate_file(history_csv())
    assert result.report.ok and result.report.rows_kept == 3
    valid = result.valid
    assert valid.loc[1, "payer_id"] == "AETNA"
    assert valid.loc[2, "level"] == Level.external_review
    assert valid.loc[3, "nsa_eligible"] is False or not valid.loc[3, "nsa_eligible"]  # defaults to emergency
    assert valid.loc[3, "modifier"] == "26"
    assert result.report.pending == 1
    assert pd.api.types.is_datetime64_any_dtype(valid["service_date"])


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("billed_amount", "-5", "must be a number > 0 and <= 100,000,000"),
        ("billed_amount", "abc", "must be a number > 0 and <= 100,000,000"),
        ("initial_allowed_amount", "-1", "must be a number >= 0 and <= 100,000,000"),
        ("units", "1.5", "must be a whole number >= 1"),
        ("emergency", "maybe", "must be true or false"),
        ("service_date", "2025-02-30", "must be an ISO date (YYYY-MM-DD) between 1900 and 2199"),
        ("service_date", "02/03/2025", "must be an ISO date (YYYY-MM-DD) between 1900 and 2199"),
        ("service_date", "0156-09-23", "must be an ISO date (YYYY-MM-DD) between 1900 and 2199"),
        ("initial_payment_date", "2263-01-01", "must be an ISO date (YYYY-MM-DD) between 1900 and 2199"),
        ("state", "ZZ", "must be a two-letter USPS state code"),
        ("plan_type", "PLATINUM", "must be one of PPO, HMO, EPO, POS, HDHP, INDIVIDUAL, OTHER, UNKNOWN"),
        ("level", "9", "must be one of reconsideration, written_appeal, peer_to_peer, external_review, legal"),
        ("outcome", "won", "must be one of overturned, partially_overturned, settled, upheld, withdrawn, pending"),
        ("cpt_code", "992", "must be a 5-character CPT/HCPCS code"),
        ("place_of_service", "3", "must be a two-digit CMS place-of-service code"),
    ],
)
def test_bad_value_is_named_by_row_column_value_and_rule(history_csv, column, value, rule):
    header = HISTORY_HEADER.split(",")
    fields = GOOD_ROWS[0].split(",")
    fields[header.index(column)] = value
    fields[0] = "C9"
    result = validate_file(history_csv(",".join(fields)))
    problem = only_problem(result, 4)
    assert (problem.column, problem.value, problem.rule) == (column, value, rule)
    assert str(problem) == f"row 4, column {column!r}, value {value!r}: {rule}"
    assert result.report.rows_kept == 3 and result.report.rows_rejected == 1
    assert list(result.rejected.index) == [4] and rule in result.rejected.loc[4, "errors"]
    assert_nothing_lost(result)


def test_level_accepts_numbers(history_csv):
    fields = GOOD_ROWS[0].split(",")
    fields[0], fields[22] = "C9", "3"
    result = validate_file(history_csv(",".join(fields)))
    assert result.report.ok and result.valid.loc[4, "level"] == Level.peer_to_peer


def test_missing_required_value(history_csv):
    fields = GOOD_ROWS[0].split(",")
    fields[0], fields[1] = "C9", ""
    problem = only_problem(validate_file(history_csv(",".join(fields))), 4)
    assert (problem.column, problem.rule) == ("payer_id", "is required")


def test_cross_field_rules(history_csv):
    row = GOOD_ROWS[0].split(",")
    allowed_over_billed = row.copy()
    allowed_over_billed[0], allowed_over_billed[16] = "C7", "5000"
    resolved_without_amount = row.copy()
    resolved_without_amount[0], resolved_without_amount[26] = "C8", ""
    resolved_before_submitted = row.copy()
    resolved_before_submitted[0], resolved_before_submitted[24] = "C9", "2025-02-01"
    result = validate_file(
        history_csv(*(",".join(r) for r in (allowed_over_billed, resolved_without_amount, resolved_before_submitted)))
    )
    assert only_problem(result, 4).rule == "must not exceed billed_amount"
    assert only_problem(result, 5).rule == "is required when the outcome is resolved"
    assert only_problem(result, 6).rule == "must not be before submitted_date"
    assert_nothing_lost(result)


def test_duplicated_claim_level_rows_are_rejected_after_the_first(history_csv):
    result = validate_file(history_csv(GOOD_ROWS[0]))
    problem = only_problem(result, 4)
    assert problem.rule == "duplicate claim_id and level (first at row 1)"
    assert 1 in result.valid.index and 4 in result.rejected.index


def test_missing_required_column_rejects_every_row(history_csv):
    header = HISTORY_HEADER.replace("billed_amount,", "")
    rows = tuple(",".join(f for i, f in enumerate(r.split(",")) if i != 15) for r in GOOD_ROWS[:2])
    result = validate_file(history_csv(header=header, rows=rows))
    assert [str(p) for p in result.report.file_problems] == [
        "header, column 'billed_amount', value '': required column is missing"
    ]
    assert result.report.rows_rejected == 2 and not result.report.ok
    assert_nothing_lost(result)


def test_unknown_columns_are_reported_and_ignored(history_csv):
    rows = tuple(r + ",x" for r in GOOD_ROWS)
    result = validate_file(history_csv(header=HISTORY_HEADER + ",favourite_colour", rows=rows))
    assert result.report.ok and result.report.unknown_columns == ["favourite_colour"]
    assert "favourite_colour" not in result.valid


def test_header_only_and_empty_files(tmp_path):
    header_only = tmp_path / "header.csv"
    header_only.write_text(HISTORY_HEADER + "\n")
    result = validate_file(header_only)
    assert result.report.rows_read == 0 and not result.report.ok
    assert result.report.file_problems[0].rule == "the file has no data rows"
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")  # no header line: beyond recovery, one file-level error
    with pytest.raises(TableReadError, match=r"empty\.csv: line 1: the file is empty"):
        read_table(empty)


def test_unreadable_inputs_raise_a_clear_error(tmp_path):
    with pytest.raises(TableReadError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(TableReadError, match=r"expected a \.csv or \.parquet"):
        read_table(tmp_path / "notes.txt")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(TableReadError, match="not a readable Parquet file"):
        read_table(tmp_path / "broken.parquet")


def test_parquet_directory_rows_are_numbered_across_parts(history_csv, tmp_path):
    table, _ = read_table(history_csv())
    parts = tmp_path / "parts"
    parts.mkdir()
    table.iloc[:2].to_parquet(parts / "part-0.parquet")
    bad = table.iloc[2:].copy()
    bad["billed_amount"] = "-3"
    bad.to_parquet(parts / "part-1.parquet")
    combined, sources = read_table(parts)
    result = validate_history(combined)
    assert [s.first_row for s in sources] == [1, 3]
    assert only_problem(result, 3).column == "billed_amount"


def test_typed_parquet_values_are_checked_too(tmp_path):
    table, _ = read_table_from_rows()
    table["billed_amount"] = [2400.0, -1.0, 900.0]
    path = tmp_path / "typed.parquet"
    table.to_parquet(path)
    result = validate_file(path)
    assert only_problem(result, 2).rule == "must be a number > 0 and <= 100,000,000"


def read_table_from_rows():
    import io

    frame = pd.read_csv(io.StringIO("\n".join([HISTORY_HEADER, *GOOD_ROWS])), dtype=str, keep_default_na=False)
    return frame, None


def test_scoring_requests_default_current_level_and_allowed():
    frame, _ = read_table_from_rows()
    requests = frame.drop(columns=["level", "submitted_date", "resolved_date", "outcome", "final_allowed_amount"]).iloc[
        [0, 2]
    ]
    requests.index = pd.RangeIndex(1, 3)
    requests["current_level"] = ["", "legal"]
    result = validate_claims(requests)
    assert result.valid.loc[1, "current_level"] == Level.none
    assert result.valid.loc[1, "current_allowed_amount"] == 310
    assert only_problem(result, 2).rule == "legal is the last level: nothing is left to escalate"
    assert_nothing_lost(result)
