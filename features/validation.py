"""Validation of contract tables: every problem named by row, column, value and rule; nothing dropped.

A row with any problem is rejected as a whole and reported; every other row is kept, typed and with the
contract's defaults filled in. Validation is vectorised per column so a million rows take seconds.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from features import values as rules
from features.io import READ_ERROR_COLUMN
from features.schema import (
    HISTORY_TABLE,
    REQUEST_TABLE,
    RESOLVED_OUTCOMES,
    TRUTH_PREFIX,
    Column,
    Kind,
    Level,
    parse_level,
)

logger = logging.getLogger(__name__)

TRUE_WORDS, FALSE_WORDS = rules.TRUE_WORDS, rules.FALSE_WORDS
MAX_VALUE_CHARS = 60
ERROR_COLUMN = "errors"  # a rejected row's problems, in ``ValidationResult.rejected``
HEADER_ROW = 0  # problems with the file as a whole (a missing column) are reported against row 0
EARLIEST_DATE, LATEST_DATE = rules.EARLIEST_DATE, rules.LATEST_DATE


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    value: str
    rule: str

    def __str__(self) -> str:
        where = "header" if self.row == HEADER_ROW else f"row {self.row}"
        if not self.column:  # the row could not be read (see ``features.io``): its rule names the line
            return f"{where}: {self.rule}"
        return f"{where}, column {self.column!r}, value {self.value!r}: {self.rule}"


@dataclass
class ValidationReport:
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    rejected_by_rule: Counter = field(default_factory=Counter)
    pending: int = 0
    withdrawn: int = 0
    unknown_columns: list[str] = field(default_factory=list)
    truth_columns: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rows_rejected == 0 and not self.file_problems

    @property
    def file_problems(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.row == HEADER_ROW]

    def merge(self, other: ValidationReport) -> None:
        """Add another chunk's report to this one (used by streaming readers)."""
        self.rows_read += other.rows_read
        self.rows_kept += other.rows_kept
        self.rows_rejected += other.rows_rejected
        self.rejected_by_rule.update(other.rejected_by_rule)
        self.pending += other.pending
        self.withdrawn += other.withdrawn
        self.unknown_columns = sorted(set(self.unknown_columns) | set(other.unknown_columns))
        self.truth_columns = sorted(set(self.truth_columns) | set(other.truth_columns))
        known = set(self.file_problems)
        self.problems.extend(p for p in other.problems if p.row != HEADER_ROW or p not in known)

    def to_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_rejected": self.rows_rejected,
            "rejected_by_rule": dict(self.rejected_by_rule.most_common()),
            "pending": self.pending,
            "withdrawn": self.withdrawn,
            "unknown_columns": self.unknown_columns,
            "truth_columns": self.truth_columns,
        }

    def to_text(self, max_problems: int = 20) -> str:
        lines = [
            f"rows read      {self.rows_read:>12,}",
            f"rows kept      {self.rows_kept:>12,}",
            f"rows rejected  {self.rows_rejected:>12,}",
        ]
        if self.pending or self.withdrawn:
            lines += [f"pending        {self.pending:>12,}", f"withdrawn      {self.withdrawn:>12,}"]
        for rule, count in self.rejected_by_rule.most_common():
            lines.append(f"  {count:>10,}  {rule}")
        if self.unknown_columns:
            lines.append("unknown columns (ignored): " + ", ".join(self.unknown_columns))
        if self.truth_columns:
            lines.append(f"simulator truth columns (never features): {len(self.truth_columns)}")
        for problem in self.problems[:max_problems]:
            lines.append(f"  {problem}")
        if len(self.problems) > max_problems:
            lines.append(f"  ... and {len(self.problems) - max_problems:,} more problems")
        return "\n".join(lines)


@dataclass
class ValidationResult:
    valid: pd.DataFrame  # typed rows that passed, indexed by their row number
    rejected: pd.DataFrame  # the rejected rows as read, with an ``errors`` column listing their problems
    report: ValidationReport


