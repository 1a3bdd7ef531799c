"""The logged pyfunc answers as ``recoup score`` does: on the project's own worklist files read with pandas,
and over HTTP from MLflow's own server (``mlflow models serve``) for the README's example claim."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.requests import EXAMPLE_CLAIM
from models.bundle import output_columns
from service.worklist import score_worklist
from tests.service import fixtures_worklist
from tests.service.fixtures_worklist import BAD_ROWS, write_csv, write_parquet_parts

worklist, worklist_bundle = fixtures_worklist.worklist, fixtures_worklist.worklist_bundle  # the fixtures
SERVER_START_SECONDS = 180


@pytest.fixture(scope="module")
def pyfunc(model_store):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(model_store.tracking_uri)
    try:
        return mlflow.pyfunc.load_model(f"runs:/{model_store.run_id}/model")
    finally:
        mlflow.set_tracking_uri(previous)


def _as_recoup_scores(tmp_path: Path, source: Path, bundle) -> pd.DataFrame:
    """``recoup score``'s output, each claim scored alone (the pyfunc sees no worklist to batch IDR in)."""
    score_worklist(source, tmp_path / "ranked.parquet", bundle, progress=False, batch_idr=False)
    return pd.read_parquet(tmp_path / "ranked.parquet").set_index("row").sort_index()


def _same_scores(predicted: pd.DataFrame, ranked: pd.DataFrame) -> None:
    scored = predicted.set_axis(range(1, len(predicted) + 1)).loc[ranked.index]
    assert (scored["errors"] == "").all(), scored.loc[scored["errors"] != "", "errors"].head(3).tolist()
    for column in output_columns():
        expected, got = ranked[column], scored[column]
        if pd.api.types.is_float_dtype(expected):
            np.testing.assert_allclose(got.to_numpy(dtype="float64"), expected.to_numpy(), rtol=1e-12, err_msg=column)
        else:
            assert got.tolist() == expected.tolist(), column


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_pyfunc_scores_a_worklist_file_read_with_pandas_as_recoup_score_does(
    tmp_path, kind, pyfunc, worklist, worklist_bundle
):
    if kind == "csv":
        source = write_csv(worklist, tmp_path / "worklist.csv")
        # as text, as ``recoup score`` reads CSV: pandas' default typing would turn a modifier 26 into 26.0
        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    else:
        source = write_parquet_parts(worklist, tmp_path / "parts", parts=1)
        frame = pd.read_parquet(source)  # dates as datetime64
    predicted = pyfunc.predict(frame)
    assert list(predicted.columns) == [*output_columns(), "errors"] and len(predicted) == len(worklist)
    for row in BAD_ROWS:
        assert predicted.loc[row - 1, "errors"] != ""
    _same_scores(predicted, _as_recoup_scores(tmp_path, source, worklist_bundle))


def test_pyfunc_signature_requires_only_what_the_contract_requires(pyfunc):
    from features.schema import REQUEST_TABLE

    inputs = {spec.name: spec for spec in pyfunc.metadata.get_input_schema().inputs}
    assert inputs.keys() == {column.name for column in REQUEST_TABLE}
    for column in REQUEST_TABLE:
        assert inputs[column.name].required == column.required, column.name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_mlflow_models_serve_answers_the_readme_claim(tmp_path, model_store):
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    if not mlflow_cli.exists() and shutil.which("mlflow") is None:
        pytest.skip("the mlflow command is not installed beside this Python")
    port = _free_port()
    # the server runs ``uvicorn`` from PATH: this environment's
    path = f"{mlflow_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": model_store.tracking_uri, "PATH": path}
    server = subprocess.Popen(
        [
            *(str(mlflow_cli), "models", "serve", "-m", f"runs:/{model_store.run_id}/model"),
            *("--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "wb"),  # noqa: SIM115 - the server holds it open
    )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow models serve did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        body = json.dumps({"dataframe_records": [EXAMPLE_CLAIM]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)["predictions"][0]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer["errors"] == ""
    assert answer["recommended_action"] in {"accept", "reconsideration", "written_appeal", "peer_to_peer"} | {
        "external_review",
        "legal",
    }
