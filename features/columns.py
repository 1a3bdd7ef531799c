"""Typed claim columns: the scoring core's input, one numpy array per contract column.

Numbers (amounts, units, yes/no flags) are float64 with NaN where missing, the current level int64, dates
datetime64 with NaT where missing, text objects with None where missing. ``claim_columns`` types a
validated frame (the worklist and frame adapters), ``claim_columns_of`` typed single claims
(``features.requests.typed_claim``); both give the same arrays for the same claims, and the scoring core
(``models.bundle.RecoupBundle.score_columns``) reads nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.transformer import FLAG_SOURCES

NUMBER_COLUMNS = (
    "billed_amount",
    "qpa_amount",
    "initial_allowed_amount",
    "units",
    "current_allowed_amount",
    *FLAG_SOURCES,
)
INTEGER_COLUMNS = ("current_level",)
DATE_COLUMNS = ("service_date", "initial_payment_date", "current_level_date", "as_of_date")
TEXT_COLUMNS = (
    "payer_id",
    "plan_type",
    "funding",
    "state",
    "specialty",
    "place_of_service",
    "cpt_code",
    "modifier",
    "carc_codes",
)

#: Set on some claims only (by the worklist's IDR batching): a column only when present.
OPTIONAL_NUMBER_COLUMNS = ("idr_batch_size",)

ClaimColumns = dict[str, np.ndarray]


def claim_columns(frame: pd.DataFrame) -> ClaimColumns:
    """A validated claims frame as typed columns (an optional date the frame lacks is all NaT)."""
    columns: ClaimColumns = {}
    for name in NUMBER_COLUMNS:
        columns[name] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    for name in INTEGER_COLUMNS:
        columns[name] = frame[name].to_numpy(dtype="int64")
    for name in DATE_COLUMNS:
        if name not in frame:
            columns[name] = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
            continue
        values = frame[name]
        if not pd.api.types.is_datetime64_any_dtype(values):
            values = pd.to_datetime(values)
        columns[name] = values.to_numpy(dtype="datetime64[ns]")
    for name in TEXT_COLUMNS:
        columns[name] = frame[name].to_numpy(dtype=object, na_value=None)
    for name in OPTIONAL_NUMBER_COLUMNS:
        if name in frame:
            columns[name] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    return columns


def claim_columns_of(claims: Sequence[Mapping[str, Any]]) -> ClaimColumns:
    """Typed single claims (plain values: dates as ``date``, missing as None) as typed columns."""
    columns: ClaimColumns = {}
    for name in NUMBER_COLUMNS:
        columns[name] = np.array(
            [np.nan if (value := claim.get(name)) is None else float(value) for claim in claims], dtype="float64"
        )
    for name in INTEGER_COLUMNS:
        columns[name] = np.array([int(claim[name]) for claim in claims], dtype="int64")
    for name in DATE_COLUMNS:
        columns[name] = np.array([claim.get(name) for claim in claims], dtype="datetime64[D]")
    for name in TEXT_COLUMNS:
        text = np.empty(len(claims), dtype=object)
        text[:] = [claim.get(name) for claim in claims]
        columns[name] = text
    for name in OPTIONAL_NUMBER_COLUMNS:
        if any(name in claim for claim in claims):
            columns[name] = np.array([claim.get(name, np.nan) for claim in claims], dtype="float64")
    return columns
