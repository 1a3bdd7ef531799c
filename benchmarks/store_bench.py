"""The store's two targets, measured side by side (``make bench`` runs them; or ``python benchmarks/store_bench.py``).

- recording: ``POST /v1/score`` throughput at 8 concurrent kept-alive connections (``wrk`` when installed,
  each request a new claim) on two real ``recoup serve`` processes serving the same model, one recording
  predictions into a SQLite store and one not; alternating rounds of equal length, so that both see the
  same machine (target: recording costs under 10% of the throughput);
- monitoring: ``recoup monitor`` (in a child process, MLflow run with plots included) over a SQLite
  store holding 1,000,000 predictions and 200,000 outcomes (target: under 60 s); the predictions'
  numbers are drawn at random (monitoring's cost does not depend on them), the claims are simulated, and
  the outcomes go in through ``recoup outcomes import`` (timed too).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import servers  # benchmarks/servers.py, beside this script

RESULTS = Path(__file__).resolve().parent / "results"
CONNECTIONS = 8
RECORDING_TARGET = 0.10
MONITOR_TARGET_SECONDS = 60
SIZES = {
    "full": {"round_seconds": 15, "rounds": 3, "predictions": 1_000_000, "outcomes": 200_000},
    "quick": {"round_seconds": 5, "rounds": 2, "predictions": 50_000, "outcomes": 10_000},
}


def _recording(store_uri: str, record: bool) -> dict[str, str]:
    return {"RECOUP_STORE_URI": store_uri, "RECOUP_RECORD_PREDICTIONS": "true" if record else "false"}


def _bodies(count: int) -> list[dict]:
    from features.schema import REQUEST_TABLE, Kind
    from training.simulator import simulate_worklist

    frame = simulate_worklist(count, seed=9)
    for column in REQUEST_TABLE:
        if column.kind is Kind.DATE and column.name in frame:
            frame[column.name] = frame[column.name].dt.strftime("%Y-%m-%d")
    return json.loads(frame.to_json(orient="records"))


def _load(port: int, bodies: list[dict], seconds: float, tag: str) -> float:
    """Requests per second of ``CONNECTIONS`` threads, each on one kept-alive connection, for ``seconds``."""
    stop = time.monotonic() + seconds
    counts = [0] * CONNECTIONS
    failures: list[str] = []

    def worker(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        sent = 0
        while time.monotonic() < stop:
            body = dict(bodies[(number * 7919 + sent) % len(bodies)])
            body["claim_id"] = f"{body['claim_id']}-{tag}-{number}-{sent}"  # each request a new claim
            connection.request("POST", "/v1/score", body=json.dumps(body), headers={"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures.append(str(response.status))
            sent += 1
        counts[number] = sent
        connection.close()

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(CONNECTIONS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests: {failures[:5]}")
    return sum(counts) / (time.perf_counter() - started)


def _wait_for_compiled_trees(client, seconds: float = 900) -> None:
    """Until the server scores with compiled trees: a first start with an empty tree cache serves LightGBM
    while it compiles them on every core, and rounds measured meanwhile measured the compiler (first
    rounds of 120-150 req/s beside 500-800 once compiled)."""
    deadline = time.monotonic() + seconds
    while client.get("/readyz").json().get("trees") == "compiling":
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark server's trees did not compile in time")
        time.sleep(1)


def bench_recording(serving: dict, folder: Path, round_seconds: float, rounds: int) -> dict:
    """Alternating rounds on the two servers, each request a new claim; with ``wrk`` when installed (its
    client costs least CPU of the machine the servers share), else with threads of this process."""
    wrk = shutil.which("wrk")
    bodies = _bodies(2000)
    store_uri = f"sqlite:///{folder / 'recording-store.db'}"
    results: dict = {
        "connections": CONNECTIONS,
        "round_seconds": round_seconds,
        "load_generator": "wrk" if wrk else "python threads (wrk is not installed)",
        "off": [],
        "on": [],
    }

    def one_round(client, seconds: float, tag: str) -> float:
        if wrk is None:
            return _load(client.base_url.port, bodies, seconds, tag)
        body = json.dumps(bodies[0] | {"claim_id": f"{tag}-{servers.CLAIM_ID_SLOT}"})
        url = f"{str(client.base_url).rstrip('/')}/v1/score"
        return servers.wrk(wrk, url, body, CONNECTIONS, seconds, unique_claims=True)["requests_per_second"]

    with (
        servers.recoup_server(serving, environment=_recording(f"sqlite:///{folder / 'unused.db'}", False)) as off,
        servers.recoup_server(serving, environment=_recording(store_uri, True)) as on,
    ):
        for client in (off, on):
            _wait_for_compiled_trees(client)
            one_round(client, 2, "warm")
        for number in range(rounds):
            results["off"].append(one_round(off, round_seconds, f"off{number}"))
            results["on"].append(one_round(on, round_seconds, f"on{number}"))
        time.sleep(2)
        results["recording_status"] = on.get("/readyz").json()["recording"]
    results["off_rps"] = statistics.median(results["off"])
    results["on_rps"] = statistics.median(results["on"])
    results["cost"] = 1 - results["on_rps"] / results["off_rps"]
    return results


def _fill_store(store_uri: str, predictions: int, outcomes: int, folder: Path) -> Path:
    """A store of ``predictions`` predictions (random numbers, simulated claims), and an outcomes file of
    ``outcomes`` reconsideration attempts of predicted claims, submitted after their prediction."""
    from features.schema import CLAIM_COLUMN_NAMES, ESCALATION_LEVELS
    from features.store import PREDICTION_COLUMNS, PREDICTION_LEVEL_FIELDS, Store, records
    from training.simulator import simulate_worklist

    claims_count = int(predictions * 0.8)
    claims = simulate_worklist(claims_count, seed=4)
    claims["current_level"] = "none"
    rng = np.random.default_rng(0)
    store = Store.open(store_uri)
    served_at = datetime.now(UTC)
    chunk = 100_000
    for start in range(0, predictions, chunk):
        rows = np.arange(start, min(start + chunk, predictions)) % claims_count
        part = claims.iloc[rows]
        frame = {
            "claim_id": part["claim_id"].to_numpy(),
            "model_name": "recoup",
            "model_version": "1",
            "source": "api",
            "served_at": served_at,
            "as_of_date": part["as_of_date"].to_numpy(),
            "current_level": 0,
            "current_allowed_amount": part["initial_allowed_amount"].to_numpy(),
            "recommended_action": "reconsideration",
            "expected_net_recovery": rng.uniform(0, 2000, len(part)),
        }
        for name in PREDICTION_LEVEL_FIELDS:
            for level in ESCALATION_LEVELS:
                column = f"{name}_{level.name}"
                frame[column] = rng.random(len(part)) < 0.8 if name == "eligible" else rng.uniform(0, 1, len(part))
        table = pd.DataFrame(frame)
        store.record_predictions(records(part, CLAIM_COLUMN_NAMES), records(table, PREDICTION_COLUMNS))
    store.close()
    chosen = claims.iloc[:outcomes].copy()
    submitted = chosen["as_of_date"] + pd.to_timedelta(rng.integers(1, 30, len(chosen)), unit="D")
    won = rng.random(len(chosen)) < 0.4
    outcome_rows = chosen[list(CLAIM_COLUMN_NAMES)].assign(
        level="reconsideration",
        submitted_date=submitted.dt.strftime("%Y-%m-%d"),
        resolved_date=(submitted + timedelta(days=30)).dt.strftime("%Y-%m-%d"),
        outcome=np.where(won, "settled", "upheld"),
        final_allowed_amount=np.where(won, chosen["billed_amount"] * 0.5, chosen["initial_allowed_amount"]),
    )
    for name in ("service_date", "initial_payment_date"):
        outcome_rows[name] = outcome_rows[name].dt.strftime("%Y-%m-%d")
    path = folder / "outcomes.csv"
    outcome_rows.to_csv(path, index=False)
    return path


def _timed_command(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def bench_monitor(serving: dict, folder: Path, predictions: int, outcomes: int) -> dict:
    store_uri = f"sqlite:///{folder / 'monitor-store.db'}"
    started = time.perf_counter()
    outcomes_file = _fill_store(store_uri, predictions, outcomes, folder)
    fill_seconds = time.perf_counter() - started
    recoup = str(Path(sys.executable).with_name("recoup"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECOUP_")}
    env |= {"RECOUP_STORE_URI": store_uri, "MLFLOW_TRACKING_URI": serving["tracking_uri"]}
    import_seconds = _timed_command([recoup, "outcomes", "import", str(outcomes_file)], env)
    monitor = [recoup, "monitor", "--model-uri", serving["model_uri"], "--json", str(folder / "report.json")]
    monitor_seconds = _timed_command(monitor, env)
    report = json.loads((folder / "report.json").read_text())
    return {
        "predictions": report["labels"]["predictions"],
        "outcomes": outcomes,
        "matured": report["labels"]["matured"],
        "fill_seconds": fill_seconds,
        "import_seconds": import_seconds,
        "monitor_seconds": monitor_seconds,
    }


def run(serving: dict, folder: Path, mode: str, only: str | None = None) -> dict:
    sizes = SIZES[mode]
    results = {}
    if only in (None, "recording"):
        results["recording"] = bench_recording(serving, folder, sizes["round_seconds"], sizes["rounds"])
    if only in (None, "monitor"):
        results["monitor"] = bench_monitor(serving, folder, sizes["predictions"], sizes["outcomes"])
    return results


def markdown_rows(results: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    if "recording" in results:
        recording = results["recording"]
        status = recording["recording_status"]
        rows.append(
            (
                "POST /v1/score throughput, recording off vs on (uvicorn, SQLite store)",
                f"{recording['connections']} connections, {len(recording['on'])} x {recording['round_seconds']} s "
                f"rounds ({recording['load_generator']})",
                f"off {recording['off_rps']:,.0f} req/s, on {recording['on_rps']:,.0f} req/s",
                f"recording costs {recording['cost']:.1%} (target < {RECORDING_TARGET:.0%}); recorded "
                f"{status['recorded']:,}, dropped {status['dropped']}, failed {status['failed']}",
            )
        )
    if "monitor" in results:
        monitor = results["monitor"]
        rows += [
            (
                "recoup outcomes import (validate + store, one transaction)",
                f"{monitor['outcomes']:,} outcomes",
                f"{monitor['import_seconds']:,.1f} s",
                "into a store already holding the predictions",
            ),
            (
                "recoup monitor (with the MLflow run and plots)",
                f"{monitor['predictions']:,} predictions, {monitor['outcomes']:,} outcomes",
                f"{monitor['monitor_seconds']:,.1f} s",
                f"{monitor['matured']:,} matured; target < {MONITOR_TARGET_SECONDS} s",
            ),
        ]
    return rows


def main() -> None:
    """Standalone: train a small model, then run both benchmarks; writes results/store.json and .md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick check")
    parser.add_argument(
        "--only",
        choices=["recording", "monitor"],
        help="run this benchmark only (results in store-<benchmark>.json/.md)",
    )
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    from training.pipeline import train
    from training.simulator import simulate_history

    with tempfile.TemporaryDirectory(prefix="recoup-store-bench-") as scratch:
        folder = Path(scratch)
        tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
        history = simulate_history(6000, seed=1)
        history = history.drop(columns=[name for name in history.columns if name.startswith("truth_")])
        result = train(history, tracking_uri=tracking_uri, register=False)
        serving = {"model_uri": f"runs:/{result.run_id}/model", "trees": folder / "trees", "tracking_uri": tracking_uri}
        results = {"mode": mode, "load_average": os.getloadavg()[0], **run(serving, folder, mode, args.only)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"store-{args.only}" if args.only else "store"
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    lines = [f"Store benchmark ({mode}), load average at start {results['load_average']:.1f}", ""]
    lines += ["| what | size | time | notes |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in markdown_rows(results)]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
