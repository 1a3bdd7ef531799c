"""The scoring core gives the answers it gave before it was rebuilt: 5,000 worklist claims, every column.

The "before" is stored in tests/fixtures/scoring_reference/ (bundle, claims, ranked output), recorded by
``scripts/build_scoring_reference.py`` with the code of main before the core was rebuilt (issue #13; the
output is main's at 06d0f65, with the fee and deadline rules of issue #17). The bundle is a pickle of the
classes before the rebuild (format 1), so loading it also runs the bundle-format migration. The
``reasons`` column was re-recorded (``--score-only``) for issue #14: reasons now agree in number, carry
the claim's values and word a zero flag as an absence; no other column moved.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.schema import ESCALATION_LEVELS
from service.worklist import score_worklist

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "scoring_reference"
RTOL = 1e-12
#: Output columns allowed to differ from the reference, with the reason (none so far).
DOCUMENTED_CHANGES: dict[str, str] = {}
#: Output columns added since the reference was recorded, with the reason: every other column keeps its
#: place and its values.
ADDED_COLUMNS: dict[str, str] = {
    **{
        f"{name}_{level.name}": "issue #17: each level's deadline as a date, the days left and the rule"
        for level in ESCALATION_LEVELS
        for name in ("deadline", "days_left", "deadline_rule")
    },
    "idr_batch_id": "issue #17: the worklist's batched Federal IDR dispute of the claim",
}


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    bundle = joblib.load(REFERENCE / "bundle.joblib")
    out = tmp_path_factory.mktemp("reference") / "ranked.parquet"
    summary = score_worklist(REFERENCE / "claims.parquet", out, bundle, progress=False, batch_idr=False)
    assert summary.rejected == 0
    return pq.read_table(out).to_pandas(), pq.read_table(REFERENCE / "expected.parquet").to_pandas()


def test_idr_batching_changes_only_the_claims_it_batches(scored, tmp_path):
    """The reference is scored claim by claim; with batching (the worklist default) a claim in no batch
    keeps every number, and a batched one differs only where its IDR fees enter."""
    alone, _ = scored
    out = tmp_path / "batched.parquet"
    score_worklist(REFERENCE / "claims.parquet", out, joblib.load(REFERENCE / "bundle.joblib"), progress=False)
    batched = pq.read_table(out).to_pandas().set_index("row").sort_index()
    alone = alone.set_index("row").sort_index()
    in_batch = batched["idr_batch_id"].ne("").to_numpy()
    assert in_batch.sum() >= 2
    numbers = [name for name in alone.columns if pd.api.types.is_float_dtype(alone[name])]
    np.testing.assert_allclose(batched.loc[~in_batch, numbers], alone.loc[~in_batch, numbers], rtol=RTOL)
    idr = ["cost_external_review", "net_value_external_review"]
    assert (batched.loc[in_batch, "cost_external_review"] < alone.loc[in_batch, "cost_external_review"]).all()
    internal = [name for name in numbers if name not in idr and not name.startswith("expected_net_recovery")]
    np.testing.assert_allclose(batched.loc[in_batch, internal], alone.loc[in_batch, internal], rtol=RTOL)


def test_the_output_has_the_reference_columns_and_rows_in_the_reference_order(scored):
    now, before = scored
    assert [name for name in now.columns if name not in ADDED_COLUMNS] == list(before.columns)
    assert set(now.columns) - set(before.columns) == set(ADDED_COLUMNS)
    assert len(now) == len(before) == 5_000
    assert (now["row"].to_numpy() == before["row"].to_numpy()).all()


def test_every_column_equals_the_reference(scored):
    now, before = scored
    for column in before.columns:
        if column in DOCUMENTED_CHANGES:
            continue
        expected, actual = before[column], now[column]
        if pd.api.types.is_float_dtype(expected):
            np.testing.assert_allclose(
                actual.to_numpy(dtype="float64"), expected.to_numpy(), rtol=RTOL, atol=0, err_msg=column
            )
        else:
            assert actual.astype(object).where(actual.notna(), None).tolist() == (
                expected.astype(object).where(expected.notna(), None).tolist()
            ), column
