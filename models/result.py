"""The structured scoring result: what ``RecoupBundle`` answers for a batch of claims, before any format.

``ScoreResult`` holds, for n claims, each claim field as an array of n (``CLAIM_FIELDS``), each level field
as an (n, levels) array (``LEVEL_FIELDS``, levels in ladder order), the expected path as a tuple of level
names, and the reasons and warnings as lists of sentences. Two formats are made from it and nothing else:

* ``ScoreResult.response`` -> the JSON body of one claim (``POST /v1/score``, the batch endpoint);
* ``ScoreResult.columns`` -> the flat columns of a worklist or a frame (``output_columns()``): level
  fields as ``<field>_<level>``, the path joined by ``PATH_SEPARATOR``, reasons and warnings by
  ``SEPARATOR``. Only the worklist writer and the frame adapters flatten.

Adding a field is one line here: append a ``ResultField`` to ``LEVEL_FIELDS`` (per level: a deadline, the
days left, the rule it comes from) or to ``CLAIM_FIELDS`` (per claim: an IDR batch id), and have the bundle
put its values in the dict it builds the result from (``RecoupBundle._result``). The flat columns, the JSON
body and the OpenAPI response model (``service.schemas.LadderStep`` and ``ScoreResponse``, made from these
tables) follow; a result missing a declared field fails at construction, not in a format.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np

from features.schema import ESCALATION_LEVEL_NAMES, ESCALATION_LEVELS

SEPARATOR = "; "  # reasons and warnings in a flat column
PATH_SEPARATOR = " > "  # the path's steps in a flat column


@dataclass(frozen=True)
class ResultField:
    """One answer field: its name, its JSON kind (``bool``, ``float``, ``int``, ``str``, ``date``), its description
    (the OpenAPI text) and pydantic constraints (``ge``/``le``)."""

    name: str
    kind: type
    description: str
    constraints: dict[str, Any] = field(default_factory=dict)


#: Each level's numbers, in the order of the flat columns (and of a ladder step in the JSON body).
LEVEL_FIELDS: tuple[ResultField, ...] = (
    ResultField("eligible", bool, "Whether the level may be attempted now (eligibility and deadline rules)."),
    ResultField("ineligible_reason", str, "Why the level cannot be attempted now; null when eligible."),
    ResultField(
        "p_success",
        float,
        "Probability the attempt raises the allowed amount (0-1); null when ineligible.",
        {"ge": 0, "le": 1},
    ),
    ResultField(
        "expected_allowed", float, "Expected total allowed amount given success, in dollars; null when ineligible."
    ),
    ResultField(
        "allowed_p10", float, "Allowed amount given success, 10th percentile, in dollars; null when ineligible."
    ),
    ResultField(
        "allowed_p90", float, "Allowed amount given success, 90th percentile, in dollars; null when ineligible."
    ),
    ResultField("expected_days", float, "Expected days from submission to resolution."),
    ResultField(
        "expected_recovery", float, "p_success x (expected_allowed - current allowed), in dollars, before costs."
    ),
    ResultField(
        "cost",
        float,
        "Cost to the provider of attempting the level, in US dollars (the policy's cost; the IDR entity fee, "
        "charged only on a loss, is in net_value, not here).",
    ),
    ResultField(
        "net_value",
        float,
        "Discounted expected value of attempting the level now, in dollars, after costs and the best follow-up "
        "on failure.",
    ),
    ResultField(
        "deadline",
        date,
        "Last day to file the level as the claim's next step (ISO date), by the rules in force; null when no "
        "deadline applies or it is unknown (deadline_rule says which date is missing).",
    ),
    ResultField(
        "days_left",
        int,
        "Days from as_of_date to the deadline: 0 on the last day, negative once missed; null without a deadline.",
    ),
    ResultField(
        "deadline_rule",
        str,
        "The rule that sets the deadline, with its citation; or why it is unknown and which date it needs; "
        "null for a level the claim is already at or beyond.",
    ),
)
#: Per-claim fields beyond the recommendation: flat columns of their own, and top-level JSON fields.
CLAIM_FIELDS: tuple[ResultField, ...] = (
    ResultField(
        "idr_batch_id",
        str,
        "The batched Federal IDR dispute a worklist put the claim in (its IDR fees are shared with the "
        "batch's other claims); null when the claim would be filed alone.",
    ),
)
LEVEL_FIELD_NAMES = tuple(spec.name for spec in LEVEL_FIELDS)
#: Each level field's flat columns, one per level in ladder order.
LEVEL_COLUMNS = {name: [f"{name}_{level.name}" for level in ESCALATION_LEVELS] for name in LEVEL_FIELD_NAMES}
_OUTPUT_COLUMNS = (
    "recommended_action",
    "expected_net_recovery",
    "path",
    *(LEVEL_COLUMNS[name][position] for position in range(len(ESCALATION_LEVELS)) for name in LEVEL_FIELD_NAMES),
    "reasons",
    "warnings",
    *(spec.name for spec in CLAIM_FIELDS),
)


def output_columns() -> list[str]:
    """The flat scoring output, in order: the decision, then each level's numbers."""
    return list(_OUTPUT_COLUMNS)


def _json(kind: type, value: Any) -> Any:
    """One value as JSON: NaN and empty text as null, numpy scalars as Python's."""
    if kind is bool:
        return bool(value)
    if kind is float or kind is int:
        number = float(value)
        return (int(number) if kind is int else number) if math.isfinite(number) else None
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(value.astype("datetime64[D]"))
    return value if kind is str else str(value)


