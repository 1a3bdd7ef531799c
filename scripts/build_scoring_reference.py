"""Rebuild tests/fixtures/scoring_reference/: the "before" of the scoring core's equality test.

The scoring core was rebuilt (issue #13) under one promise: the full worklist output for the same bundle
and the same claims stays equal, to rtol 1e-12, except for documented changes. This script records the
"before": it trains a small bundle (the service tests' recipe: ``training.pipeline.train`` on a simulated
history without its truth columns), simulates 5,000 worklist claims, scores them with
``service.worklist.score_worklist`` and stores all three. The bundle and the claims are stored, not
remade, so the test does not move when the simulator or the training recipe changes; the bundle is a
pickle of the classes as they were, so loading it also exercises the bundle-format migration.

The bundle and claims were made at main 0262aeb. The stored output is main's at 06d0f65: the last main
before the core was rebuilt, with the fee and deadline rules of issue #17 (which changed costs, net values
and eligibility on purpose). ``--score-only`` re-scores the stored bundle and claims with the code on the
path, which records a new "before" from another checkout without retraining; say why in the commit:

    .venv/bin/python scripts/build_scoring_reference.py [--out DIR]
    PYTHONPATH=/path/to/main/checkout .venv/bin/python scripts/build_scoring_reference.py --score-only
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import joblib
import mlflow
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "scoring_reference"
HISTORY_CLAIMS = 3_000
WORKLIST_CLAIMS = 5_000
HISTORY_SEED, WORKLIST_SEED, TRAIN_SEED = 7, 13, 0


def build(out: Path) -> None:
    from features.schema import TRUTH_PREFIX
    from training.pipeline import train
    from training.simulator import simulate_history, simulate_worklist

    out.mkdir(parents=True, exist_ok=True)
    history = simulate_history(HISTORY_CLAIMS, seed=HISTORY_SEED)
    history = history.drop(columns=[c for c in history.columns if c.startswith(TRUTH_PREFIX)])
    with tempfile.TemporaryDirectory() as store:
        uri = f"sqlite:///{Path(store) / 'mlflow.db'}"
        result = train(history, seed=TRAIN_SEED, tracking_uri=uri, register=False)
        mlflow.set_tracking_uri(uri)
        bundle = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model").unwrap_python_model().bundle
    joblib.dump(bundle, out / "bundle.joblib", compress=3)
    claims = simulate_worklist(WORKLIST_CLAIMS, seed=WORKLIST_SEED)
    claims.to_parquet(out / "claims.parquet", index=False)
    score(out)


def score(out: Path) -> None:
    """The ranked output of the stored bundle and claims, as the code on the path scores them."""
    from service.worklist import score_worklist

    bundle = joblib.load(out / "bundle.joblib")
    score_worklist(out / "claims.parquet", out / "expected.parquet", bundle, progress=False)
    (out / "expected.rejects.parquet").unlink()  # simulated claims are valid: nothing is rejected
    pq.write_table(pq.read_table(out / "expected.parquet"), out / "expected.parquet", compression="zstd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--score-only", action="store_true", help="re-score the stored bundle and claims")
    args = parser.parse_args()
    (score if args.score_only else build)(args.out)


if __name__ == "__main__":
    main()
