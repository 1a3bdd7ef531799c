"""The servers and the load generator the benchmarks share: ``recoup serve`` on a free port (once every
worker has loaded the model), waiting for a process to answer, and one ``wrk`` run."""

from __future__ import annotations

import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import psutil

WRK_THREADS = 2
#: In a request body given to ``wrk`` with ``unique_claims``, replaced by a new claim id for each request.
CLAIM_ID_SLOT = "__CLAIM_ID__"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(ready, process: subprocess.Popen, what: str, seconds: float = 300) -> None:
    """Poll ``ready()`` (HTTP errors count as not yet) until it holds; fail if ``process`` ends first."""
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"{what} did not become ready")
        time.sleep(0.5)


@contextmanager
def recoup_server(serving: dict, workers: int = 1, environment: dict[str, str] | None = None) -> Iterator:
    """``recoup serve`` (``--workers``) on a free loopback port, serving the benchmark's model with
    ``environment`` (``RECOUP_*`` settings) on top, once every worker has loaded it; yields an HTTP client."""
    import httpx

    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECOUP_")}
    env |= {
        "RECOUP_MODEL_URI": serving["model_uri"],
        "RECOUP_TRACKING_URI": serving["tracking_uri"],
        "RECOUP_COMPILED_TREES_DIR": str(serving["trees"]),
        "RECOUP_RELOAD_INTERVAL_SECONDS": "0",
        "RECOUP_LOG_LEVEL": "WARNING",
        **(environment or {}),
    }
    recoup = Path(sys.executable).with_name("recoup")
    process = subprocess.Popen(
        [str(recoup), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

            def ready() -> bool:  # every worker has loaded the model
                if workers == 1:
                    return client.get("/readyz").status_code == 200
                return len(re.findall(r'recoup_model_ready\{pid="\d+"\} 1\.0', client.get("/metrics").text)) >= workers

            wait_until(ready, process, "the benchmark server")
            yield client
    finally:
        process.terminate()
        process.wait(timeout=60)


def wrk(
    program: str, url: str, body: str | None, connections: int, seconds: float, unique_claims: bool = False
) -> dict:
    """One ``wrk`` run: requests per second and latency percentiles; non-2xx answers are an error.
    With ``unique_claims`` each request's body carries a new claim id in place of ``CLAIM_ID_SLOT``.

    Also the CPU each side used, in cores (CPU seconds over the run's wall seconds): the server listening on
    the URL's port with its worker processes, and ``wrk`` itself. On a machine that runs both, these say how
    much of the CPU the server could have had, which bounds what more workers can give."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "request.lua"
        if body is None:
            script.write_text('wrk.method = "GET"\n')
        elif unique_claims:
            script.write_text(
                "local threads = 0\n"
                "function setup(thread) threads = threads + 1; thread:set('tid', threads) end\n"
                f"local body = {json.dumps(body)}\n"
                "local sent = 0\n"
                "function request()\n"
                "  sent = sent + 1\n"
                f"  local claim = body:gsub('{CLAIM_ID_SLOT}', 'W' .. tid .. '-' .. sent)\n"
                "  return wrk.format('POST', nil, {['Content-Type'] = 'application/json'}, claim)\n"
                "end\n"
            )
        else:
            script.write_text(
                'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(body)}\n"
            )
        server = _server_process(urlsplit(url).port)
        server_before, client_before = _tree_cpu_seconds(server), _children_cpu_seconds()
        started = time.perf_counter()
        output = subprocess.run(
            [
                *(program, f"-t{min(WRK_THREADS, connections)}", f"-c{connections}", f"-d{seconds}s"),
                *("--latency", "-s", str(script), url),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        wall = time.perf_counter() - started
        server_cores = (_tree_cpu_seconds(server) - server_before) / wall
        client_cores = (_children_cpu_seconds() - client_before) / wall
    if "Non-2xx" in output:
        raise RuntimeError(f"{url} answered errors under load:\n{output}")
    percentiles = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            percentiles[parts[0]] = _milliseconds(parts[1])
    rate = next(float(line.split()[1]) for line in output.splitlines() if line.startswith("Requests/sec:"))
    requests = next(int(line.split()[0]) for line in output.splitlines() if "requests in" in line)
    return {
        "connections": connections,
        "requests": requests,
        "requests_per_second": rate,
        "p50_ms": percentiles["50%"],
        "p90_ms": percentiles["90%"],
        "p99_ms": percentiles["99%"],
        "server_cpu_cores": server_cores,
        "wrk_cpu_cores": client_cores,
    }


def _server_process(port: int) -> psutil.Process:
    """The server this benchmark started that listens on ``port``: the listener's ancestor that is this
    process's child (with ``--workers`` the listener found may be a worker; its parent is the server)."""
    listener = next(
        psutil.Process(connection.pid)
        for connection in psutil.net_connections(kind="tcp")
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid
    )
    return next(process for process in [listener, *listener.parents()] if process.ppid() == os.getpid())


def _tree_cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU seconds of ``process`` and its children that are alive now."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def _children_cpu_seconds() -> float:
    """CPU seconds of this process's children that have ended (``wrk``, once ``subprocess.run`` returns)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _milliseconds(text: str) -> float:
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3), ("m", 6e4)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError(f"not a wrk duration: {text}")
