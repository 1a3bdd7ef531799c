"""The rules in force: fees and windows with their effective dates and sources, as shipped package data.

``features/data/policy_rules.csv`` holds one row per (rule, period): the figure, the published range
where there is one, the dates it is in force and its citation. ``features/data/state_external_review.csv``
holds each state's external review window. Both are read once per process. A date before a rule's first
period takes the first period's figure (the table starts with the fee rule of January 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd


def _read(name: str) -> pd.DataFrame:
    with resources.files("features.data").joinpath(name).open("rb") as file:
        return pd.read_csv(file, keep_default_na=False)


@dataclass(frozen=True)
class _Periods:
    starts: np.ndarray  # datetime64[D], ascending
    values: np.ndarray  # float64
    citations: tuple[str, ...]


@dataclass(frozen=True)
class RuleTable:
    """Effective-dated figures by rule name."""

    rows: pd.DataFrame

    def __post_init__(self) -> None:
        periods = {}
        for rule, rows in self.rows.groupby("rule", sort=False):
            rows = rows.sort_values("effective_from")
            starts = rows["effective_from"].to_numpy(dtype="datetime64[D]")
            ends = pd.to_datetime(rows["effective_to"].replace("", None)).to_numpy(dtype="datetime64[D]")
            # periods must follow each other without gaps or overlaps, so that a date has one figure
            if np.any(starts[1:] != ends[:-1] + np.timedelta64(1, "D")) or not np.isnat(ends[-1]):
                raise ValueError(f"policy_rules.csv: the periods of {rule!r} must follow each other, the last open")
            periods[rule] = _Periods(starts, rows["value"].to_numpy(dtype="float64"), tuple(rows["citation"]))
        object.__setattr__(self, "_periods", periods)

    def value(self, rule: str, dates: np.ndarray | np.datetime64) -> np.ndarray:
        """The figure of ``rule`` in force on each of ``dates`` (NaT takes the latest figure)."""
        periods = self._periods[rule]
        if len(periods.starts) == 1:  # one figure since the table starts (most windows): no date to look up
            return np.full(np.shape(dates), periods.values[0])
        dates = np.asarray(dates, dtype="datetime64[D]")
        position = np.searchsorted(periods.starts, dates, side="right") - 1
        position = np.where(np.isnat(dates), len(periods.starts) - 1, np.maximum(position, 0))
        return periods.values[position]

    def citation(self, rule: str, date: np.datetime64) -> str:
        periods = self._periods[rule]
        position = max(int(np.searchsorted(periods.starts, np.datetime64(date, "D"), side="right")) - 1, 0)
        return periods.citations[position]

    def in_force(self, date: np.datetime64) -> pd.DataFrame:
        """The row of every rule in force on ``date``."""
        starts = self.rows["effective_from"].to_numpy(dtype="datetime64[D]")
        ends = pd.to_datetime(self.rows["effective_to"].replace("", None)).to_numpy(dtype="datetime64[D]")
        date = np.datetime64(date, "D")
        return self.rows[(starts <= date) & (np.isnat(ends) | (ends >= date))].reset_index(drop=True)


@cache
def shipped_rules() -> RuleTable:
    """The rules table shipped with the package."""
    rows = _read("policy_rules.csv")
    for name in ("value", "range_low", "range_high"):
        rows[name] = pd.to_numeric(rows[name].replace("", None), errors="raise").astype("float64")
    return RuleTable(rows)


@cache
def state_external_review() -> pd.DataFrame:
    """External review windows by state: ``state``, ``months``, ``program``, ``citation``."""
    return _read("state_external_review.csv").set_index("state")


@cache
def state_external_review_windows() -> dict[str, tuple[int, str]]:
    """Each state's external review window as ``{state: (months, citation)}``, for lookups per claim."""
    table = state_external_review()
    return {
        code: (int(months), citation)
        for code, months, citation in zip(table.index, table["months"], table["citation"], strict=True)
    }