def _json_values(kind: type, values: np.ndarray) -> list[Any]:
    """``_json`` of every element of ``values``, flattened, for the kinds that are not numbers
    (``_json_numbers``): bools and dates in a few array operations (a ladder has 13 fields by 5 levels per
    claim, and one call per value cost as much as the decision), the text kinds element by element."""
    if kind is bool:
        return np.asarray(values).astype(bool).ravel().tolist()
    values = np.asarray(values)
    if values.dtype.kind == "M":
        days = values.astype("datetime64[D]").ravel()
        out = np.datetime_as_string(days).astype(object)
        out[np.isnat(days)] = None
        return out.tolist()
    return [_json(kind, value) for value in values.ravel()]


#: The level fields converted as numbers, and which of them are whole numbers
_NUMBER_FIELDS = tuple(spec.name for spec in LEVEL_FIELDS if spec.kind is float or spec.kind is int)
_WHOLE_FIELDS = np.array([spec.kind is int for spec in LEVEL_FIELDS if spec.kind is float or spec.kind is int])


def _json_numbers(levels: dict[str, np.ndarray]) -> dict[str, list[list[Any]]]:
    """``_json_values`` of every numeric level field at once, by claim then level: one stacked array, so
    the few array operations are paid once per answer, not once per field."""
    numbers = np.array([levels[name] for name in _NUMBER_FIELDS], dtype="float64")
    finite = np.isfinite(numbers)
    converted = np.where(finite, numbers, 0.0)
    out = converted.astype(object)
    out[_WHOLE_FIELDS] = converted[_WHOLE_FIELDS].astype("int64").astype(object)
    out[~finite] = None
    return dict(zip(_NUMBER_FIELDS, out.tolist(), strict=True))


@dataclass
class ScoreResult:
    """The answer for n claims. ``claim[name]``: arrays of n (``recommended_action``,
    ``expected_net_recovery`` and ``CLAIM_FIELDS``); ``levels[name]``: (n, levels) arrays of
    ``LEVEL_FIELDS``; ``path``: each claim's steps as level names; ``reasons``, ``warnings``: sentences."""

    claim: dict[str, np.ndarray]
    levels: dict[str, np.ndarray]
    path: list[tuple[str, ...]]
    reasons: list[list[str]]
    warnings: list[list[str]]

    def __post_init__(self) -> None:
        missing = [name for name in LEVEL_FIELD_NAMES if name not in self.levels] + [
            name
            for name in ("recommended_action", "expected_net_recovery", *(s.name for s in CLAIM_FIELDS))
            if name not in self.claim
        ]
        if missing:
            raise ValueError(f"a score result lacks field(s): {', '.join(missing)}")

    def __len__(self) -> int:
        return len(self.path)

    def response(self, position: int) -> dict[str, Any]:
        """Claim ``position``'s answer as the JSON body's scoring part (``ScoreResponse`` without
        ``claim_id`` and ``model``, which the caller knows)."""
        steps = self._json_levels
        by_level = zip(*(steps[name][position] for name in LEVEL_FIELD_NAMES), strict=True)
        ladder = [
            {"level": level, **dict(zip(LEVEL_FIELD_NAMES, values, strict=True))}
            for level, values in zip(ESCALATION_LEVEL_NAMES, by_level, strict=True)
        ]
        body: dict[str, Any] = {
            "ladder": ladder,
            "recommendation": {
                "action": str(self.claim["recommended_action"][position]),
                "expected_net_recovery": _json(float, self.claim["expected_net_recovery"][position]) or 0.0,
                "path": list(self.path[position]),
            },
            "reasons": list(self.reasons[position]),
            "warnings": list(self.warnings[position]),
        }
        for spec in CLAIM_FIELDS:
            body[spec.name] = _json(spec.kind, self.claim[spec.name][position])
        return body

    @cached_property
    def _json_levels(self) -> dict[str, list[list[Any]]]:
        """Every level field as JSON values, by claim then level: made once for all the claims answered.
        The numeric fields are converted together, as one stacked array (``_json_numbers``)."""
        width = len(ESCALATION_LEVELS)
        out = _json_numbers(self.levels)
        for spec in LEVEL_FIELDS:
            if spec.name not in out:
                flat = _json_values(spec.kind, self.levels[spec.name])
                out[spec.name] = [flat[start : start + width] for start in range(0, len(flat), width)]
        return out

    def columns(self) -> dict[str, Any]:
        """The flat columns (``output_columns()``), each an array of n."""
        out: dict[str, Any] = {
            "recommended_action": self.claim["recommended_action"],
            "expected_net_recovery": self.claim["expected_net_recovery"],
            "path": _joined(self.path, PATH_SEPARATOR),
        }
        for name in LEVEL_FIELD_NAMES:
            out |= dict(zip(LEVEL_COLUMNS[name], self.levels[name].T, strict=True))
        out["reasons"] = _joined(self.reasons, SEPARATOR)
        out["warnings"] = _joined(self.warnings, SEPARATOR)
        for spec in CLAIM_FIELDS:
            out[spec.name] = self.claim[spec.name]
        return {name: out[name] for name in _OUTPUT_COLUMNS}


def _joined(parts: Sequence[Sequence[str]], separator: str) -> np.ndarray:
    return np.array([separator.join(row) for row in parts], dtype=object)
