"""Rebuild features/data/idr_payer_benchmarks.csv from the CMS Federal IDR public use file.

The table gives each IDR payer group's record against providers (win rate, default rate, prevailing offer
vs QPA, days, fees; counts and shrunk rates). It ships with the package so the main model can use it as
prior features and the service can show it beside a payer's own profile.

    python scripts/build_idr_benchmarks.py [--source PUF.parquet] [--out features/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.idr import ingest_idr, payer_idr_benchmarks

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "reference" / "idr" / "air_ambulance_dli_2023q1_2024q4.parquet"
BENCHMARK_FILE = "idr_payer_benchmarks.csv"


def build(source: Path, out: Path) -> Path:
    benchmarks = payer_idr_benchmarks(ingest_idr(source).dataset)
    path = out / BENCHMARK_FILE
    benchmarks.round(6).to_csv(path, index=False, lineterminator="\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=REPO / "features" / "data")
    args = parser.parse_args()
    print(f"wrote {build(args.source, args.out)}")


if __name__ == "__main__":
    main()
