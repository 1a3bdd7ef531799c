"""Messy and hostile worklists on the CLI and on ``POST /v1/worklists``: never a 500 or a traceback, every
row accounted for, a file beyond recovery named with its line and reason."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.cli import app as cli
from tests.service import fixtures_worklist
from tests.service.conftest import API_KEY
from tests.service.fixtures_worklist import write_csv

worklist, worklist_bundle = fixtures_worklist.worklist, fixtures_worklist.worklist_bundle  # the fixtures

ROUTE = "/v1/worklists"
ROWS = 40


@pytest.fixture(scope="module")
def api(settings):
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def good_lines(worklist, tmp_path_factory) -> list[bytes]:
    """A small valid worklist CSV as lines (header first)."""
    clean = worklist.drop(index=worklist.index[[3, 10, 41]]).head(ROWS)
    return write_csv(clean, tmp_path_factory.mktemp("hostile") / "clean.csv").read_bytes().splitlines()


def run_score(settings, source, output, *options: str):
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(source),
            "--output",
            str(output),
            "--no-compile",
            "--jobs",
            "1",
            "--tracking-uri",
            settings.tracking_uri,
            *options,
        ],
    )
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def upload(api, name: str, body: bytes, **params):
    response = api.post(ROUTE, files={"file": (name, body, "text/csv")}, params=params)
    assert response.status_code != 500, response.text
    return response


def counts(response) -> tuple[int, int, int]:
    headers = response.headers
    return (
        int(headers["X-Recoup-Rows-Read"]),
        int(headers["X-Recoup-Rows-Scored"]),
        int(headers["X-Recoup-Rows-Rejected"]),
    )


def test_an_empty_file_is_one_file_level_error(api, settings, tmp_path):
    source = tmp_path / "empty.csv"
    source.write_bytes(b"")
    result = run_score(settings, source, tmp_path / "ranked.csv")
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {source}: line 1: the file is empty (no header line)"
    response = upload(api, "empty.csv", b"")
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "empty.csv: line 1: the file is empty (no header line)"


def test_a_file_without_the_contract_columns_rejects_each_row_with_the_header_problem(api, settings, tmp_path):
    body = b"colour,size\nred,1\nblue,2\n"
    source = tmp_path / "other.csv"
    source.write_bytes(body)
    result = run_score(settings, source, tmp_path / "ranked.csv")
    assert result.exit_code == 1 and re.search(r"rejected +2 ", result.output)
    rejects = pd.read_csv(tmp_path / "ranked.rejects.csv")
    assert rejects["errors"].str.startswith("missing required column: claim_id, payer_id").all()
    response = upload(api, "other.csv", body)
    assert response.status_code == 200 and counts(response) == (2, 0, 2)


def test_one_undecodable_byte_costs_one_row(api, settings, good_lines, tmp_path):
    lines = list(good_lines)
    lines[30] = lines[30].replace(b",", b",\xc9", 1)
    body = b"\n".join(lines) + b"\n"
    response = upload(api, "latin1.csv", body)
    assert response.status_code == 200 and counts(response) == (ROWS, ROWS - 1, 1)
    source = tmp_path / "latin1.csv"
    source.write_bytes(body)
    result = run_score(settings, source, tmp_path / "ranked.csv")
    assert result.exit_code == 0
    rejects = pd.read_csv(tmp_path / "ranked.rejects.csv")
    assert rejects["errors"].tolist() == [
        "row 30: line 31: not valid utf-8 (byte 0xc9 at position 13); declare the file's encoding"
    ]
    declared = upload(api, "latin1.csv", body, encoding="latin-1")  # É read as text; the row stands or falls on it
    assert counts(declared)[0] == ROWS and "not valid utf-8" not in declared.text


def test_a_ragged_line_costs_one_row(api, good_lines):
    lines = list(good_lines)
    lines[6] += b",surplus,fields"
    response = upload(api, "ragged.csv", b"\n".join(lines) + b"\n")
    assert response.status_code == 200 and counts(response) == (ROWS, ROWS - 1, 1)
    assert "row 6: line 7: wrong number of fields" in response.text


def test_a_duplicated_column_is_rejected_by_name(api, good_lines):
    lines = [good_lines[0] + b",billed_amount"] + [line + b",1" for line in good_lines[1:]]
    response = upload(api, "dup.csv", b"\n".join(lines) + b"\n")
    assert response.status_code == 200 and counts(response) == (ROWS, 0, ROWS)
    assert "duplicated column" in response.text


def test_an_unknown_encoding_is_a_clean_client_error(api, good_lines):
    response = upload(api, "w.csv", b"\n".join(good_lines), encoding="klingon")
    assert response.status_code == 422 and response.json()["detail"][0]["msg"] == "unknown encoding 'klingon'"


def test_a_parquet_upload_with_a_nested_extra_column_scores_to_csv(api, worklist):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(worklist.head(ROWS).astype({"billed_amount": "float64"}), preserve_index=False)
    table = table.append_column("tags", pa.array([["a"]] * ROWS)).append_column("blob", pa.array([{"k": 1}] * ROWS))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    response = api.post(ROUTE, files={"file": ("nested.parquet", buffer.getvalue(), "application/vnd.apache.parquet")})
    assert response.status_code == 200, response.text
    read, scored, rejected = counts(response)
    assert read == ROWS == scored + rejected and scored >= ROWS - 3


def test_an_amount_of_1e300_is_rejected_by_the_documented_bound(api, good_lines):
    lines = list(good_lines)
    header = lines[0].split(b",")
    fields = lines[5].split(b",")
    fields[header.index(b"billed_amount")] = b"1e300"
    lines[5] = b",".join(fields)
    response = upload(api, "huge.csv", b"\n".join(lines) + b"\n")
    assert response.status_code == 200 and counts(response) == (ROWS, ROWS - 1, 1)
    assert "must be a number > 0 and <= 100,000,000" in response.text
    assert len(response.headers["X-Recoup-Expected-Net-Recovery"]) < 16