class _Checker:
    """Collects problems per row while columns are checked."""

    def __init__(self, index: pd.Index):
        self.index = index
        self.problems: list[Problem] = []
        self.bad = pd.Series(False, index=index)

    def flag(self, mask: pd.Series, column: str, values: pd.Series, rule: str) -> pd.Series:
        """Record a problem for each row in ``mask``; returns the mask as plain booleans."""
        flags = mask.to_numpy(dtype=bool, na_value=False)
        mask = pd.Series(flags, index=mask.index)
        if not flags.any():
            return mask
        self.bad |= mask
        for row, value in values[mask].items():
            self.problems.append(Problem(int(row), column, _as_text(value), rule))
        return mask

    def flag_row(self, row: int, column: str, value: object, rule: str) -> None:
        self.bad[row] = True
        self.problems.append(Problem(int(row), column, _as_text(value), rule))


def _as_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


class _Raw:
    """One raw column and, made at most once, its values as trimmed text (several rules read them)."""

    def __init__(self, values: pd.Series):
        self.values = values
        self._stripped: pd.Series | None = None

    @property
    def stripped(self) -> pd.Series:
        if self._stripped is None:
            self._stripped = self.values.astype("string").str.strip()
        return self._stripped


def _blank(values: pd.Series | _Raw) -> pd.Series:
    raw = values if isinstance(values, _Raw) else _Raw(values)
    values = raw.values
    if pd.api.types.is_string_dtype(values) or values.dtype == object:
        return values.isna() | (raw.stripped == "")
    return values.isna()


def _clean_text(values: pd.Series | _Raw, column: Column) -> pd.Series:
    text = (values if isinstance(values, _Raw) else _Raw(values)).stripped
    return text.str.upper() if column.upper else text


def _parse_bool(values: pd.Series | _Raw) -> pd.Series:
    raw = values if isinstance(values, _Raw) else _Raw(values)
    values = raw.values
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    words = raw.stripped.str.lower()
    parsed = pd.Series(pd.NA, index=values.index, dtype="boolean")
    parsed[words.isin(TRUE_WORDS)] = True
    parsed[words.isin(FALSE_WORDS)] = False
    return parsed


def _parse_date(values: pd.Series | _Raw) -> pd.Series:
    """Dates at day resolution; anything unparseable or outside the supported range becomes NaT."""
    raw = values if isinstance(values, _Raw) else _Raw(values)
    values = raw.values
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None).dt.normalize() if values.dt.tz else values.dt.normalize()
    else:
        # date objects (from the API) print as ISO dates, so one strict parser serves files and requests;
        # the pattern holds text to the zero-padded form (``to_datetime`` alone takes 2026-3-2)
        text = raw.stripped
        parsed = pd.to_datetime(text.where(text.str.fullmatch(rules.DATE_PATTERN)), format="%Y-%m-%d", errors="coerce")
    return parsed.where((parsed >= EARLIEST_DATE) & (parsed <= LATEST_DATE))


def _parse_levels(values: pd.Series) -> pd.Series:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    parsed = np.array([parse_level(value) for value in uniques] + [None], dtype=object)
    levels = pd.Series(parsed[codes], index=values.index)
    return levels.map(lambda level: np.nan if level is None else float(int(level))).astype("Float64")


_SCALAR_RULES = {
    Kind.STRING: rules.text_value,
    Kind.CODE: rules.text_value,
    Kind.CHOICE: rules.text_value,
    Kind.BOOL: rules.bool_value,
    Kind.INT: rules.number_value,
    Kind.FLOAT: rules.number_value,
    Kind.DATE: lambda value: rules.date_value(value).isoformat(),
}


