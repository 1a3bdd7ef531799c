"""Ranked CSV files are safe to open in a spreadsheet (OWASP's CSV-injection rule) and read back unchanged."""

from __future__ import annotations

import csv
import re

import pandas as pd
import pyarrow as pa
import pytest

from features.io import read_table
from features.validation import validate_claims
from features.values import NUMBER_PATTERN
from service.worklist import score_worklist
from service.worklist.writer import csv_rows
from tests.service import fixtures_worklist
from tests.service.fixtures_worklist import write_parquet_parts

worklist, worklist_bundle = fixtures_worklist.worklist, fixtures_worklist.worklist_bundle  # the fixtures

#: text a spreadsheet would run, and text that only looks like it
HOSTILE_IDS = [
    '=HYPERLINK("http://x","click")',
    "+SUM(A1:A9)",
    "-2+3",
    "@cmd",
    "'=already quoted",
    "''@twice",
    "-5",
    "+12.5",
    "'plain quote",
    "x=1",
]


def _cells(header: bytes, lines: pa.Array) -> list[list[str]]:
    text = (header + b"".join(line.as_py() for line in lines)).decode()
    return list(csv.reader(text.splitlines()))


def test_text_that_starts_a_formula_is_quoted_and_numbers_stay_numbers():
    table = pa.table(
        {
            "note": ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "-12.50", "ok", None],
            "amount": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            "=evil": ["a\x01b", "a\nb", "a\tb", "x", "x", "x", "x", "x", "x"],
        }
    )
    header, lines = csv_rows(table)
    rows = _cells(header, lines)
    assert rows[0] == ["note", "amount", "'=evil"]
    notes = [row[0] for row in rows[1:]]
    assert notes == ['\'=HYPERLINK("http://x")', "'+1+1", "'-2+3", "'@SUM(A1)", "\\tx", "\\rx", "-12.50", "ok", ""]
    assert [row[2] for row in rows[1:4]] == ["a\\x01b", "a\\nb", "a\\tb"]  # control characters escaped
    assert b",-1.5," in lines[0].as_py() and b",-3," in lines[2].as_py()  # unquoted: a spreadsheet's numbers
    assert all(len(row) == 3 for row in rows)  # an escaped newline cannot split a row


@pytest.fixture(scope="module")
def hostile_worklist(worklist) -> pd.DataFrame:
    frame = worklist.head(60).copy()
    frame["claim_id"] = frame["claim_id"].astype(object)
    clean = [position for position in range(len(frame)) if position + 1 not in fixtures_worklist.BAD_ROWS]
    for position, claim_id in zip(clean, HOSTILE_IDS, strict=False):
        frame.iloc[position, frame.columns.get_loc("claim_id")] = claim_id
    frame["payer_note"] = ["=1+1" if i % 2 else "-3" for i in range(len(frame))]  # an unknown column, carried
    return frame


def test_a_ranked_csv_reads_back_into_recoup_unchanged(hostile_worklist, worklist_bundle, tmp_path):
    # Parquet in: the ids are exactly HOSTILE_IDS (a CSV input would itself be read by the escape rule)
    source = write_parquet_parts(hostile_worklist, tmp_path / "worklist", parts=1)
    ranked = tmp_path / "ranked.csv"
    first = score_worklist(source, ranked, worklist_bundle, progress=False)
    assert first.scored > 40

    lines = ranked.read_text().splitlines()
    body = "\n".join(lines[1:])
    assert '"=HYPERLINK' not in body and "'=HYPERLINK" in body  # quoted for the spreadsheet
    risky = [cell for row in csv.reader(lines) for cell in row if cell.startswith(("=", "+", "-", "@"))]
    assert risky and all(re.fullmatch(NUMBER_PATTERN, cell) for cell in risky)  # only plain numbers

    table, _ = read_table(ranked)
    again = validate_claims(table)
    original = validate_claims(read_table(source)[0])
    contract = [name for name in original.valid.columns]
    by_id = original.valid.set_index("claim_id")[[c for c in contract if c != "claim_id"]]
    back = again.valid.set_index("claim_id")[[c for c in contract if c != "claim_id"]]
    assert set(HOSTILE_IDS) <= set(back.index)
    pd.testing.assert_frame_equal(back.sort_index(), by_id.loc[back.index].sort_index(), check_like=True)
    assert set(back.index) == set(by_id.index)

    rescored = tmp_path / "rescored.csv"
    second = score_worklist(ranked, rescored, worklist_bundle, progress=False)
    assert (second.scored, second.rejected) == (first.scored, 0)
    scores = ["claim_id", "recommended_action", "expected_net_recovery"]
    before = pd.read_csv(ranked, dtype=str, keep_default_na=False)[scores]
    after = pd.read_csv(rescored, dtype=str, keep_default_na=False)[scores]
    pd.testing.assert_frame_equal(before, after)
    carried = pd.read_csv(rescored, dtype=str, keep_default_na=False)["payer_note"]
    assert set(carried) == {"'=1+1", "-3"}  # still escaped on the second write, a number left alone


def test_the_rejects_and_batches_writer_escapes_the_header_too(tmp_path):
    from service.worklist.writer import _TableWriter

    table = pa.table({"=evil": ["=1+1", "x"], "amount": [1.0, -2.0], "code": pa.array(["a", "@b"]).dictionary_encode()})
    path = tmp_path / "rejects.csv"
    with _TableWriter(path, table.schema) as writer:
        writer.write(table)
    rows = list(csv.reader(path.read_text().splitlines()))
    assert rows == [["'=evil", "amount", "code"], ["'=1+1", "1", "a"], ["x", "-2", "'@b"]]
    assert read_table(path)[0].columns.tolist() == ["=evil", "amount", "code"]
