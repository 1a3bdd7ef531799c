"""A real uvicorn process: start it, wait until ready, score over HTTP, stop it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import API_KEY

STARTUP_SECONDS = 240  # a loaded CI host can take minutes to import, load and compile


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_environment(model_store) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECOUP_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env | {
        "RECOUP_TRACKING_URI": model_store.tracking_uri,
        "RECOUP_API_KEYS": API_KEY,
        "RECOUP_RELOAD_INTERVAL_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
        "RECOUP_COMPILED_TREES_DIR": str(model_store.root / "trees"),
    }


@contextmanager
def running_server(env: dict[str, str], folder: Path) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    """``service.server.serve`` in its own process on a free loopback port, once ``/readyz`` answers; yields
    (base URL, log path, process) and stops it (SIGTERM, then kill) on the way out."""
    port = _free_port()
    log_path = folder / "server.log"
    code = f"from service.server import serve; serve('127.0.0.1', {port})"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, f"server exited early:\n{log_path.read_text()[-3000:]}"
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"server not ready in time:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.25)
        yield base, log_path, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def server(model_store, tmp_path: Path):
    """``running_server`` with the session's model; yields (base URL, log path, process)."""
    with running_server(_server_environment(model_store), tmp_path) as running:
        yield running


def test_uvicorn_serves_scores_over_http(server, claim, model_store):
    base, log_path, process = server
    with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=30) as client:
        response = client.post("/v1/score", json=claim, headers={"X-Request-ID": "it-42"})
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == "it-42"
        body = response.json()
        assert body["model"]["version"] == model_store.version
        assert len(body["ladder"]) == 5 and body["recommendation"]["action"]
        batch = client.post("/v1/score/batch", json={"claims": [claim, {"claim_id": "bad"}]})
        assert batch.status_code == 200 and (batch.json()["scored"], batch.json()["failed"]) == (1, 1)
        assert client.post("/v1/score", json=claim, headers={"X-API-Key": ""}).status_code == 401
        assert client.get("/healthz").json() == {"status": "ok"}
        assert "recoup_http_requests_total" in client.get("/metrics").text
        assert "server" not in response.headers  # no server banner

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [record for record in records if record.get("message") == "request"]
    scored = [record for record in access if record.get("route") == "/v1/score" and record["status"] == 200]
    assert scored and scored[0]["request_id"] == "it-42" and scored[0]["duration_ms"] > 0
    assert any(record.get("message") == "model loaded" for record in records)
    assert any(record.get("message") == "Application shutdown complete." for record in records)
    everything = log_path.read_text()
    assert claim["claim_id"] not in everything and "Traceback" not in everything


def test_several_workers_serve_one_port_and_sum_their_metrics(model_store, tmp_path, claim):
    """``recoup serve --workers 2``: two processes answer, and /metrics counts every request whichever
    process answers the scrape."""
    import re

    from service.schemas import ScoreResponse

    port = _free_port()
    env = _server_environment(model_store)
    recoup = Path(sys.executable).with_name("recoup")
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(recoup), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    requests = 24
    try:
        deadline = time.monotonic() + 2 * STARTUP_SECONDS
        pids: set[str] = set()
        while len(pids) < 2:  # both workers loaded their model
            assert process.poll() is None, f"server exited early:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"workers not ready in time:\n{log_path.read_text()[-3000:]}"
            try:
                metrics = httpx.get(f"{base}/metrics", timeout=2).text
                pids = set(re.findall(r'recoup_model_ready\{pid="(\d+)"\} 1\.0', metrics))
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        for _ in range(requests):  # a new connection each: the processes share the accepting socket
            response = httpx.post(f"{base}/v1/score", json=claim, headers={"X-API-Key": API_KEY}, timeout=30)
            assert response.status_code == 200, response.text
            ScoreResponse.model_validate(response.json())
        pattern = r'recoup_http_requests_total\{method="POST",route="/v1/score",status="200"\} (\d+)\.0'
        for _ in range(6):  # whichever process answers the scrape
            assert re.findall(pattern, httpx.get(f"{base}/metrics", timeout=5).text) == [str(requests)]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


COMPILE_SECONDS = 900  # compiling six forests: about 30 s on an idle 2-core machine, minutes on a busy one


def _score(base: str, claim: dict) -> dict:
    response = httpx.post(f"{base}/v1/score", json=claim, headers={"X-API-Key": API_KEY}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_first_start_with_no_compiled_trees_serves_at_once_and_swaps_them_in_when_compiled(
    model_store, tmp_path, claim
):
    env = _server_environment(model_store) | {"RECOUP_COMPILED_TREES_DIR": str(tmp_path / "empty-cache")}
    with running_server(env, tmp_path) as (base, log_path, _process):
        assert httpx.get(f"{base}/readyz").json()["trees"] == "compiling"
        before = _score(base, claim)  # ready, and scoring with LightGBM meanwhile
        deadline = time.monotonic() + COMPILE_SECONDS
        while (trees := httpx.get(f"{base}/readyz").json()["trees"]) == "compiling":
            assert time.monotonic() < deadline, f"trees not compiled in time:\n{log_path.read_text()[-3000:]}"
            time.sleep(1)
        assert trees == "compiled", log_path.read_text()[-3000:]
        after = _score(base, claim)
    # the same answer: compiled trees and LightGBM differ by about 1e-15
    assert after["recommendation"]["action"] == before["recommendation"]["action"]
    for compiled, lightgbm in zip(after["ladder"], before["ladder"], strict=True):
        numbers = [name for name, value in lightgbm.items() if isinstance(value, float)]
        assert {n: compiled[n] for n in numbers} == pytest.approx({n: lightgbm[n] for n in numbers}, rel=1e-9)
        assert {n: v for n, v in compiled.items() if n not in numbers} == {
            n: v for n, v in lightgbm.items() if n not in numbers
        }
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert [r["trees"] for r in records if r.get("message") == "model loaded"] == ["lightgbm"]
    assert any(record.get("message") == "compiled trees now serving" for record in records)


def test_a_server_stopped_while_compiling_leaves_no_process_behind(model_store, tmp_path):
    import psutil

    env = _server_environment(model_store) | {"RECOUP_COMPILED_TREES_DIR": str(tmp_path / "empty-cache")}
    with running_server(env, tmp_path) as (base, log_path, process):
        deadline = time.monotonic() + 60
        while not (children := psutil.Process(process.pid).children(recursive=True)):  # the compiling processes
            assert time.monotonic() < deadline, "no compile processes started"
            time.sleep(0.1)
        assert httpx.get(f"{base}/readyz").json()["trees"] == "compiling"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM), log_path.read_text()[-3000:]
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {alive}"
    log = log_path.read_text()
    assert "compiling the trees was cancelled" in log and "Traceback" not in log
