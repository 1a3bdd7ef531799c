"""The production layout as real processes: an ``mlflow server`` on PostgreSQL serving the artifacts, two
``recoup serve`` replicas sharing it and one PostgreSQL store; a new champion promoted under load.

What runs here is what compose.yaml runs in containers (tests/test_deploy_files.py holds the two to the
same commands, variables, ports and health path): the server keeps every artifact in its own directory and
clients reach them only through it (``mlflow-artifacts:``), each replica writes only under its data
directory (the image's ``/data``), and the champion moves with ``recoup promote``, the command an operator
runs. Both replicas are under load the whole time; every request must succeed, both must swap to the new
version, and what either one records or is sent lands in the one store.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from features.requests import EXAMPLE_CLAIM
from features.schema import TRUTH_PREFIX
from features.store import Store
from service.store_schemas import EXAMPLE_OUTCOME

pytestmark = pytest.mark.postgres

BIN = Path(sys.executable).parent
API_KEY = "layout-key"
MODEL_NAME = "recoup"
CHAMPION = "champion"
HISTORY_CLAIMS = 1000
READY_PATH = "/readyz"
MLFLOW_HEALTH_PATH = "/health"
RELOAD_SECONDS = 1
LOAD_THREADS_PER_REPLICA = 2
STARTUP_SECONDS = 300  # a loaded 2-core host: imports, the model download and compiling its trees
SWAP_SECONDS = 180
AFTER_SWAP_SECONDS = 3  # load kept on after both swapped, so that each serves the new version under it


def mlflow_server_command(backend_uri: str, artifacts: Path, port: int) -> list[str]:
    """``mlflow server`` as compose.yaml's ``mlflow`` service runs it (one worker here, on a shared host)."""
    return [
        *(str(BIN / "mlflow"), "server", "--backend-store-uri", backend_uri),
        *("--serve-artifacts", "--artifacts-destination", str(artifacts)),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        *("--allowed-hosts", f"127.0.0.1:{port},localhost:*"),
    ]


