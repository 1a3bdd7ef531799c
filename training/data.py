"""History loading and the time-ordered split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.history import derive_attempts
from features.io import read_table
from features.validation import ValidationReport, validate_history


@dataclass
class History:
    attempts: pd.DataFrame  # every valid attempt, with prior_level, allowed_before, resolved, success
    truth: pd.DataFrame  # the simulator's truth_ columns, same index; no columns for real history
    report: ValidationReport
    digest: str

    @property
    def resolved(self) -> pd.DataFrame:
        return self.attempts[self.attempts["resolved"]]


@dataclass
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame  # early stopping and calibration
    test: pd.DataFrame  # the newest attempts: every reported metric comes from here
    train_end: pd.Timestamp
    valid_end: pd.Timestamp


class TrainingDataError(ValueError):
    """The history leaves nothing to train on (no valid rows, or too few to split by time)."""


def dataset_digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _table(source: Path | pd.DataFrame) -> pd.DataFrame:
    return read_table(source)[0] if not isinstance(source, pd.DataFrame) else source


def history_digest(source: Path | pd.DataFrame) -> str:
    """The dataset digest ``recoup train`` logs for ``source``: of its valid rows, as read and validated."""
    return dataset_digest(validate_history(_table(source)).valid)


def load_history(source: Path | pd.DataFrame) -> History:
    """Read and validate a history; rejected rows are reported in ``report``, never fatal."""
    result = validate_history(_table(source))
    if result.valid.empty:
        report = result.report
        first = f"; first problem: {report.problems[0]}" if report.problems else ""
        raise TrainingDataError(
            f"no valid rows to train on ({report.rows_rejected:,} of {report.rows_read:,} rows rejected){first}"
        )
    truth_columns = result.report.truth_columns
    attempts = derive_attempts(result.valid.drop(columns=truth_columns))
    attempts["attempt_date"] = attempts["submitted_date"]
    resolved = attempts["resolved_date"].fillna(attempts["submitted_date"])
    attempts["days_to_resolution"] = (resolved - attempts["submitted_date"]).dt.days.astype("float64")
    truth = result.valid[truth_columns].reindex(attempts.index)
    return History(attempts, truth, result.report, dataset_digest(result.valid))


def time_split(resolved: pd.DataFrame, valid_share: float = 0.1, test_share: float = 0.2) -> Split:
    """Train on the oldest attempts, validate on the next, test on the newest: never a random split."""
    dates = resolved["submitted_date"]
    train_end = dates.quantile(1 - valid_share - test_share)
    valid_end = dates.quantile(1 - test_share)
    train = resolved[dates <= train_end]
    valid = resolved[(dates > train_end) & (dates <= valid_end)]
    test = resolved[dates > valid_end]
    if min(len(train), len(valid), len(test)) == 0:
        raise TrainingDataError(f"history too small or too short in time to split: {len(resolved)} resolved attempts")
    return Split(train, valid, test, train_end, valid_end)
