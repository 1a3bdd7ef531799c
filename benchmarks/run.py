"""``make bench``: speed and memory of the paths that have a target, measured side by side in one run.

- worklist: N claims end to end (read CSV, validate, features, every model, decision, explanations,
  ranking, write CSV) in a child process; wall time and peak RSS (the child and its children, sampled);
- worklist, side by side: a smaller worklist scored with LightGBM in one process, with compiled trees, and
  with compiled trees in one worker process per CPU (what ``recoup score`` does), after compiling once;
- worklist engines: the same Parquet worklist scored by the local engine and by Dask (LocalCluster);
- simulator: a history of about M attempt rows;
- single claim, warm (p50 / p99): the frame path and the single-claim path in-process, and over HTTP on a
  real uvicorn server;
- training: ``recoup train`` on a simulated history, and the outcome models alone, local vs Dask;
- X12 import: ``recoup import-x12`` on simulator-written 835 sets (``benchmarks/x12.py``): claims/s, peak RSS.

Writes ``benchmarks/results/latest.json`` and ``latest.md``. ``--quick`` runs small sizes (a minute or
two); the full run is 1,000,000 worklist claims. Numbers depend on the machine and on what else runs on
it: the load average at the start is recorded beside them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import psutil
import servers  # benchmarks/servers.py, beside this script
import store_bench
import x12  # benchmarks/x12.py (this script's folder is first on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = {
    "full": {
        "worklist": 1_000_000,
        "side_by_side": 200_000,
        "engines": 50_000,
        "attempts": 1_000_000,
        "history": 60_000,
        "latency_calls": 300,
    },
    "quick": {
        "worklist": 10_000,
        "side_by_side": 20_000,
        "engines": 4_000,
        "attempts": 100_000,
        "history": 4_000,
        "latency_calls": 100,
    },
}
SAMPLE_SECONDS = 0.05
HTTP_FLOOR = "GET /healthz (uvicorn)"
WORKLIST_TARGET_SECONDS = 60


def measure(command: list[str]) -> dict:
    """Run ``command``; its wall time and peak resident memory (with its children, and of the process alone
    and of its largest child), sampled."""
    started = time.perf_counter()
    process = psutil.Popen(command)
    peak = parent_peak = child_peak = 0
    while process.poll() is None:
        try:
            parent = process.memory_info().rss
            children = []
            for child_process in process.children(recursive=True):
                with suppress(psutil.NoSuchProcess):  # ended between the listing and the reading
                    children.append(child_process.memory_info().rss)
            peak = max(peak, parent + sum(children))
            parent_peak = max(parent_peak, parent)
            child_peak = max([child_peak, *children])
        except psutil.NoSuchProcess:
            pass
        time.sleep(SAMPLE_SECONDS)
    if process.returncode:
        raise RuntimeError(f"{command} exited with {process.returncode}")
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak / 2**20,
        "parent_peak_rss_mb": parent_peak / 2**20,
        "child_peak_rss_mb": child_peak / 2**20,
    }


def child(argv: list[str]) -> None:
    """The measured process: score one worklist with one engine (``-`` for no compiled trees)."""
    import joblib

    engine, source, output, bundle_path, jobs, trees, batch_idr = argv
    bundle = joblib.load(bundle_path)
    if trees != "-":
        bundle.models.compile(Path(trees))
    if engine == "local":
        from service.worklist import score_worklist

        summary = score_worklist(
            Path(source), Path(output), bundle, progress=False, jobs=int(jobs), batch_idr=batch_idr == "batch"
        )
    else:
        from service.dask_scoring import dask_client, score_worklist_dask

        with dask_client(workers=os.cpu_count()) as client:
            summary = score_worklist_dask(Path(source), Path(output), bundle, client, progress=False)
    print(f"{engine}: scored {summary.scored:,}, rejected {summary.rejected:,}", file=sys.stderr)


def _child_command(
    engine: str,
    source: Path,
    output: Path,
    bundle: Path,
    jobs: int = 1,
    trees: Path | None = None,
    batch_idr: bool = True,
) -> list[str]:
    return [
        sys.executable,
        __file__,
        "child",
        engine,
        str(source),
        str(output),
        str(bundle),
        str(jobs),
        str(trees) if trees else "-",
        "batch" if batch_idr else "alone",
    ]


def bench_training(history_claims: int, folder: Path) -> tuple[dict, Path]:
    """``training.pipeline.train`` end to end, then the outcome models alone, local vs Dask."""
    import joblib
    import mlflow

    from features.schema import TRUTH_PREFIX
    from features.transformer import ClaimFeatures
    from models.metrics import classification_metrics
    from service.dask_scoring import dask_client
    from training.data import load_history, time_split
    from training.fit import fit_outcome_models
    from training.fit_dask import fit_outcome_models_dask
    from training.pipeline import train
    from training.simulator import simulate_history

    history = simulate_history(history_claims, seed=0)
    history = history.drop(columns=[name for name in history.columns if name.startswith(TRUTH_PREFIX)])
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    started = time.perf_counter()
    result = train(history, tracking_uri=uri, register=False)
    pipeline_seconds = time.perf_counter() - started
    bundle = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model").unwrap_python_model().bundle
    bundle_path = folder / "bundle.joblib"
    joblib.dump(bundle, bundle_path)

    split = time_split(load_history(history).resolved)
    transformer = ClaimFeatures().fit(split.train)
    test_x = transformer.transform(split.test)

    def timed_fit(fit, *args) -> dict:
        started = time.perf_counter()
        models = fit(split, transformer, *args)
        seconds = time.perf_counter() - started
        metrics = classification_metrics(split.test["success"], models.p_success(test_x))
        return {
            "seconds": seconds,
            "test_brier": metrics["brier"],
            "test_auc": metrics["roc_auc"],
            "success_trees": int(models.success.best_iteration_),
        }

    local = timed_fit(fit_outcome_models)
    with dask_client(workers=os.cpu_count()) as client:
        distributed = timed_fit(lambda s, t: fit_outcome_models_dask(s, t, client))
    return {
        "run_id": result.run_id,
        "history_claims": history_claims,
        "attempt_rows": len(history),
        "pipeline_seconds": pipeline_seconds,
        "fit_local": local,
        "fit_dask": distributed,
        "model_trees": _tree_counts(bundle),
    }, bundle_path


def _tree_counts(bundle) -> dict[str, int]:
    models = bundle.models
    named = {
        "success": models.success,
        "settlement_mean": models.settlement_mean,
        "days": models.days,
        **models.settlement_quantiles,
    }
    return {name: int(model.booster_.num_trees()) for name, model in named.items()}


def bench_simulator(attempts: int) -> dict:
    from training.simulator import simulate_history

    pilot = 5_000
    per_claim = len(simulate_history(pilot, seed=1)) / pilot
    claims = max(1, round(attempts / per_claim))
    started = time.perf_counter()
    rows = len(simulate_history(claims, seed=2))
    seconds = time.perf_counter() - started
    return {"claims": claims, "attempt_rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


def bench_latency(bundle_path: Path, calls: int, serving: dict) -> dict:
    """One claim at a time, warm, side by side: the frame path in this process (pyfunc: validation +
    ``RecoupBundle.score``), the single-claim path in this process (request model, ``typed_claim``,
    ``score_claims``, compiled trees), ``POST /v1/score`` on a real uvicorn server, and ``GET /healthz`` there:
    the round trip of a route that does nothing, the floor under any request. The HTTP calls go over one
    kept-alive connection from the standard library's client, which adds least of its own time."""
    import joblib

    from features.requests import ClaimRequest, typed_claim
    from models.pyfunc import score_frame

    bundle = joblib.load(bundle_path)
    bundle.models.compile(serving["trees"])
    frames, bodies = _latency_claims(calls + 10)

    def single(body: dict) -> None:
        bundle.score_claims([typed_claim(ClaimRequest.model_validate(body))]).response(0)

    results = {
        "calls": calls,
        "frame path": _timed(lambda position: score_frame(bundle, frames.iloc[[position]]), calls),
        "single-claim path": _timed(lambda position: single(bodies[position]), calls),
    }
    with servers.recoup_server(serving) as client:
        connection = http.client.HTTPConnection(client.base_url.host, client.base_url.port, timeout=60)

        def call(method: str, path: str, body: dict | None = None) -> None:
            payload = json.dumps(body).encode() if body is not None else None
            connection.request(method, path, body=payload, headers={"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{method} {path} answered {response.status}")

        results["POST /v1/score (uvicorn)"] = _timed(
            lambda position: call("POST", "/v1/score", bodies[position]), calls
        )
        results[HTTP_FLOOR] = _timed(lambda _: call("GET", "/healthz"), calls)
        connection.close()
    return results


WRK_SECONDS = 10


def bench_serving(serving: dict, seconds: int = WRK_SECONDS) -> dict:
    """HTTP throughput and tail latency under concurrent load, side by side in one run, with ``wrk``:
    ``POST /v1/score`` (one claim per request) at 8 and 16 connections and ``GET /healthz`` at 16 on one
    ``recoup serve`` process; the same with ``--workers 2``; and ``mlflow models serve`` on the same model
    (its ``/invocations``, the same claim) as the anchor. Skipped, with the reason, without ``wrk``
    (Debian: ``apt-get install -y wrk``)."""
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk is not installed (Debian: apt-get install -y wrk)"}
    _, bodies = _latency_claims(1)
    claim = json.dumps(bodies[0])
    results: dict = {"seconds_per_run": seconds}
    with servers.recoup_server(serving) as client:
        base = str(client.base_url).rstrip("/")
        results["one worker"] = {
            "GET /healthz, 16 connections": servers.wrk(wrk, f"{base}/healthz", None, 16, seconds),
            "POST /v1/score, 8 connections": servers.wrk(wrk, f"{base}/v1/score", claim, 8, seconds),
            "POST /v1/score, 16 connections": servers.wrk(wrk, f"{base}/v1/score", claim, 16, seconds),
        }
    with servers.recoup_server(serving, workers=2) as client:
        base = str(client.base_url).rstrip("/")
        results["two workers"] = {
            "POST /v1/score, 16 connections": servers.wrk(wrk, f"{base}/v1/score", claim, 16, seconds),
        }
    records = json.dumps({"dataframe_records": [bodies[0]]})
    with _mlflow_server(serving) as base:
        results["mlflow models serve"] = {
            "POST /invocations, 8 connections": servers.wrk(wrk, f"{base}/invocations", records, 8, seconds),
        }
    one, two = results["one worker"], results["two workers"]
    one16 = one["POST /v1/score, 16 connections"]
    score16 = one16["requests_per_second"]
    results["ratios"] = {
        "score_16_over_healthz_16": score16 / one["GET /healthz, 16 connections"]["requests_per_second"],
        "two_workers_over_one": two["POST /v1/score, 16 connections"]["requests_per_second"] / score16,
        "score_8_p99_ms": one["POST /v1/score, 8 connections"]["p99_ms"],
        # what a second worker can add on this machine, where wrk runs beside the server: the CPUs it
        # leaves, over what one worker already uses (a worker uses more than one core: scoring releases
        # the GIL in LightGBM and numpy)
        "two_workers_ceiling": ((os.cpu_count() or 1) - one16["wrk_cpu_cores"]) / one16["server_cpu_cores"],
    }
    return results


@contextmanager
def _mlflow_server(serving: dict):
    """``mlflow models serve`` (one worker, this environment) on the benchmark's model; yields its URL."""
    import httpx

    port = servers.free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    env = os.environ | {
        "MLFLOW_TRACKING_URI": serving["tracking_uri"],
        "PATH": f"{mlflow_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    process = subprocess.Popen(
        [
            *(str(mlflow_cli), "models", "serve", "-m", serving["model_uri"], "--env-manager", "local"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        servers.wait_until(
            lambda: httpx.get(f"{base}/ping", timeout=2).status_code == 200, process, "mlflow models serve"
        )
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _serving_rows(serving: dict) -> list[tuple[str, str, str, str]]:
    if "skipped" in serving:
        return [("HTTP under load (wrk)", "", "skipped", serving["skipped"])]
    rows = []
    for server in ("one worker", "two workers", "mlflow models serve"):
        for name, run in serving[server].items():
            rows.append(
                (
                    f"HTTP under load: {name} ({server})",
                    f"{serving['seconds_per_run']} s",
                    f"{run['requests_per_second']:,.0f} req/s",
                    f"p50 {run['p50_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms; CPU cores used: "
                    f"server {run['server_cpu_cores']:.2f}, wrk {run['wrk_cpu_cores']:.2f}",
                )
            )
    ratios = serving["ratios"]
    rows.append(
        (
            "HTTP under load: targets",
            "",
            f"16 conn score/healthz {ratios['score_16_over_healthz_16']:.0%} (target 40%)",
            f"2 workers/1 {ratios['two_workers_over_one']:.2f}x (target 1.6x; at most "
            f"{ratios['two_workers_ceiling']:.2f}x here: the CPUs wrk leaves over one worker's use); "
            f"8 conn p99 {ratios['score_8_p99_ms']:.1f} ms (target 10 ms)",
        )
    )
    return rows


def _latency_claims(count: int) -> tuple:
    """Simulated fresh claims as a raw frame and as JSON request bodies (ISO dates, null for missing)."""
    from features.schema import REQUEST_TABLE, Kind
    from training.simulator import simulate_worklist

    frame = simulate_worklist(count, seed=5)
    text = frame.copy()
    for column in REQUEST_TABLE:
        if column.kind is Kind.DATE and column.name in text:
            text[column.name] = text[column.name].dt.strftime("%Y-%m-%d")
    bodies = json.loads(text.to_json(orient="records"))
    return frame, bodies


def _timed(call, calls: int, warm_up: int = 10) -> dict:
    for position in range(warm_up):
        call(position)
    timings = []
    for position in range(warm_up, warm_up + calls):
        started = time.perf_counter()
        call(position)
        timings.append((time.perf_counter() - started) * 1000)
    quantiles = statistics.quantiles(timings, n=100)
    return {"p50_ms": quantiles[49], "p99_ms": quantiles[98]}


def bench_worklists(sizes: dict, bundle_path: Path, folder: Path) -> dict:
    """The worklist end to end as ``recoup score`` runs it (compiled trees, one worker per CPU), and the same
    smaller worklist scored plain (LightGBM, one process), compiled, and compiled with workers."""
    import joblib
    import pandas as pd

    from training.simulator import simulate_worklist

    trees = folder / "trees"
    started = time.perf_counter()
    joblib.load(bundle_path).models.compile(trees)  # once per model version; the runs below load the cache
    compile_seconds = time.perf_counter() - started
    jobs = os.cpu_count() or 1
    claims = simulate_worklist(sizes["worklist"], seed=3)
    source = folder / "worklist.csv"
    claims.to_csv(source, index=False, date_format="%Y-%m-%d")
    end_to_end = measure(_child_command("local", source, folder / "ranked.csv", bundle_path, jobs, trees))
    end_to_end["claims"] = sizes["worklist"]
    end_to_end["claims_per_second"] = sizes["worklist"] / end_to_end["seconds"]

    small = folder / "small.csv"
    simulate_worklist(sizes["side_by_side"], seed=4).to_csv(small, index=False, date_format="%Y-%m-%d")
    variants = {
        "lightgbm, 1 process": (1, None, True),
        "compiled, 1 process": (1, trees, True),
        f"compiled, {jobs} processes": (jobs, trees, True),
        # the IDR batching pass (reads and validates the input once more) is the difference to the row above
        f"compiled, {jobs} processes, no IDR batching": (jobs, trees, False),
    }
    side_by_side = {
        name: measure(
            _child_command(
                "local", small, folder / f"variant-{position}.csv", bundle_path, variant_jobs, variant_trees, batch
            )
        )
        for position, (name, (variant_jobs, variant_trees, batch)) in enumerate(variants.items())
    }

    parquet = folder / "engines.parquet"
    claims.head(sizes["engines"]).to_parquet(parquet, index=False, row_group_size=10_000)
    engines = {
        engine: measure(_child_command(engine, parquet, folder / f"{engine}.parquet", bundle_path))
        for engine in ("local", "dask")
    }
    equal = pd.read_parquet(folder / "local.parquet").equals(pd.read_parquet(folder / "dask.parquet"))
    return {
        "compile_seconds": compile_seconds,
        "end_to_end": end_to_end,
        "side_by_side": side_by_side | {"claims": sizes["side_by_side"]},
        "engines": engines | {"claims": sizes["engines"], "identical": equal},
    }


def _worklist_rows(worklist: dict) -> list[tuple[str, str, str, str]]:
    w, e = worklist["end_to_end"], worklist["engines"]
    return [
        (
            "worklist end to end (CSV in, ranked CSV out)",
            f"{w['claims']:,} claims",
            f"{w['seconds']:,.1f} s ({w['claims_per_second']:,.0f} claims/s)",
            f"peak RSS {w['peak_rss_mb']:,.0f} MiB; target {WORKLIST_TARGET_SECONDS} s for 1,000,000 "
            f"({w['seconds'] / WORKLIST_TARGET_SECONDS * 1_000_000 / w['claims']:.1f}x the target, scaled)",
        ),
        (
            "compiling the trees (once per model version and CPU)",
            "6 models",
            f"{worklist['compile_seconds']:,.1f} s",
            "cached on disk",
        ),
        *_side_by_side_rows(worklist["side_by_side"]),
        (
            "worklist, local engine (Parquet)",
            f"{e['claims']:,} claims",
            f"{e['local']['seconds']:,.1f} s",
            f"peak RSS {e['local']['peak_rss_mb']:,.0f} MiB",
        ),
        (
            "worklist, Dask engine (LocalCluster, same Parquet)",
            f"{e['claims']:,} claims",
            f"{e['dask']['seconds']:,.1f} s",
            f"dask/local {e['dask']['seconds'] / e['local']['seconds']:.2f}x; outputs identical: {e['identical']}",
        ),
    ]


def worklist_markdown(results: dict) -> str:
    """The table of ``--only worklist``."""
    return _table(results, _worklist_rows(results["worklist"]))


def markdown(results: dict) -> str:
    t = results["training"]
    s, latency = results["simulator"], results["single_claim"]
    rows = [
        *_worklist_rows(results["worklist"]),
        (
            "simulator",
            f"{s['attempt_rows']:,} attempt rows",
            f"{s['seconds']:,.1f} s",
            f"{s['rows_per_second']:,.0f} rows/s",
        ),
        *[
            (
                f"single claim, warm: {name}",
                f"{latency['calls']} calls",
                f"p50 {run['p50_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms",
                "a route that does nothing: the floor under any request"
                if name == HTTP_FLOOR
                else f"{latency['frame path']['p50_ms'] / run['p50_ms']:.1f}x the frame path (p50)",
            )
            for name, run in latency.items()
            if name != "calls"
        ],
        *_serving_rows(results["serving"]),
        (
            "recoup train (pipeline, with evaluation and MLflow logging)",
            f"{t['history_claims']:,} claims",
            f"{t['pipeline_seconds']:,.1f} s",
            f"{t['attempt_rows']:,} attempt rows; trees {t['model_trees']}",
        ),
        (
            "outcome models, local fit",
            "same split",
            f"{t['fit_local']['seconds']:,.1f} s",
            f"test Brier {t['fit_local']['test_brier']:.4f}, AUC {t['fit_local']['test_auc']:.4f}",
        ),
        (
            "outcome models, lightgbm.dask fit",
            "same split",
            f"{t['fit_dask']['seconds']:,.1f} s",
            f"test Brier {t['fit_dask']['test_brier']:.4f}, AUC {t['fit_dask']['test_auc']:.4f}; "
            f"dask/local {t['fit_dask']['seconds'] / t['fit_local']['seconds']:.2f}x",
        ),
    ]
    if "store" in results:
        rows += store_bench.markdown_rows(results["store"])
    return _table(results, rows)


def _table(results: dict, rows: list[tuple[str, str, str, str]]) -> str:
    env = results["environment"]
    lines = [
        f"Benchmark ({results['mode']}), {env['date']}, {env['cpus']} CPUs, load average at start "
        f"{env['load_average']:.1f}, commit {env['commit']}",
        "",
        "| what | size | time | notes |",
        "|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines) + "\n"


def serving_markdown(results: dict) -> str:
    """The table of ``--only serving``: the single-claim latencies and the HTTP load runs."""
    latency = results["single_claim"]
    rows = [
        (
            f"single claim, warm: {name}",
            f"{latency['calls']} calls",
            f"p50 {run['p50_ms']:.2f} ms",
            f"p99 {run['p99_ms']:.2f} ms",
        )
        for name, run in latency.items()
        if name != "calls"
    ]
    rows += _serving_rows(results["serving"])
    env = results["environment"]
    lines = [
        f"Benchmark (serving, {results['mode']}), {env['date']}, {env['cpus']} CPUs, load average at start "
        f"{env['load_average']:.1f}, commit {env['commit']}",
        "",
        "| what | size | time | notes |",
        "|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def _side_by_side_rows(runs: dict) -> list[tuple[str, str, str, str]]:
    runs = dict(runs)
    claims = runs.pop("claims")
    baseline = next(iter(runs.values()))["seconds"]
    return [
        (
            f"worklist, {name}",
            f"{claims:,} claims",
            f"{run['seconds']:,.1f} s",
            f"{baseline / run['seconds']:.1f}x the first; peak RSS {run['peak_rss_mb']:,.0f} MiB",
        )
        for name, run in runs.items()
    ]


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick check")
    parser.add_argument("--worklist-claims", type=int, help="override the end-to-end worklist size")
    parser.add_argument(
        "--only",
        choices=["serving", "worklist"],
        help="train the benchmark model, then run this section only (results in latest-<section>.json/.md)",
    )
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    sizes = dict(SIZES[mode])
    if args.worklist_claims:
        sizes["worklist"] = args.worklist_claims
    results = {
        "mode": mode,
        "sizes": sizes,
        "environment": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
            "python": platform.python_version(),
            "commit": _commit(),
        },
    }
    with tempfile.TemporaryDirectory(prefix="recoup-bench-") as scratch:
        folder = Path(scratch)
        results["training"], bundle_path = bench_training(sizes["history"], folder)
        serving = {
            "model_uri": f"runs:/{results['training'].pop('run_id')}/model",
            "trees": folder / "serving-trees",
            "tracking_uri": f"sqlite:///{folder / 'mlflow.db'}",
        }
        if args.only == "serving":
            results["single_claim"] = bench_latency(bundle_path, sizes["latency_calls"], serving)
            results["serving"] = bench_serving(serving)
        elif args.only == "worklist":
            results["worklist"] = bench_worklists(sizes, bundle_path, folder)
        else:
            results["simulator"] = bench_simulator(sizes["attempts"])
            results["single_claim"] = bench_latency(bundle_path, sizes["latency_calls"], serving)
            results["serving"] = bench_serving(serving)
            results["worklist"] = bench_worklists(sizes, bundle_path, folder)
            results["x12_import"] = x12.bench_x12(x12.SIZES[mode], folder, measure)
            results["store"] = store_bench.run(serving, folder, mode)  # recording on/off; recoup monitor at 1M
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"latest-{args.only}" if args.only else "latest"
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    tables = {"serving": serving_markdown, "worklist": worklist_markdown}
    table = tables.get(args.only, markdown)(results)
    if "x12_import" in results:
        table += "\n".join(x12.markdown(results["x12_import"])) + "\n"
    (RESULTS / f"{name}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(sys.argv[2:])
    else:
        main()
