"""X12 import speed: claims/s and peak RSS of ``recoup import-x12`` on 835 sets written by the simulator.

The 835 files are a simulated worklist's initial adjudications written by ``training.x12_writer`` (one
file per payer and month, one transaction per payment date), at three sizes, so that memory can be
compared with the input size: the import streams transactions, spills each file's rows to a temporary
file and writes the candidates as they are built, so the importing process holds a few bytes a claim.
The import runs in a child process (``recoup import-x12``, the command users run, with its default of
one reading process per CPU); wall time and peak RSS (of the importing process, of its largest reading
process, and summed over them) are sampled by ``benchmarks.run.measure``. How memory grows is the
least-squares slope of each peak against the claims, in MB per 10,000 claims (flat: near 0). Target:
100,000 claims in under 60 s, with flat memory.

Run alone with ``python benchmarks/x12.py [--quick] [--claims N...]`` (writes ``results/x12.{json,md}``);
``make bench`` runs it as one section of ``results/latest``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 60
SIZES = {"full": (10_000, 30_000, 100_000), "quick": (2_000, 4_000, 8_000)}
#: The peaks whose growth with the input is reported: (key in a run, label).
PEAKS = (("parent_peak_rss_mb", "importing process"), ("child_peak_rss_mb", "largest reader"), ("peak_rss_mb", "sum"))
#: An 835 set without 837s has no place of service or specialty: given once, as a user would.
DEFAULTS = ("place_of_service=23", "specialty=emergency_medicine")


def write_set(claims: int, folder: Path) -> tuple[Path, float]:
    """The simulator's 835 files for ``claims`` fresh claims (written by one process per CPU), and the
    seconds the writing took."""
    from training.simulator import simulate_worklist
    from training.x12_writer import write_x12

    started = time.perf_counter()
    worklist = simulate_worklist(claims, seed=11)
    write_x12(worklist, folder, submissions=False, workers=len(os.sched_getaffinity(0)))
    return folder / "remits", time.perf_counter() - started


def bench_x12(sizes: tuple[int, ...], folder: Path, measure) -> dict:
    runs = {}
    for claims in sizes:
        remits, written = write_set(claims, folder / f"x12-{claims}")
        output = folder / f"x12-{claims}.parquet"
        command = [
            sys.executable,
            "-m",
            "service.cli",
            "import-x12",
            str(remits),
            "-o",
            str(output),
            *[part for value in DEFAULTS for part in ("--default", value)],
        ]
        load_before = os.getloadavg()[0]  # 1-minute load average, the writing's own process included
        run = measure(command)
        runs[str(claims)] = {
            "claims": claims,
            "seconds": run["seconds"],
            "claims_per_second": claims / run["seconds"],
            "peak_rss_mb": run["peak_rss_mb"],
            "parent_peak_rss_mb": run["parent_peak_rss_mb"],
            "child_peak_rss_mb": run["child_peak_rss_mb"],
            "write_seconds": written,
            "input_mb": sum(path.stat().st_size for path in remits.iterdir()) / 2**20,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0],
            "workers": len(os.sched_getaffinity(0)),
        }
    largest = runs[str(max(sizes))]
    largest["target_seconds"] = TARGET_SECONDS * max(sizes) / 100_000
    largest["meets_target"] = largest["seconds"] < largest["target_seconds"]
    return {"runs": runs, "mb_per_10k_claims": growth(runs)}


def growth(runs: dict) -> dict[str, float]:
    """Each peak's least-squares slope against the claims, in MB per 10,000 claims."""
    import numpy as np

    claims = np.array([run["claims"] for run in runs.values()], dtype=float)
    if len(set(claims)) < 2:
        return {}
    return {key: float(np.polyfit(claims, [run[key] for run in runs.values()], 1)[0] * 10_000) for key, _ in PEAKS}


def markdown(results: dict) -> list[str]:
    lines = [
        "",
        "## X12 835 import (`recoup import-x12`, simulator-written 835s, no 837)",
        "",
        "| claims | input MB | seconds | claims/s | peak RSS MB: importing process / largest reader / sum "
        "| writing the 835s (s) | load average before / after |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"].values():
        lines.append(
            f"| {run['claims']:,} | {run['input_mb']:.1f} | {run['seconds']:.1f} | {run['claims_per_second']:,.0f} "
            f"| {run['parent_peak_rss_mb']:.0f} / {run['child_peak_rss_mb']:.0f} / {run['peak_rss_mb']:.0f} "
            f"| {run['write_seconds']:.1f} | {run['load_average_before']:.2f} / {run['load_average_after']:.2f} |"
        )
    slopes = results["mb_per_10k_claims"]
    if slopes:
        lines += [
            "",
            "Memory growth with the input (least-squares slope of the peak, MB per 10,000 claims): "
            + ", ".join(f"{label} {slopes[key]:.1f}" for key, label in PEAKS),
        ]
    return lines


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import RESULTS, measure

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--claims", type=int, nargs="+", help="override the sizes")
    args = parser.parse_args()
    sizes = tuple(args.claims) if args.claims else SIZES["quick" if args.quick else "full"]
    with tempfile.TemporaryDirectory(prefix="recoup-bench-x12-") as scratch:
        results = bench_x12(sizes, Path(scratch), measure)
    RESULTS.mkdir(parents=True, exist_ok=True)
    import json

    (RESULTS / "x12.json").write_text(json.dumps(results, indent=2) + "\n")
    table = "\n".join(markdown(results)).lstrip() + "\n"
    (RESULTS / "x12.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
