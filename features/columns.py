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

#: The claim's yes/no flags, and its codes and categories (also the feature transformer's inputs).
FLAG_COLUMNS = (
    "emergency",
    "nsa_eligible",
    "network_gap",
    "has_medical_necessity_letter",
    "has_clinical_notes",
    "prior_authorization",
)
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
NUMBER_COLUMNS = (
    "billed_amount",
    "qpa_amount",
    "initial_allowed_amount",
    "units",
    "current_allowed_amount",
    *FLAG_COLUMNS,
)
INTEGER_COLUMNS = ("current_level",)
DATE_COLUMNS = ("service_date", "initial_payment_date", "current_level_date", "as_of_date")

#: Set on some claims only (by the worklist's IDR batching, ``models.batching``): a column only when present.
OPTIONAL_NUMBER_COLUMNS = ("idr_batch_size",)
OPTIONAL_TEXT_COLUMNS = ("idr_batch_id",)

ClaimColumns = dict[str, np.ndarray]


def frame_columns(
    frame: pd.DataFrame,
    numbers: Sequence[str],
    integers: Sequence[str],
    dates: Sequence[str],
    texts: Sequence[str],
) -> ClaimColumns:
    """The named columns of ``frame``, typed by kind (a date column the frame lacks is all NaT)."""
    columns: ClaimColumns = {}
    for name in numbers:
        columns[name] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    for name in integers:
        columns[name] = frame[name].to_numpy(dtype="int64")
    for name in dates:
        if name not in frame:
            columns[name] = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
            continue
        values = frame[name]
        if not pd.api.types.is_datetime64_any_dtype(values):
            values = pd.to_datetime(values)
        columns[name] = values.to_numpy(dtype="datetime64[ns]")
    for name in texts:
        columns[name] = frame[name].to_numpy(dtype=object, na_value=None)
    return columns


def claim_columns(frame: pd.DataFrame) -> ClaimColumns:
    """A validated claims frame as typed columns."""
    columns = frame_columns(frame, NUMBER_COLUMNS, INTEGER_COLUMNS, DATE_COLUMNS, TEXT_COLUMNS)
    for name in OPTIONAL_NUMBER_COLUMNS:
        if name in frame:
            columns[name] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    for name in OPTIONAL_TEXT_COLUMNS:
        if name in frame:
            columns[name] = frame[name].to_numpy(dtype=object, na_value="")
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
    for name in OPTIONAL_TEXT_COLUMNS:
        if any(name in claim for claim in claims):
            text = np.empty(len(claims), dtype=object)
            text[:] = [claim.get(name) or "" for claim in claims]
            columns[name] = text
    return columns
