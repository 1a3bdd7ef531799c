"""The single-claim path (``typed_claim`` + ``RecoupBundle.score_one``, no DataFrame) gives the frame path's
verdicts and answers: the same rules, the same features at every ladder step, the same output row."""

from __future__ import annotations

import pickle
from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.requests import EXAMPLE_CLAIM, typed_claim, validate_requests
from features.schema import REQUEST_TABLE
from models.bundle import output_columns
from models.decision import step_pairs
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


def test_one_claim_features_equal_the_frame_features_at_every_step(requests, worklist_bundle):
    table = validate_requests(requests, today=TODAY).valid
    transformer, models = worklist_bundle.transformer, worklist_bundle.models
    rows = {row: typed_claim(claim, today=TODAY) for row, claim in enumerate(requests, start=1)}
    for start, target in step_pairs(np.zeros(1, dtype="int64")):
        frame = worklist_bundle._attempt_frame(table, start, target)
        expected = models.matrix(transformer.transform(frame))
        got = np.vstack(
            [
                models.row(
                    transformer.transform_one(
                        {
                            **rows[row],
                            "level": int(target),
                            "prior_level": start,
                            "allowed_before": rows[row]["current_allowed_amount"],
                            "attempt_date": rows[row]["as_of_date"],
                        }
                    )
                )
                for row in table.index
            ]
        )
        np.testing.assert_allclose(
            got, expected, rtol=1e-12, atol=0, equal_nan=True, err_msg=f"step {start} -> {target.name}"
        )


def test_score_one_answers_as_the_frame_path(requests, worklist_bundle):
    table = validate_requests(requests, today=TODAY).valid
    expected = worklist_bundle.score(table)
    for row in table.index:
        got = worklist_bundle.score_one(typed_claim(requests[row - 1], today=TODAY))
        assert list(got) == output_columns()
        for name in output_columns():
            want = expected.at[row, name]
            if isinstance(want, float | np.floating):
                assert got[name] == pytest.approx(want, rel=1e-9, abs=1e-9, nan_ok=True), (row, name)
            else:
                assert got[name] == want, (row, name)


def test_score_one_finds_the_step_columns_itself(requests, worklist_bundle):
    """A bundle that has not scored a frame yet learns its step columns from the one claim."""
    fresh = pickle.loads(pickle.dumps(worklist_bundle))
    fresh.__dict__.pop("_step_table", None)
    typed = typed_claim(requests[0], today=TODAY)
    got, expected = fresh.score_one(typed), worklist_bundle.score_one(typed)
    assert "_step_table" in fresh.__dict__
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == value or (value != value and got[name] != got[name]), name
