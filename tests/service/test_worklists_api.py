"""``POST /v1/worklists``: upload CSV or Parquet, get the ranked worklist and its rejects back, streamed."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.worklist import score_worklist
from tests.service import fixtures_worklist
from tests.service.conftest import API_KEY
from tests.service.fixtures_worklist import BAD_ROWS, write_csv

worklist, worklist_bundle = fixtures_worklist.worklist, fixtures_worklist.worklist_bundle  # the fixtures

ROUTE = "/v1/worklists"


@pytest.fixture(scope="module")
def api(settings):
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as test_client:
        yield test_client


def parts_of(response) -> dict[str, tuple[str, bytes]]:
    """A ``multipart/mixed`` body as {part name: (content type, bytes)}."""
    boundary = response.headers["content-type"].split("boundary=")[1].encode()
    body = response.content
    assert body.endswith(b"--" + boundary + b"--\r\n")
    parts = {}
    for chunk in body.split(b"--" + boundary + b"\r\n")[1:]:
        head, content = chunk.split(b"\r\n\r\n", 1)
        content = content.removesuffix(b"\r\n--" + boundary + b"--\r\n").removesuffix(b"\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        name = headers["Content-Disposition"].split('name="')[1].split('"')[0]
        parts[name] = (headers["Content-Type"], content)
    return parts


@pytest.fixture(scope="module")
def upload_csv(tmp_path_factory, worklist) -> bytes:
    return write_csv(worklist, tmp_path_factory.mktemp("upload") / "worklist.csv").read_bytes()


def test_csv_upload_comes_back_ranked_with_rejects_in_their_own_part(
    api, upload_csv, worklist, worklist_bundle, tmp_path
):
    response = api.post(ROUTE, files={"file": ("worklist.csv", upload_csv, "text/csv")})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("multipart/mixed")
    parts = parts_of(response)
    assert parts["ranked"][0] == parts["rejects"][0] == "text/csv"
    ranked = pd.read_csv(io.BytesIO(parts["ranked"][1]))
    rejects = pd.read_csv(io.BytesIO(parts["rejects"][1]))
    assert tuple(rejects["row"]) == BAD_ROWS and rejects["errors"].str.len().gt(0).all()
    assert response.headers["X-Recoup-Rows-Scored"] == str(len(ranked)) == str(len(worklist) - len(BAD_ROWS))
    assert response.headers["X-Recoup-Rows-Rejected"] == str(len(BAD_ROWS))

    # the same semantics as the command line
    (tmp_path / "worklist.csv").write_bytes(upload_csv)
    score_worklist(tmp_path / "worklist.csv", tmp_path / "ranked.csv", worklist_bundle, progress=False)
    pd.testing.assert_frame_equal(ranked, pd.read_csv(tmp_path / "ranked.csv"))
    batches = pd.read_csv(io.BytesIO(parts["batches"][1]))
    pd.testing.assert_frame_equal(batches, pd.read_csv(tmp_path / "ranked.batches.csv"))
    assert response.headers["X-Recoup-IDR-Batches"] == str(len(batches)) and len(batches) > 0
    assert set(batches["idr_batch_id"]) == set(ranked["idr_batch_id"].dropna())


def test_batching_can_be_turned_off(api, upload_csv, worklist_bundle, tmp_path):
    response = api.post(ROUTE, params={"batch_idr": "false"}, files={"file": ("w.csv", upload_csv, "text/csv")})
    assert response.status_code == 200, response.text
    parts = parts_of(response)
    assert "batches" not in parts and response.headers["X-Recoup-IDR-Batches"] == "0"
    assert pd.read_csv(io.BytesIO(parts["ranked"][1]))["idr_batch_id"].isna().all()


def test_parquet_upload_and_parquet_answer(api, worklist):
    buffer = io.BytesIO()
    worklist.astype({"billed_amount": "float64", "state": "string", "current_level": "string"}).to_parquet(
        buffer, index=False
    )
    by_query = api.post(
        ROUTE,
        params={"format": "parquet"},
        files={"file": ("claims.parquet", buffer.getvalue(), "application/octet-stream")},
    )
    by_accept = api.post(
        ROUTE,
        headers={"Accept": "application/vnd.apache.parquet"},
        files={"file": ("claims", buffer.getvalue(), "application/vnd.apache.parquet")},
    )
    for response in (by_query, by_accept):
        assert response.status_code == 200, response.text
        parts = parts_of(response)
        assert parts["ranked"][0] == "application/vnd.apache.parquet"
        ranked = pd.read_parquet(io.BytesIO(parts["ranked"][1]))
        assert len(ranked) == len(worklist) - len(BAD_ROWS)
        assert ranked["expected_net_recovery"].is_monotonic_decreasing
        assert tuple(pd.read_parquet(io.BytesIO(parts["rejects"][1]))["row"]) == BAD_ROWS


def test_unreadable_or_unsupported_uploads_are_refused(api):
    assert api.post(ROUTE, files={"file": ("notes.txt", b"hello", "text/plain")}).status_code == 415
    broken = api.post(ROUTE, files={"file": ("claims.parquet", b"not parquet", "application/octet-stream")})
    assert broken.status_code == 422
    [error] = broken.json()["detail"]
    assert error["loc"] == ["body", "file"]
    assert "claims.parquet" in error["msg"] and "recoup-worklist" not in error["msg"]


def test_upload_over_the_limit_is_refused(api, upload_csv, monkeypatch):
    monkeypatch.setattr(api.app.state.settings, "max_worklist_bytes", len(upload_csv) - 1)
    response = api.post(ROUTE, files={"file": ("worklist.csv", upload_csv, "text/csv")})
    assert response.status_code == 413


def test_needs_an_api_key(api, upload_csv):
    response = api.post(ROUTE, files={"file": ("worklist.csv", upload_csv, "text/csv")}, headers={"X-API-Key": ""})
    assert response.status_code == 401
