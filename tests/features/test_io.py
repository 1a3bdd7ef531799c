"""Readers that account for every line: encoding, ragged lines, quotes, duplicated columns, Parquet schemas."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.io import READ_ERROR_COLUMN, TableReadError, iter_table_chunks, read_table
from features.validation import validate_history
from tests.conftest import GOOD_ROWS, HISTORY_HEADER

WIDTH = HISTORY_HEADER.count(",") + 1


def write_lines(path, *lines: str | bytes):
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n")
    return path


def numbered(rows: list[str]) -> list[str]:
    """``rows`` with claim ids C0, C1, ... (so that no two rows are one claim's same level)."""
    return [f"C{i}," + row.split(",", 1)[1] for i, row in enumerate(rows)]


def validate_file(path, **options):
    table, _ = read_table(path, **options)
    return validate_history(table)


def problems_by_row(result) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for problem in result.report.problems:
        found.setdefault(problem.row, []).append(str(problem))
    return found


def assert_every_row_accounted_for(result, rows: int):
    report = result.report
    assert report.rows_read == rows == report.rows_kept + report.rows_rejected
    assert len(result.valid) + len(result.rejected) == rows


def test_a_line_with_extra_fields_is_one_rejected_row_and_the_rest_are_read(tmp_path):
    rows = [GOOD_ROWS[0]] * 4 + [GOOD_ROWS[1] + ",surplus,more"] + [GOOD_ROWS[2]] * 15
    rows = numbered(rows)
    result = validate_file(write_lines(tmp_path / "ragged.csv", HISTORY_HEADER, *rows))
    assert_every_row_accounted_for(result, 20)
    assert problems_by_row(result) == {
        5: [f"row 5: line 6: wrong number of fields ({WIDTH + 2}; the header has {WIDTH})"]
    }
    assert result.report.rejected_by_rule == {"unreadable row: wrong number of fields": 1}


def test_a_short_line_is_rejected_not_padded(tmp_path):
    short = ",".join(GOOD_ROWS[0].split(",")[:-3])
    result = validate_file(write_lines(tmp_path / "short.csv", HISTORY_HEADER, GOOD_ROWS[0], short))
    assert_every_row_accounted_for(result, 2)
    assert problems_by_row(result)[2] == [
        f"row 2: line 3: wrong number of fields ({WIDTH - 3}; the header has {WIDTH})"
    ]


def test_an_unbalanced_quote_rejects_its_own_line_and_merges_nothing(tmp_path):
    rows = numbered([GOOD_ROWS[2]] * 20)
    rows[5] = rows[5].replace(',"CO-50,PR-2",', ',"CO-50,PR-2,')  # the quote is never closed
    result = validate_file(write_lines(tmp_path / "quote.csv", HISTORY_HEADER, *rows))
    assert_every_row_accounted_for(result, 20)
    assert problems_by_row(result) == {
        6: ["row 6: line 7: unbalanced quote (a quoted value is not closed on its line)"]
    }


def test_quoting_that_breaks_the_strict_rules_is_rejected(tmp_path):
    bad = GOOD_ROWS[2].replace('"CO-50,PR-2"', '"CO-50"PR-2')
    result = validate_file(write_lines(tmp_path / "quoting.csv", HISTORY_HEADER, GOOD_ROWS[0], bad))
    assert_every_row_accounted_for(result, 2)
    assert problems_by_row(result)[2][0].startswith("row 2: line 3: malformed CSV")


def test_one_latin1_byte_rejects_one_row_naming_its_line_and_byte(tmp_path):
    rows = [row.encode() for row in numbered([GOOD_ROWS[0]] * 300)]
    rows[250] = rows[250].replace(b"aetna", "\u00c9tna".encode("latin-1"))
    result = validate_file(write_lines(tmp_path / "latin1.csv", HISTORY_HEADER, *rows))
    assert_every_row_accounted_for(result, 300)
    assert problems_by_row(result) == {
        251: ["row 251: line 252: not valid utf-8 (byte 0xc9 at position 6); declare the file's encoding"]
    }
    assert result.rejected.loc[251, "payer_id"] == "\\xc9tna"  # shown escaped in the rejects, never guessed


def test_a_declared_encoding_reads_the_same_file(tmp_path):
    row = GOOD_ROWS[0].replace("aetna", "\u00c9tna").encode("latin-1")
    path = write_lines(tmp_path / "latin1.csv", HISTORY_HEADER, row)
    result = validate_file(path, encoding="latin-1")
    assert result.report.ok and result.valid.loc[1, "payer_id"] == "\u00c9TNA"
    with pytest.raises(TableReadError, match="not ASCII-compatible"):
        read_table(path, encoding="utf-16")
    with pytest.raises(TableReadError, match="unknown encoding"):
        read_table(path, encoding="klingon")


def test_a_utf8_byte_order_mark_is_skipped_and_utf16_is_a_file_level_error(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HISTORY_HEADER}\n{GOOD_ROWS[0]}\n".encode())
    assert validate_file(path).report.ok
    path.write_bytes(f"{HISTORY_HEADER}\n{GOOD_ROWS[0]}\n".encode("utf-16"))
    with pytest.raises(TableReadError, match=r"bom\.csv: line 1: the file is UTF-16 or UTF-32"):
        read_table(path)


def test_a_header_beyond_recovery_is_one_file_level_error(tmp_path):
    path = write_lines(tmp_path / "header.csv", b"claim_id,\xc9payer", b"C1,x")
    with pytest.raises(TableReadError, match=r"header\.csv: line 1: the header: not valid utf-8"):
        read_table(path)
    path = write_lines(tmp_path / "binary.csv", b"claim_id\x00\x00,payer_id")
    with pytest.raises(TableReadError, match=r"binary\.csv: line 1: the header holds NUL bytes"):
        read_table(path)


def test_blank_lines_are_skipped_and_crlf_is_read(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(f"{HISTORY_HEADER}\r\n\r\n{GOOD_ROWS[0]}\r\n   \r\n{GOOD_ROWS[1]}\r\n".encode())
    result = validate_file(path)
    assert result.report.ok and result.report.rows_read == 2


def test_a_duplicated_column_is_rejected_by_name_not_renamed(tmp_path):
    header = HISTORY_HEADER + ",Billed_Amount"
    rows = [row + ",1" for row in GOOD_ROWS]
    result = validate_file(write_lines(tmp_path / "dup.csv", header, *rows))
    assert_every_row_accounted_for(result, 3)
    assert [str(p) for p in result.report.file_problems] == [
        "header, column 'billed_amount', value 'billed_amount': column appears more than once"
    ]
    assert result.report.rows_kept == 0


def test_chunks_are_numbered_across_a_bad_line(tmp_path):
    rows = numbered([GOOD_ROWS[0]] * 7)
    rows[3] += ",extra"
    chunks = list(iter_table_chunks(write_lines(tmp_path / "c.csv", HISTORY_HEADER, *rows), 3))
    assert [list(chunk.index) for chunk in chunks] == [[1, 2, 3], [4, 5, 6], [7]]
    assert chunks[1][READ_ERROR_COLUMN].tolist() == [
        f"line 5: wrong number of fields ({WIDTH + 1}; the header has {WIDTH})",
        "",
        "",
    ]
    assert READ_ERROR_COLUMN not in chunks[0]


# --- Parquet ------------------------------------------------------------------------------------------------


@pytest.fixture
def history_frame(history_csv) -> pd.DataFrame:
    table, _ = read_table(history_csv())
    return table.reset_index(drop=True)


def test_an_extra_nested_column_is_dropped_with_a_warning(tmp_path, history_frame, caplog):
    table = pa.Table.from_pandas(history_frame, preserve_index=False)
    table = table.append_column("tags", pa.array([["a"], [], ["b", "c"]])).append_column(
        "meta", pa.array([{"k": 1}, {"k": 2}, {"k": 3}])
    )
    pq.write_table(table, tmp_path / "nested.parquet")
    with caplog.at_level("WARNING"):
        result = validate_file(tmp_path / "nested.parquet")
    assert result.report.ok and result.report.rows_kept == 3
    assert "column 'tags' (list<element: string>) dropped" in caplog.text and "column 'meta'" in caplog.text


def test_a_contract_column_stored_as_a_list_rejects_every_row_naming_it(tmp_path, history_frame):
    table = pa.Table.from_pandas(history_frame.drop(columns="claim_id"), preserve_index=False)
    table = table.append_column("claim_id", pa.array([["C1"], ["C1"], ["C2"]]))
    pq.write_table(table, tmp_path / "list.parquet")
    result = validate_file(tmp_path / "list.parquet")
    assert_every_row_accounted_for(result, 3)
    assert result.report.rejected_by_rule == {
        "unreadable row: column 'claim_id' holds list<element: string> values; the contract needs one scalar per row": 3
    }


def test_text_stored_as_binary_is_decoded_and_bad_bytes_reject_their_row(tmp_path, history_frame):
    ids = [b"C1", b"C1", b"\xc92"]
    table = pa.Table.from_pandas(history_frame.drop(columns="claim_id"), preserve_index=False)
    pq.write_table(table.append_column("claim_id", pa.array(ids, pa.binary())), tmp_path / "binary.parquet")
    result = validate_file(tmp_path / "binary.parquet")
    assert_every_row_accounted_for(result, 3)
    assert result.valid["claim_id"].tolist() == ["C1", "C1"]
    assert problems_by_row(result) == {3: ["row 3: column 'claim_id': a binary value is not valid UTF-8"]}


def test_duplicate_parquet_field_names_are_rejected_by_name(tmp_path, history_frame):
    table = pa.Table.from_pandas(history_frame, preserve_index=False)
    table = table.append_column("payer_id", pa.array(["X", "Y", "Z"]))
    pq.write_table(table, tmp_path / "dup.parquet")
    result = validate_file(tmp_path / "dup.parquet")
    assert_every_row_accounted_for(result, 3)
    assert [p.column for p in result.report.file_problems] == ["payer_id"]


def test_a_corrupt_page_rejects_the_rows_it_cost_and_the_others_are_read(tmp_path, history_frame):
    frame = pd.concat([history_frame] * 4, ignore_index=True)
    frame["claim_id"] = [f"C{i // 3}-{i}" for i in range(len(frame))]
    path = tmp_path / "corrupt.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=4, compression="none")
    offset = pq.ParquetFile(path).metadata.row_group(1).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 8] = b"\xff" * 8  # the page header of row group 2's first column
    path.write_bytes(bytes(data))
    result = validate_file(path)
    assert_every_row_accounted_for(result, 12)
    assert sorted(problems_by_row(result)) == [5, 6, 7, 8]
    assert all("rows 5-8: could not be read from row group 2" in p.rule for p in result.report.problems)
    assert result.report.rows_kept == 8


def test_bad_pandas_metadata_does_not_stop_the_read(tmp_path, history_frame):
    table = pa.Table.from_pandas(history_frame, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({b"pandas": b"{not json"}), tmp_path / "meta.parquet")
    assert validate_file(tmp_path / "meta.parquet").report.ok


def test_a_pandas_index_column_is_not_an_unknown_column(tmp_path, history_frame):
    history_frame.index = pd.Index([10, 20, 30], name=None)
    history_frame.to_parquet(tmp_path / "indexed.parquet")
    result = validate_file(tmp_path / "indexed.parquet")
    assert result.report.ok and result.report.unknown_columns == []


def test_the_spreadsheet_escape_of_a_ranked_csv_is_removed_and_other_quotes_kept(tmp_path):
    path = write_lines(
        tmp_path / "escaped.csv",
        "'=name,note,'plain",
        "'=HYPERLINK(\"x\"),'-2+3,'abc",
        "''@twice,\"'\t\",'",
    )
    table, _ = read_table(path)
    assert list(table.columns) == ["=name", "note", "'plain"]
    assert table.iloc[0].tolist() == ['=HYPERLINK("x")', "-2+3", "'abc"]
    assert table.iloc[1].tolist() == ["'@twice", "\t", "'"]


def test_a_carriage_return_or_nul_inside_a_line_rejects_that_line_only(tmp_path):
    rows = numbered(GOOD_ROWS * 2)
    rows[1] = rows[1].replace(",", ",\r", 1)
    rows[3] = rows[3].replace(",", ",\x00", 1)
    result = validate_file(write_lines(tmp_path / "cr.csv", HISTORY_HEADER, *rows))
    assert_every_row_accounted_for(result, len(rows))
    found = problems_by_row(result)
    assert found[2] == ["row 2: line 3: holds a carriage return or a NUL inside the line"]
    assert found[4] == ["row 4: line 5: holds a carriage return or a NUL inside the line"]
