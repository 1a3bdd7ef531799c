"""Measure model quality under behaviour change (issue #12 item 5): predicted vs true recovery by payer segment.

For each seed and each payer set, simulate a history of a drifted world (the ``changed`` payers' odds of
success times ``--factor`` at every level from ``--change-date``; the ``new`` payers without a claim before
``--new-date``), fit the bundle exactly as ``recoup train`` does (``training.pipeline.fit_bundle`` on the
time split), and print one row: the predicted over true expected net recovery minus one of fresh claims
after the history, by segment (``training.truth.segment_metrics``, the ``segment_*`` metrics every
training run on simulated data logs), the P10-P90 settlement interval's coverage of the test slice, and
the success model's test log loss. The targets: changed and new within 10%, coverage 78-82%.

    PYTHONPATH=. .venv/bin/python scripts/measure_quality.py --claims 20000 --seeds 0,1 \\
        --payers UNITEDHEALTHCARE,AETNA,CIGNA,HUMANA,CENTENE/MOLINA,OSCAR,MULTIPLAN \\
        --payers ANTHEM,ZELIS,KAISER,REGENCE,HIGHMARK/CLEARHEALTH_STRATEGIES,WELLMARK,PREMERA

A payer set is ``CHANGED/NEW``, each a comma-separated list of payer ids of world 2026 (``/`` alone: no
drift, every payer steady). Runs one training at a time (each uses every core).
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

DEFAULT_PAYERS = (
    "UNITEDHEALTHCARE,AETNA,CIGNA,HUMANA,CENTENE/MOLINA,OSCAR,MULTIPLAN",
    "ANTHEM,ZELIS,KAISER,REGENCE,HIGHMARK/CLEARHEALTH_STRATEGIES,WELLMARK,PREMERA",
)


def drift_spec(payer_set: str, factor: float, change_date: str, new_date: str) -> str:
    """The ``Drift.parse`` spec of one ``CHANGED/NEW`` payer set."""
    changed, _, new = payer_set.partition("/")
    items = [f"{payer}:all:{factor:g}@{change_date}" for payer in changed.split(",") if payer]
    items += [f"{payer}:new@{new_date}" for payer in new.split(",") if payer]
    return ",".join(items)


def measure(claims: int, seed: int, spec: str, world_seed: int = 2026) -> dict[str, float]:
    """One training on a drifted world's history: the segment metrics, test coverage and log loss."""
    from models.metrics import log_loss
    from training.data import load_history, time_split
    from training.evaluate import settlement_metrics
    from training.pipeline import fit_bundle
    from training.simulator import simulate_history
    from training.truth import SEGMENT_AS_OF_DAYS, segment_metrics
    from training.world import Drift, World

    world = World(world_seed, Drift.parse(spec))
    history = load_history(simulate_history(claims, seed=seed, world=world))
    split = time_split(history.resolved)
    bundle, _ = fit_bundle(history, split, seed=seed)
    test = split.test
    predicted = bundle.predict_attempts(test)
    as_of = (test["submitted_date"].max() + pd.Timedelta(days=SEGMENT_AS_OF_DAYS)).date()
    metrics = segment_metrics(bundle, world, as_of, seed=seed)
    metrics["coverage"] = settlement_metrics(test, predicted)["settlement_p10_p90_coverage"]
    metrics["log_loss"] = log_loss(test["success"].to_numpy(dtype=float), predicted["p_success"].to_numpy())
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=20_000, help="claims per simulated history")
    parser.add_argument("--seeds", default="0,1", help="comma-separated history (and training) seeds")
    parser.add_argument("--payers", action="append", help="CHANGED/NEW payer set; repeatable (default: two sets)")
    parser.add_argument("--factor", type=float, default=0.4, help="the changed payers' odds multiplier")
    parser.add_argument("--change-date", default="2025-01-01")
    parser.add_argument("--new-date", default="2026-01-01")
    parser.add_argument("--label", default="", help="a name for the code measured, printed in each row")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    payer_sets = args.payers or list(DEFAULT_PAYERS)
    header = f"| {'code':<10} | set | seed | {'steady':>7} | {'changed':>7} | {'new':>7} | coverage | log loss | time |"
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for number, payer_set in enumerate(payer_sets, start=1):
        spec = drift_spec(payer_set, args.factor, args.change_date, args.new_date)
        for seed in seeds:
            started = time.perf_counter()
            metrics = measure(args.claims, seed, spec)
            bias = {
                segment: f"{metrics[key]:>+6.1f}%"
                if (key := f"segment_{segment}_recovery_bias_pct") in metrics
                else "    n/a"
                for segment in ("steady", "changed", "new")
            }
            print(
                f"| {args.label:<10} | {number:>3} | {seed:>4} | {bias['steady']} | {bias['changed']} "
                f"| {bias['new']} | {100 * metrics['coverage']:>7.1f}% | {metrics['log_loss']:>8.4f} "
                f"| {time.perf_counter() - started:>3.0f}s |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
