"""The web app's ranked table at worklist scale: read once, then pages filtered and sorted on the server.

Builds a ranked file of N simulated claims in the shape ``score_worklist`` writes (the simulator's claim
columns, a ``row`` number, a recommended action and an expected net recovery, ranked; the scores are
random: this measures the table, not the model), then times ``service.web.table``: reading the file,
and p50/p95 of page queries (first page, a deep page, each filter, each sort, all combined), each run
``--repeat`` times after the first (the first call of a new sort builds and caches its order; that cost
is reported separately). Writes ``benchmarks/results/web_table.json``:

    .venv/bin/python benchmarks/web_table.py --claims 200000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from service.web.table import Query, RankedTable

RESULTS = Path(__file__).resolve().parent / "results"
ACTIONS = ["accept", "reconsideration", "written_appeal", "peer_to_peer", "external_review", "legal"]


def ranked_file(claims: int, path: Path, seed: int = 0) -> Path:
    from training.simulator import simulate_worklist

    frame = simulate_worklist(claims, seed=seed)
    rng = np.random.default_rng(seed)
    frame["recommended_action"] = rng.choice(ACTIONS, size=claims, p=[0.35, 0.3, 0.15, 0.05, 0.1, 0.05])
    frame["expected_net_recovery"] = np.where(
        frame["recommended_action"] == "accept", 0.0, rng.lognormal(6, 1.2, size=claims)
    )
    frame.insert(0, "row", np.arange(1, claims + 1))
    frame = frame.sort_values("expected_net_recovery", ascending=False, kind="stable")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def timed(call, repeat: int) -> dict[str, float]:
    started = time.perf_counter()
    call()
    first = time.perf_counter() - started
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "first_ms": round(first * 1000, 3),
        "p50_ms": round(statistics.median(times) * 1000, 3),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = ranked_file(args.claims, Path(scratch) / "ranked.parquet")
        started = time.perf_counter()
        table = RankedTable.read(path)
        read_seconds = time.perf_counter() - started
        payer = table.categories["payer_id"][0]
        deep = len(table) // 50 // 2
        queries = {
            "first page": Query(),
            "deep page": Query(page=deep),
            "filter payer": Query(payer=payer),
            "filter action": Query(action="written_appeal"),
            "filter level": Query(level="none"),
            "filter amount": Query(min_amount=500.0, max_amount=5_000.0),
            "sort billed asc": Query(sort="billed_amount", descending=False),
            "sort payer": Query(sort="payer_id"),
            "all filters, sorted, page 3": Query(
                payer=payer, action="reconsideration", level="none", min_amount=100.0, sort="billed_amount", page=3
            ),
        }
        results = {name: timed(lambda q=q: table.page(q), args.repeat) for name, q in queries.items()}
    report = {
        "claims": args.claims,
        "read_seconds": round(read_seconds, 3),
        "queries": results,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web_table.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.claims:,} claims: read {read_seconds:.2f} s")
    for name, numbers in results.items():
        p50, p95, first = numbers["p50_ms"], numbers["p95_ms"], numbers["first_ms"]
        print(f"  {name:<30} p50 {p50:>8.2f} ms  p95 {p95:>8.2f} ms  first {first:.2f} ms")


if __name__ == "__main__":
    main()
