"""The scoring core alone, in process: one claim at a time, and the per-claim cost of a coalesced batch.

What ``POST /v1/score`` costs beyond the framework: the request model, ``typed_claim``, ``score_claims``
with compiled trees and the JSON body (``ScoreResult.response``), for one claim (``bench_latency``'s
single-claim path) and for a batch of claims scored together (what the HTTP coalescer does under
concurrent load). Timed by the wall clock and by this thread's CPU time (``time.thread_time``: other
processes on the machine do not count), with the number of Python function calls per claim (cProfile).

``compare`` runs the measurement in child processes for two source trees in turn, several rounds, on the
same bundle and claims, so that the two are measured side by side under the same load::

    PYTHONPATH=. python benchmarks/core_bench.py compare --bundle B --trees T /path/to/base .

``measure`` is one tree's measurement (``compare`` runs it with the tree first on ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _claims(count: int) -> list[dict]:
    """Simulated fresh claims as JSON request bodies (``benchmarks/run.py``'s latency claims)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import _latency_claims

    return _latency_claims(count)[1]


def _quantiles(samples: list[float]) -> dict:
    cut = statistics.quantiles(samples, n=100)
    return {"p50": cut[49], "p90": cut[89]}


def measure(bundle_path: Path, trees: Path, calls: int, batch: int) -> dict:
    import joblib

    from features.requests import ClaimRequest, typed_claim

    bundle = joblib.load(bundle_path)
    bundle.models.compile(trees)
    bodies = _claims(max(calls, batch * 4) + 10)

    def single(body: dict) -> dict:
        return bundle.score_claims([typed_claim(ClaimRequest.model_validate(body))]).response(0)

    def batched(group: list[dict]) -> list[dict]:
        result = bundle.score_claims([typed_claim(ClaimRequest.model_validate(body)) for body in group])
        return [result.response(position) for position in range(len(group))]

    def timed(call, inputs: list) -> dict:
        for item in inputs[:10]:  # warm
            call(item)
        wall, cpu = [], []
        for item in inputs:
            started, started_cpu = time.perf_counter(), time.thread_time()
            call(item)
            cpu.append((time.thread_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
        return {"wall_ms": _quantiles(wall), "cpu_ms": _quantiles(cpu)}

    def calls_per_claim(call, inputs: list, claims: int) -> float:
        profile = cProfile.Profile()
        profile.enable()
        for item in inputs:
            call(item)
        profile.disable()
        return pstats.Stats(profile).total_calls / (len(inputs) * claims)

    groups = [[bodies[(start + offset) % len(bodies)] for offset in range(batch)] for start in range(0, calls, 3)]
    single_times = timed(single, bodies[:calls])
    batch_times = timed(batched, groups)
    per_claim = {kind: {q: value / batch for q, value in times.items()} for kind, times in batch_times.items()}
    return {
        "single": single_times,
        f"batch_{batch}_per_claim": per_claim,
        "calls_per_claim": {
            "single": calls_per_claim(single, bodies[:50], 1),
            f"batch_{batch}": calls_per_claim(batched, groups[:20], batch),
        },
    }


def compare(trees_to_compare: list[str], bundle: Path, trees: Path, calls: int, batch: int, rounds: int) -> dict:
    """``measure`` for each source tree in turn, ``rounds`` times; the median of each figure."""
    runs: dict[str, list[dict]] = {tree: [] for tree in trees_to_compare}
    for _ in range(rounds):
        for tree in trees_to_compare:
            command = [sys.executable, __file__, "measure", "--bundle", str(bundle), "--trees", str(trees)]
            command += ["--calls", str(calls), "--batch", str(batch)]
            env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
            output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            runs[tree].append(json.loads(output.splitlines()[-1]))

    def median(results: list[dict]) -> dict:
        first = results[0]
        if isinstance(first, dict):
            return {key: median([result[key] for result in results]) for key in first}
        return statistics.median(results)

    return {"load_average": os.getloadavg(), "rounds": rounds, **{tree: median(runs[tree]) for tree in runs}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["measure", "compare"])
    parser.add_argument("trees_to_compare", nargs="*", help="compare: source trees, each run in turn")
    parser.add_argument("--bundle", type=Path, required=True, help="a joblib-pickled RecoupBundle")
    parser.add_argument("--trees", type=Path, required=True, help="compiled trees cache directory")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "measure":
        print(json.dumps(measure(args.bundle, args.trees, args.calls, args.batch)))
    else:
        result = compare(args.trees_to_compare, args.bundle, args.trees, args.calls, args.batch, args.rounds)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
