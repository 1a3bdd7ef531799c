"""Rebuild tests/fixtures/scoring_reference/: the "before" of the scoring core's equality test.

The scoring core was rebuilt (issue #13) under one promise: the full worklist output for the same bundle
and the same claims stays equal, to rtol 1e-12, except for documented changes. This script records the
"before": it trains a small bundle (the service tests' recipe: ``training.pipeline.train`` on a simulated
history without its truth columns), simulates 5,000 worklist claims, scores them with
``service.worklist.score_worklist`` and stores all three. The bundle and the claims are stored, not
remade, so the test does not move when the simulator or the training recipe changes; the bundle is a
pickle of the classes as they were, so loading it also exercises the bundle-format migration.

The stored output was produced by the code of main at commit 0262aeb (before the core was rebuilt). Run
it again only to record a new "before", and say why in the commit:

    .venv/bin/python scripts/build_scoring_reference.py [--out DIR]
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
    from service.worklist import score_worklist
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
    score_worklist(out / "claims.parquet", out / "expected.parquet", bundle, progress=False)
    (out / "expected.rejects.parquet").unlink()  # simulated claims are valid: nothing is rejected
    pq.write_table(pq.read_table(out / "expected.parquet"), out / "expected.parquet", compression="zstd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
