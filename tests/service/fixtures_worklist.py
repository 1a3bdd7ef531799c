"""Worklist fixtures: the session's trained bundle and a small worklist with a few bad rows.

The bundle is the one ``conftest.model_store`` trains once per session (``training.pipeline.train`` on a
simulated history, in a temporary MLflow store), so these tests add no training of their own. Import the
fixtures into a test module to use them.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models.bundle import RecoupBundle

WORKLIST_CLAIMS = 600
#: (0-based position, column, bad value): each row breaks one rule of the contract
BAD_CELLS = ((3, "billed_amount", -5.0), (10, "state", "XX"), (41, "current_level", "legal"))
BAD_ROWS = tuple(position + 1 for position, _, _ in BAD_CELLS)  # 1-based input row numbers


@pytest.fixture(scope="session")
def worklist_bundle(model_store) -> RecoupBundle:
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(model_store.tracking_uri)
    try:
        return mlflow.pyfunc.load_model(f"runs:/{model_store.run_id}/model").unwrap_python_model().bundle
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="session")
def worklist() -> pd.DataFrame:
    """Fresh claims as the simulator writes them, with ``BAD_CELLS`` broken."""
    from training.simulator import simulate_worklist

    frame = simulate_worklist(WORKLIST_CLAIMS, seed=3)
    for position, column, value in BAD_CELLS:
        frame[column] = frame[column].astype(object)
        frame.loc[frame.index[position], column] = value
    return frame


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def write_parquet_parts(frame: pd.DataFrame, folder: Path, parts: int = 2, row_group_rows: int = 100) -> Path:
    """``frame`` as a directory of Parquet parts with several row groups each."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(
        frame.astype({"billed_amount": "float64"}).astype({column: "string" for column in ("state", "current_level")}),
        preserve_index=False,
    )
    size = -(-table.num_rows // parts)
    for part in range(parts):
        pq.write_table(
            table.slice(part * size, size), folder / f"part-{part:03d}.parquet", row_group_size=row_group_rows
        )
    return folder