def mlflow_server_environment() -> dict[str, str]:
    """The tracking server's variables, as compose.yaml gives them: no job runner (MLflow's GenAI jobs, eight
    more processes that recoup never uses)."""
    return {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def replica_command(port: int) -> list[str]:
    """``recoup serve`` as the image's CMD runs it, on a loopback port."""
    return [str(BIN / "recoup"), "serve", "--host", "127.0.0.1", "--port", str(port)]


def replica_environment(tracking_uri: str, store_uri: str, data: Path) -> dict[str, str]:
    """A replica's variables: those compose.yaml gives a replica and the image's ENV, with this machine's
    locations (``data`` stands for the container's ``/data``)."""
    return {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "RECOUP_MODEL_URI": f"models:/{MODEL_NAME}@{CHAMPION}",
        "RECOUP_STORE_URI": store_uri,
        "RECOUP_API_KEYS": API_KEY,
        "RECOUP_RELOAD_INTERVAL_SECONDS": str(RELOAD_SECONDS),
        "RECOUP_COMPILED_TREES_DIR": str(data / "trees"),
        "TMPDIR": str(data / "tmp"),
    }


#: What a replica here does differently from one in compose.yaml, and why.
TEST_ONLY_ENVIRONMENT = {
    # compiling each replica's trees took 2 minutes on the loaded 2-core host; the compiled trees give the
    # same numbers (tests/models/test_compiled.py) and are compiled in tests/service/test_server.py
    "RECOUP_COMPILE_TREES": "false",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _base_environment() -> dict[str, str]:
    """This environment without any recoup or MLflow setting of the test session's own."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RECOUP_", "MLFLOW_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env | {"PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def _process(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> Iterator[subprocess.Popen]:
    """``command`` running in the background (output to ``log``), stopped with SIGTERM at the end."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(url: str, process: subprocess.Popen, log: Path, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, f"{url}: the process exited early:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} not ready in {seconds} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


def _train_and_register(tracking_uri: str) -> tuple[str, str]:
    """A small model trained and registered into the server (the recipe of tests/service/conftest.py);
    returns its version and run id."""
    from training.pipeline import train
    from training.simulator import simulate_history

    history = simulate_history(HISTORY_CLAIMS, seed=7)
    history = history.drop(columns=[name for name in history.columns if name.startswith(TRUTH_PREFIX)])
    result = train(history, seed=0, tracking_uri=tracking_uri, register=True, evaluate_policy=False)
    return str(result.model_version), result.run_id


class Load:
    """Threads posting ``/v1/score`` to each replica until stopped, each claim under a new id; every answer
    that is not a 200 (or no answer) is a failure."""

    def __init__(self, bases: list[str]):
        self.bases = bases
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.served: Counter[tuple[str, str]] = Counter()  # (replica, model version) -> 200s
        self.claim_ids: dict[str, list[str]] = {base: [] for base in bases}
        self.threads = [
            threading.Thread(target=self._run, args=(base, number), daemon=True)
            for base in bases
            for number in range(LOAD_THREADS_PER_REPLICA)
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _run(self, base: str, number: int) -> None:
        tag = f"{self.bases.index(base)}-{number}"
        with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=60) as client:
            sent = 0
            while not self.stopping.is_set():
                claim_id = f"LAYOUT-{tag}-{sent}"
                sent += 1
                try:
                    answer = client.post("/v1/score", json=EXAMPLE_CLAIM | {"claim_id": claim_id})
                except httpx.HTTPError as error:
                    with self.lock:
                        self.failures.append(f"{base}: {type(error).__name__}: {error}")
                    continue
                with self.lock:
                    if answer.status_code == 200:
                        self.served[base, answer.json()["model"]["version"]] += 1
                        self.claim_ids[base].append(claim_id)
                    else:
                        self.failures.append(f"{base}: {answer.status_code} {answer.text[:200]}")


@pytest.fixture
def restore_mlflow_uris() -> Iterator[None]:
    """Training in this process points MLflow's global URIs at the server; give the session its own back."""
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


@pytest.mark.timeout(1500)  # two servers and a trained model on a shared 2-core host; measured in the report
def test_two_replicas_follow_a_new_champion_under_load_and_share_one_store(
    tmp_path, new_postgres_database, restore_mlflow_uris
):
    mlflow_db, store_uri = new_postgres_database(), new_postgres_database()
    mlflow_port = _free_port()
    tracking_uri = f"http://127.0.0.1:{mlflow_port}"
    artifacts = tmp_path / "mlflow-artifacts"
    with contextlib.ExitStack() as stack:
        server_log = tmp_path / "mlflow.log"
        backend = "postgresql+psycopg://" + mlflow_db.split("://", 1)[1]
        server = stack.enter_context(
            _process(
                mlflow_server_command(backend, artifacts, mlflow_port),
                _base_environment() | mlflow_server_environment(),
                server_log,
                tmp_path,
            )
        )
        _wait_ready(tracking_uri + MLFLOW_HEALTH_PATH, server, server_log)

        version, run_id = _train_and_register(tracking_uri)
        registry = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        registry.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        # the artifacts went through the server into its own directory, never to a path a client chose
        assert registry.get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:/")
        assert any(artifacts.rglob("MLmodel")), "the server's artifact directory holds no model"

        bases, processes = [], []
        for number in (1, 2):
            data = tmp_path / f"replica-{number}"
            (data / "tmp").mkdir(parents=True)
            port = _free_port()
            env = _base_environment() | replica_environment(tracking_uri, store_uri, data) | TEST_ONLY_ENVIRONMENT
            log = tmp_path / f"replica-{number}.log"
            processes.append((stack.enter_context(_process(replica_command(port), env, log, data)), log))
            bases.append(f"http://127.0.0.1:{port}")
        for base, (process, log) in zip(bases, processes, strict=True):
            _wait_ready(base + READY_PATH, process, log)
        clients = [
            stack.enter_context(httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=60))
            for base in bases
        ]
        assert [client.get("/v1/model").json()["version"] for client in clients] == [version, version]

        with Load(bases) as load:
            while sum(load.served.values()) < 20 * len(bases) and not load.failures:
                time.sleep(0.2)
            # a new version of the same run is registered and promoted through the gate while both serve
            source = registry.get_model_version(MODEL_NAME, version).source  # models:/<logged model id>
            model_id = source.removeprefix("models:/")  # the server wants it named; its REST answer omits it
            new_version = str(
                registry.create_model_version(MODEL_NAME, source, run_id=run_id, model_id=model_id).version
            )
            promote = subprocess.run(
                [str(BIN / "recoup"), "promote", "--version", new_version, "--tracking-uri", tracking_uri],
                env=_base_environment(),
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert promote.returncode == 0, promote.stdout + promote.stderr
            assert registry.get_model_version_by_alias(MODEL_NAME, CHAMPION).version == new_version
            deadline = time.monotonic() + SWAP_SECONDS
            while not all(load.served[base, new_version] >= 10 for base in bases):
                assert time.monotonic() < deadline, f"not both swapped: {dict(load.served)}, {load.failures[:3]}"
                time.sleep(0.2)
            time.sleep(AFTER_SWAP_SECONDS)

        assert load.failures == [], load.failures[:10]
        for base, client in zip(bases, clients, strict=True):
            assert load.served[base, version] > 0 and load.served[base, new_version] > 0, dict(load.served)
            assert client.get("/v1/model").json()["version"] == new_version

        # outcomes sent to either replica land in the one store: each is read back through the other
        for sender, reader, base in ((clients[0], clients[1], bases[0]), (clients[1], clients[0], bases[1])):
            claim_id = load.claim_ids[base][0]
            outcome = EXAMPLE_OUTCOME | {"claim_id": claim_id}
            answer = sender.post("/v1/outcomes", json={"outcomes": [outcome]})
            assert answer.status_code == 200 and len(answer.json()["stored"]) == 1, answer.text
            record = reader.get(f"/v1/claims/{claim_id}")
            assert record.status_code == 200, record.text
            body = record.json()
            assert [attempt["level"] for attempt in body["attempts"]] == [outcome["level"]]
            assert body["predictions"], "the scoring replica's prediction is not in the store"

        # every prediction either replica served is recorded once, in the one store
        served = sum(load.served.values())
        for client in clients:
            deadline = time.monotonic() + 60
            while (status := client.get(READY_PATH).json()["recording"])["queued"]:
                assert time.monotonic() < deadline, status
                time.sleep(0.2)
            assert status["dropped"] == 0 and status["failed"] == 0, status
        store = Store.open(store_uri)
        try:
            recorded = store.read_predictions()
        finally:
            store.close()
        assert len(recorded) == served
        expected_ids = {claim_id for ids in load.claim_ids.values() for claim_id in ids}
        assert set(recorded["claim_id"]) == expected_ids
        assert Counter(recorded["model_version"].astype(str)) == Counter(
            {
                v: sum(n for (_, served_version), n in load.served.items() if served_version == v)
                for v in (version, new_version)
            }
        )