def _by_type(column: Column, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``raw`` in the form its kind's parsing takes, and the rows whose value is of a type the kind never
    accepts (``features.values`` states the rules: the same for JSON, CSV text and Parquet types).

    Text (CSV), and a column already of the kind's own type, pass as they are; a numeric Parquet column
    in a text or yes/no column, a boolean one elsewhere, and columns of mixed Python objects (frames built
    by callers) are mapped here, the last value by value through ``features.values``.
    """
    fine = pd.Series(False, index=raw.index)
    kind = column.kind
    if kind is Kind.LEVEL or (kind is Kind.DATE and pd.api.types.is_datetime64_any_dtype(raw)):
        return raw, fine
    if pd.api.types.is_bool_dtype(raw.dtype):
        if kind is Kind.BOOL:
            return raw, fine
        return pd.Series(None, index=raw.index, dtype=object), raw.notna()
    if pd.api.types.is_numeric_dtype(raw.dtype):
        if kind in (Kind.INT, Kind.FLOAT):
            return raw, fine
        numbers = raw.astype("float64")
        if pd.api.types.is_integer_dtype(raw.dtype):
            whole = raw.notna()
        else:  # a float is a whole number's digits only while float64 holds every digit
            whole = pd.Series(np.isfinite(numbers) & numbers.mod(1).eq(0) & numbers.abs().lt(rules.MAX_EXACT_FLOAT))
        if kind is Kind.BOOL:
            accepted = numbers.isin((0.0, 1.0))
            return numbers.eq(1.0).astype("boolean").where(accepted), raw.notna() & ~accepted
        if kind is Kind.DATE:
            return pd.Series(None, index=raw.index, dtype=object), raw.notna()
        exact = raw if pd.api.types.is_integer_dtype(raw.dtype) else numbers.where(whole)
        digits = exact.astype("Int64").astype("string")
        return digits, raw.notna() & ~whole
    if raw.dtype == object and pd.api.types.infer_dtype(raw, skipna=True) not in ("string", "empty"):
        parse = _SCALAR_RULES[kind]

        def one(value):
            if rules.is_missing(value):
                return None, False
            try:
                return parse(value), False
            except rules.BrokenRule:
                return None, True

        pairs = [one(value) for value in raw]
        values = pd.Series([value for value, _ in pairs], index=raw.index, dtype=object)
        return values, pd.Series([bad for _, bad in pairs], index=raw.index)
    return raw, fine


def _check_column(column: Column, raw: pd.Series, checker: _Checker) -> pd.Series:
    """The column parsed to its contract type, problem rows flagged and their values blanked.

    Blanking keeps a bad value from also tripping a cross-field rule: one mistake, one problem.
    """
    present = ~_blank(_Raw(raw))
    if column.required:
        checker.flag(~present, column.name, raw, "is required")
    values, wrong_type = _by_type(column, raw)
    checker.flag(present & wrong_type, column.name, raw, column.rule)
    present &= ~wrong_type
    text = _Raw(values)
    if column.kind in (Kind.STRING, Kind.CODE):
        parsed = _clean_text(text, column).where(present)
        # a pattern admits no control character; other text is searched for one (``features.values``)
        if column.pattern:
            matches = parsed.str.fullmatch(column.pattern)
        else:
            matches = ~parsed.str.contains(rules.CONTROL_PATTERN)
        invalid = checker.flag(present & ~matches.fillna(False), column.name, raw, column.rule)
        return parsed.mask(invalid)
    if column.kind is Kind.CHOICE:
        canonical = {choice.upper(): choice for choice in column.choices or ()}
        parsed = _clean_text(text, column).str.upper().map(canonical).where(present)
        checker.flag(present & parsed.isna(), column.name, raw, column.rule)
        return parsed.astype("string")
    if column.kind is Kind.BOOL:
        parsed = _parse_bool(text).where(present)
        checker.flag(present & parsed.isna(), column.name, raw, column.rule)
        return parsed
    if column.kind in (Kind.INT, Kind.FLOAT):
        source = values if pd.api.types.is_numeric_dtype(values.dtype) else text.stripped
        numbers = pd.to_numeric(source, errors="coerce").astype("float64").where(present)
        invalid = ~np.isfinite(numbers)
        if column.kind is Kind.INT:
            invalid |= numbers.mod(1).ne(0)
        if column.minimum is not None:
            invalid |= numbers.le(column.minimum) if column.exclusive else numbers.lt(column.minimum)
        if column.maximum is not None:
            invalid |= numbers.gt(column.maximum)
        invalid = checker.flag(present & invalid, column.name, raw, column.rule)
        return numbers.mask(invalid)
    if column.kind is Kind.DATE:
        parsed = _parse_date(text).where(present)
        checker.flag(present & parsed.isna(), column.name, raw, column.rule)
        return parsed
    if column.kind is Kind.LEVEL:
        parsed = _parse_levels(raw)
        checker.flag(present & parsed.isna(), column.name, raw, column.rule)
        return parsed
    raise AssertionError(f"unhandled column kind {column.kind}")


def _typed_column(column: Column, raw: pd.Series) -> pd.Series:
    """What ``_check_column`` returns for a column whose every value already keeps its rules (request
    models parsed them; see ``validate_table``'s ``parsed``): the same types, without re-checking text."""
    if column.kind in (Kind.STRING, Kind.CODE, Kind.CHOICE):
        return raw.astype("string")
    if column.kind is Kind.BOOL:
        return raw.astype("boolean")
    if column.kind in (Kind.INT, Kind.FLOAT):
        return raw.astype("float64")
    if column.kind is Kind.DATE:
        return _parse_date(raw)
    if column.kind is Kind.LEVEL:
        return _parse_levels(raw)
    raise AssertionError(f"unhandled column kind {column.kind}")


def _fill_defaults(typed: pd.DataFrame, columns: tuple[Column, ...]) -> None:
    for column in columns:
        if column.default is None:
            continue
        if isinstance(column.default, str) and column.default.startswith("="):
            fallback = typed[column.default[1:]]
        elif column.kind is Kind.LEVEL:
            fallback = float(parse_level(column.default))
        else:
            fallback = column.default
        typed[column.name] = typed[column.name].fillna(fallback)


def _check_dates_in_order(typed: pd.DataFrame, raw: pd.DataFrame, checker: _Checker, later: str, earlier: str) -> None:
    if later in typed and earlier in typed:
        checker.flag(typed[later] < typed[earlier], later, raw[later], f"must not be before {earlier}")


def _check_rows(typed: pd.DataFrame, raw: pd.DataFrame, checker: _Checker, today: pd.Timestamp) -> None:
    """Rules that relate several columns of one row, or several rows."""
    checker.flag(typed["service_date"] > today, "service_date", raw["service_date"], "must not be in the future")
    checker.flag(
        typed["initial_allowed_amount"] > typed["billed_amount"],
        "initial_allowed_amount",
        raw["initial_allowed_amount"],
        "must not exceed billed_amount",
    )
    for later in ("initial_payment_date", "submitted_date", "resolved_date", "current_level_date", "as_of_date"):
        _check_dates_in_order(typed, raw, checker, later, "service_date")
    _check_dates_in_order(typed, raw, checker, "resolved_date", "submitted_date")
    if "outcome" in typed:
        outcome = typed["outcome"]
        resolved = outcome.isin(RESOLVED_OUTCOMES)
        checker.flag(
            resolved & typed["final_allowed_amount"].isna(),
            "final_allowed_amount",
            raw["final_allowed_amount"],
            "is required when the outcome is resolved",
        )
        checker.flag(
            resolved & typed["resolved_date"].isna(),
            "resolved_date",
            raw["resolved_date"],
            "is required when the outcome is resolved",
        )
        checker.flag(
            outcome.eq("pending") & typed["resolved_date"].notna(),
            "resolved_date",
            raw["resolved_date"],
            "must be empty when the outcome is pending",
        )
        prior_given = typed["prior_level"].notna()
        checker.flag(
            prior_given & (typed["prior_level"] >= typed["level"]),
            "prior_level",
            raw["prior_level"],
            "must be below level",
        )
        keys = typed["claim_id"].astype("string") + "\x1f" + typed["level"].astype("string")
        first_row = pd.Series(typed.index, index=typed.index).groupby(keys.values).transform("min")
        duplicate = keys.notna() & (first_row != typed.index)
        for row in typed.index[duplicate.to_numpy()]:
            checker.flag_row(
                row, "level", raw.at[row, "level"], f"duplicate claim_id and level (first at row {int(first_row[row])})"
            )
    if "current_level" in typed:
        checker.flag(
            typed["current_allowed_amount"] > typed["billed_amount"],
            "current_allowed_amount",
            raw["current_allowed_amount"],
            "must not exceed billed_amount",
        )
        _check_dates_in_order(typed, raw, checker, "as_of_date", "current_level_date")


def validate_table(
    frame: pd.DataFrame,
    columns: tuple[Column, ...],
    *,
    today: date | None = None,
    keep_truth: bool = False,
    parsed: bool = False,
    _part: bool = False,
) -> ValidationResult:
    """Check ``frame`` against ``columns``; keep typed valid rows, report the rest.

    ``frame`` is indexed by 1-based row number (as ``features.io`` reads it). ``keep_truth`` keeps the
    simulator's ``truth_`` columns (only evaluation reads them); otherwise they are dropped like any
    unknown column. ``parsed`` says every value already keeps its own column's rules (API request models,
    generated from the same column declarations, checked them): the columns are only typed, and the rules across
    columns and rows are checked as usual. Rows the reader could not read (their reason in
    ``features.io.READ_ERROR_COLUMN``) are rejected with that reason and checked no further.
    """
    if READ_ERROR_COLUMN in frame.columns:
        errors = frame[READ_ERROR_COLUMN].fillna("").astype(str)
        frame = frame.drop(columns=READ_ERROR_COLUMN)
        unreadable = errors.ne("").to_numpy()
        if unreadable.any():
            result = validate_table(
                frame[~unreadable], columns, today=today, keep_truth=keep_truth, parsed=parsed, _part=True
            )
            return _add_unreadable(result, frame[unreadable], errors[unreadable])
    today_ts = pd.Timestamp(today or date.today())
    report = ValidationReport(rows_read=len(frame))
    frame = frame.rename(columns=lambda name: str(name).strip().lower())
    known = {column.name for column in columns}
    report.truth_columns = sorted(name for name in frame.columns if name.startswith(TRUTH_PREFIX))
    report.unknown_columns = sorted(
        name for name in frame.columns if name not in known and not name.startswith(TRUTH_PREFIX)
    )
    if report.unknown_columns:
        logger.warning(
            "ignoring %d unknown column(s): %s", len(report.unknown_columns), ", ".join(report.unknown_columns)
        )
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        report.problems += [Problem(HEADER_ROW, name, name, "column appears more than once") for name in duplicated]
        return _reject_all(frame, report, "duplicated column")
    missing = [column.name for column in columns if column.required and column.name not in frame]
    if missing:
        report.problems += [Problem(HEADER_ROW, name, "", "required column is missing") for name in missing]
        return _reject_all(frame, report, "missing required column: " + ", ".join(missing))
    if frame.empty and not _part:
        report.problems.append(Problem(HEADER_ROW, "", "", "the file has no data rows"))
        return _reject_all(frame, report, "no data rows")

    raw = frame.reindex(columns=[column.name for column in columns])
    checker = _Checker(frame.index)
    typed = pd.DataFrame(
        {
            column.name: _typed_column(column, raw[column.name])
            if parsed
            else _check_column(column, raw[column.name], checker)
            for column in columns
        },
        index=frame.index,
    )
    _fill_defaults(typed, columns)
    _check_rows(typed, raw, checker, today_ts)

    problems_by_row: dict[int, list[str]] = {}
    for problem in checker.problems:
        problems_by_row.setdefault(problem.row, []).append(str(problem))
        report.rejected_by_rule[f"{problem.column}: {problem.rule.split(' (first at')[0]}"] += 1
    report.problems = sorted(checker.problems, key=lambda problem: problem.row)
    bad = checker.bad.to_numpy()
    rejected = frame[bad].copy()
    rejected[ERROR_COLUMN] = ["; ".join(problems_by_row[row]) for row in rejected.index]
    valid = typed[~bad]
    if keep_truth and report.truth_columns:
        valid = valid.join(frame.loc[~bad, report.truth_columns])
    valid = _finish_types(valid, columns)
    report.rows_rejected = int(bad.sum())
    report.rows_kept = len(valid)
    if "outcome" in valid:
        report.pending = int(valid["outcome"].eq("pending").sum())
        report.withdrawn = int(valid["outcome"].eq("withdrawn").sum())
    return ValidationResult(valid, rejected, report)


_READ_WHERE = re.compile(r"^(line \d+|rows \d+-\d+): ")


def _add_unreadable(result: ValidationResult, frame: pd.DataFrame, errors: pd.Series) -> ValidationResult:
    """``result`` with the rows the reader could not read added as rejected rows, each with its reason."""
    problems = [Problem(int(row), "", "", reason) for row, reason in errors.items()]
    rejected = frame.copy()
    rejected[ERROR_COLUMN] = [str(problem) for problem in problems]
    result.rejected = pd.concat([result.rejected, rejected]).sort_index() if len(result.rejected) else rejected
    report = result.report
    report.problems = sorted(report.problems + problems, key=lambda problem: problem.row)
    for reason in errors:
        report.rejected_by_rule["unreadable row: " + _READ_WHERE.sub("", reason).split(" (")[0]] += 1
    report.rows_read += len(frame)
    report.rows_rejected += len(frame)
    return result


def _finish_types(valid: pd.DataFrame, columns: tuple[Column, ...]) -> pd.DataFrame:
    for column in columns:
        values = valid[column.name]
        if column.kind is Kind.DATE:
            if values.dtype != "datetime64[ns]":
                valid[column.name] = values.astype("datetime64[ns]")
        elif column.kind is Kind.BOOL:
            valid[column.name] = values.astype(bool) if values.notna().all() else values
        elif (column.kind is Kind.LEVEL and values.notna().all()) or (column.kind is Kind.INT and values.notna().all()):
            valid[column.name] = values.astype("int64")
    return valid


def _reject_all(frame: pd.DataFrame, report: ValidationReport, reason: str) -> ValidationResult:
    report.rows_rejected = len(frame)
    report.rejected_by_rule[reason] = len(frame)
    rejected = frame.copy()
    rejected[ERROR_COLUMN] = reason
    return ValidationResult(frame.iloc[0:0], rejected, report)


def validate_history(frame: pd.DataFrame, *, today: date | None = None, keep_truth: bool = True) -> ValidationResult:
    """Validate a negotiation history table (one row per escalation attempt)."""
    return validate_table(frame, HISTORY_TABLE, today=today, keep_truth=keep_truth)


def validate_claims(frame: pd.DataFrame, *, today: date | None = None, parsed: bool = False) -> ValidationResult:
    """Validate scoring requests: claim columns plus the current level, allowed amount and dates
    (``parsed``: see ``validate_table``)."""
    result = validate_table(frame, REQUEST_TABLE, today=today, parsed=parsed)
    valid = result.valid
    if len(valid):
        valid["as_of_date"] = valid["as_of_date"].fillna(pd.Timestamp(today or date.today()))
        too_high = valid["current_level"] >= int(Level.legal)
        if too_high.any():
            _reject_rows(
                result,
                valid.index[too_high.to_numpy()],
                "current_level",
                "legal is the last level: nothing is left to escalate",
            )
    return result


def _reject_rows(result: ValidationResult, rows: pd.Index, column: str, rule: str) -> None:
    """Move already-typed rows that break a late rule from ``valid`` to ``rejected``."""
    problems = [
        Problem(int(row), column, _as_text(Level(int(result.valid.at[row, column])).name), rule) for row in rows
    ]
    rejected = result.valid.loc[rows].copy()
    rejected[ERROR_COLUMN] = [str(problem) for problem in problems]
    result.valid = result.valid.drop(index=rows)
    result.rejected = pd.concat([result.rejected, rejected]).sort_index()
    result.report.problems = sorted(result.report.problems + problems, key=lambda problem: problem.row)
    result.report.rejected_by_rule[f"{column}: {rule}"] += len(problems)
    result.report.rows_rejected += len(problems)
    result.report.rows_kept -= len(problems)
