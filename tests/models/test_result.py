"""The structured result's JSON body: every level field made in one pass over all claims gives exactly what
``_json`` gives value by value (NaN and infinities as null, NaT as null, dates as ISO text, ints as ints)."""

from __future__ import annotations

import numpy as np

from features.schema import ESCALATION_LEVELS
from models.result import CLAIM_FIELDS, LEVEL_FIELDS, ScoreResult, _json

LEVELS = len(ESCALATION_LEVELS)
EDGE = {
    bool: [True, False, np.True_, 1, 0],
    float: [0.25, np.nan, np.inf, -np.inf, -3.5],
    int: [-3.0, 0.0, np.nan, 7.9, 12.0],
}


def _values(kind: type, claims: int) -> np.ndarray:
    if kind in EDGE:
        row = np.array(EDGE[kind], dtype=object if kind is bool else "float64")
        return np.vstack([np.roll(row, shift) for shift in range(claims)])
    if kind is str:
        return np.array([["", None, "why", "because", ""]] * claims, dtype=object)
    dates = np.array(["2026-01-31", "NaT", "2025-12-01", "NaT", "2024-02-29"], dtype="datetime64[D]")
    return np.vstack([np.roll(dates, shift) for shift in range(claims)])


def test_the_ladder_of_every_claim_equals_the_value_by_value_conversion():
    claims = 3
    levels = {spec.name: _values(spec.kind, claims) for spec in LEVEL_FIELDS}
    result = ScoreResult(
        claim={
            "recommended_action": np.array(["accept", "reconsideration", "legal"], dtype=object),
            "expected_net_recovery": np.array([0.0, 12.5, np.nan]),
            **{spec.name: np.array(["", "IDR-4", ""], dtype=object) for spec in CLAIM_FIELDS},
        },
        levels=levels,
        path=[(), ("reconsideration",), ("legal",)],
        reasons=[[], ["a"], ["b", "c"]],
        warnings=[["w"], [], []],
    )
    for position in range(claims):
        ladder = result.response(position)["ladder"]
        for column, step in enumerate(ladder):
            for spec in LEVEL_FIELDS:
                expected = _json(spec.kind, levels[spec.name][position, column])
                assert step[spec.name] == expected and type(step[spec.name]) is type(expected), (spec.name, column)
    assert result.response(2)["recommendation"]["expected_net_recovery"] == 0.0
    assert result.response(1)["idr_batch_id"] == "IDR-4" and result.response(0)["idr_batch_id"] is None
