"""The single-claim adapter (``typed_claim`` + ``RecoupBundle.score_claims``, no DataFrame) gives the frame
adapter's verdicts and answers: the same rules, the same typed columns, the same output row."""

from __future__ import annotations

import pickle
from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.columns import claim_columns, claim_columns_of
from features.requests import EXAMPLE_CLAIM, typed_claim, validate_requests
from features.schema import REQUEST_TABLE
from models.bundle import output_columns
from tests.service import fixtures_worklist
from tests.service.test_requests import accepted_requests

worklist_bundle = fixtures_worklist.worklist_bundle  # the fixture
TODAY = date(2026, 6, 1)
CLAIMS = 400


@pytest.fixture(scope="module")
def requests() -> list:
    """Simulated claims and the contract example under every mutation pydantic accepts."""
    return accepted_requests(
        CLAIMS,
        21,
        EXAMPLE_CLAIM | {"as_of_date": None, "current_level_date": "2026-05-30", "current_level": "reconsideration"},
    )


def test_typed_claims_keep_the_table_rules_and_values(requests):
    table = validate_requests(requests, today=TODAY)
    typed = [typed_claim(claim, today=TODAY) for claim in requests]
    kept = {row for row, values in enumerate(typed, start=1) if values is not None}
    assert kept == set(table.valid.index)
    assert 0 < len(table.rejected) < len(requests)
    for row in sorted(kept):
        values = typed[row - 1]
        for column in REQUEST_TABLE:
            expected, got = table.valid.at[row, column.name], values[column.name]
            if pd.isna(expected):
                assert got is None, (row, column.name)
            elif isinstance(expected, pd.Timestamp):
                assert expected.date() == got, (row, column.name)
            else:
                assert expected == got, (row, column.name)


def test_typed_claims_make_the_frame_columns(requests):
    table = validate_requests(requests, today=TODAY).valid
    from_frame = claim_columns(table)
    from_claims = claim_columns_of([typed_claim(requests[row - 1], today=TODAY) for row in table.index])
    assert from_frame.keys() == from_claims.keys()
    for name, expected in from_frame.items():
        got = from_claims[name]
        if np.issubdtype(expected.dtype, np.datetime64):
            np.testing.assert_array_equal(got.astype("datetime64[D]"), expected.astype("datetime64[D]"), err_msg=name)
        elif expected.dtype == object:
            assert got.tolist() == expected.tolist(), name
        else:
            np.testing.assert_array_equal(got, expected, err_msg=name)


def test_claims_scored_together_answer_as_the_frame_path(requests, worklist_bundle):
    table = validate_requests(requests, today=TODAY).valid
    expected = worklist_bundle.score(table)
    together = worklist_bundle.score_claims([typed_claim(requests[row - 1], today=TODAY) for row in table.index])
    got = pd.DataFrame(together.columns(), index=table.index)
    assert list(got.columns) == output_columns()
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    # one at a time: the same answers as together
    for position in (0, len(table) // 2, len(table) - 1):
        alone = worklist_bundle.score_claims([typed_claim(requests[table.index[position] - 1], today=TODAY)])
        assert alone.response(0) == together.response(position)


def test_an_unpickled_bundle_has_its_step_table_before_any_score(worklist_bundle):
    fresh = pickle.loads(pickle.dumps(worklist_bundle))
    assert "_step_table" in fresh.__dict__
    columns, _ = fresh.__dict__["_step_table"]
    np.testing.assert_array_equal(columns, worklist_bundle.__dict__["_step_table"][0])
    assert "_step_table" not in fresh.__getstate__()
