"""The loop end to end, on simulated history with a behaviour change, on SQLite and on PostgreSQL.

A payer turns tougher at reconsideration from a date. The model is trained (from the store) on the
months before, served by a real ``recoup serve``; the claims after are scored over HTTP (and recorded),
their outcomes posted; ``recoup monitor`` flags that payer and no other; ``recoup retrain`` on the months
after promotes a model whose calibration for that payer is back within the threshold.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from features.schema import CLAIM_COLUMN_NAMES, TRUTH_PREFIX
from features.store import Store
from service.cli import app
from training.simulator import simulate_history
from training.world import Drift, World

DRIFTED_PAYER = "AETNA"
DRIFT_DATE = "2025-01-01"
SPEC = f"{DRIFTED_PAYER}:reconsideration:0.25@{DRIFT_DATE}"
CLAIMS = 8_000
API_KEY = "loop-key"
STARTUP_SECONDS = 120
THRESHOLD = 0.10
runner = CliRunner()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _json_rows(frame: pd.DataFrame) -> list[dict]:
    frame = frame.copy()
    for name in frame.columns:
        if name.endswith("_date"):
            frame[name] = frame[name].dt.strftime("%Y-%m-%d")
    return json.loads(frame.to_json(orient="records"))


def _recoup(*arguments: str) -> tuple[int, str]:
    result = runner.invoke(app, list(arguments))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).create_experiment("recoup", artifact_location=(tmp_path / "artifacts").as_uri())
    return uri


def _serve(tmp_path: Path, tracking_uri: str, store_uri: str):
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RECOUP_", "MLFLOW_"))}
    env |= {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "RECOUP_STORE_URI": store_uri,
        "RECOUP_API_KEYS": API_KEY,
        "RECOUP_RELOAD_INTERVAL_SECONDS": "1",
        "RECOUP_COMPILE_TREES": "false",  # LightGBM's own numbers; saves compiling two versions here
        "PYTHONUNBUFFERED": "1",
    }
    log = (tmp_path / "server.log").open("wb")
    recoup = str(Path(sys.executable).with_name("recoup"))
    process = subprocess.Popen(
        [recoup, "serve", "--port", str(port)], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
        time.sleep(0.25)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two trainings and a server: ~6 min on a busy 2-core machine, more under heavy load
def test_drift_is_flagged_for_that_payer_only_and_retraining_fixes_its_calibration(tmp_path, tracking_uri, store_uri):
    world = World(2026, Drift.parse(SPEC))
    history = simulate_history(CLAIMS, seed=11, world=world, start=date(2024, 1, 1), end=date(2025, 12, 31))
    history = history.drop(columns=[name for name in history.columns if name.startswith(TRUTH_PREFIX)])
    after = history["submitted_date"] >= DRIFT_DATE
    before_file = tmp_path / "before.csv"
    history[~after].to_csv(before_file, index=False, date_format="%Y-%m-%d")

    # the months before the change: into the store, and the first model trained from it
    code, output = _recoup("outcomes", "import", str(before_file), "--store-uri", store_uri)
    assert code == 0, output
    code, output = _recoup("retrain", "--store-uri", store_uri, "--tracking-uri", tracking_uri)
    assert code == 0 and "no other champion" in output, output

    process, base = _serve(tmp_path, tracking_uri, store_uri)
    try:
        with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=120) as client:
            # score each claim that first came up after the change, as of its first attempt
            first = history.sort_values("submitted_date").drop_duplicates("claim_id")
            first = first[first["submitted_date"] >= DRIFT_DATE]
            requests = first[list(CLAIM_COLUMN_NAMES)].assign(current_level="none", as_of_date=first["submitted_date"])
            rows = _json_rows(requests)
            for start in range(0, len(rows), 1000):
                answer = client.post("/v1/score/batch", json={"claims": rows[start : start + 1000]})
                assert answer.status_code == 200 and answer.json()["failed"] == 0, answer.text[:500]
            # then what happened to every attempt made after the change
            outcomes = _json_rows(history[after])
            for start in range(0, len(outcomes), 5000):
                answer = client.post("/v1/outcomes", json={"outcomes": outcomes[start : start + 5000]})
                assert answer.status_code == 200, answer.text[:500]
            deadline = time.monotonic() + 60
            while client.get("/readyz").json()["recording"]["recorded"] < len(rows):
                assert time.monotonic() < deadline, client.get("/readyz").text
                time.sleep(0.2)
            served = client.get("/v1/monitoring").json()
        report_file = tmp_path / "report.json"
        code, output = _recoup(
            "monitor", "--store-uri", store_uri, "--tracking-uri", tracking_uri, "--json", str(report_file)
        )
        assert code == 3, output  # an alert
        report = json.loads(report_file.read_text())
        assert [(alert["kind"], alert["key"]) for alert in report["alerts"]] == [("calibration", DRIFTED_PAYER)]
        assert f"ALERT payer {DRIFTED_PAYER}" in output
        assert served["alerts"] == report["alerts"]  # the endpoint and the command compute the same
        assert report["labels"]["matured"] > 1000
        mlflow.set_tracking_uri(tracking_uri)
        (run,) = mlflow.search_runs(experiment_names=["recoup-monitoring"], output_format="list")
        assert run.data.tags["alerting_payers"] == DRIFTED_PAYER
        plots = {item.path for item in MlflowClient(tracking_uri).list_artifacts(run.info.run_id, "plots")}
        assert plots == {"plots/calibration_over_time.png", "plots/drift_by_feature.png"}

        # retrain on the months after the change: promoted, and that payer's calibration is back
        from training.retrain import retrain

        store = Store.open(store_uri)
        result = retrain(store, since=date.fromisoformat(DRIFT_DATE), tracking_uri=tracking_uri)
        store.close()
        assert result.comparison.promoted, result.summary()
        payer = result.by_payer.loc[DRIFTED_PAYER]
        assert payer["champion_gap"] < -THRESHOLD, result.summary()
        assert abs(payer["challenger_gap"]) < THRESHOLD, result.summary()
        assert DRIFTED_PAYER in result.summary()
        with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=30) as client:
            deadline = time.monotonic() + 90
            while client.get("/readyz").json()["model"]["version"] != result.training.model_version:
                assert time.monotonic() < deadline, "the server did not follow the new champion"
                time.sleep(0.5)
    finally:
        _stop(process)
