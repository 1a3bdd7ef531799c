"""X12 835/837 reading into the data contract (a data reader like the CSV and Parquet ones).

``stream_x12`` is the whole stage behind ``recoup import-x12``: 835 remittances (+ 837 claims, + an
appeals log) in, scoring claims (the screened candidates, written as they are built), an optional
training history and a report out; ``import_x12`` is the same with every claim returned as frames.
Modules: ``reader`` (x12sdk transactions with per-transaction and per-claim error capture), ``remit``
(835 mapping), ``submitted`` (837 mapping), ``payers`` (the payer map), ``screening``, ``importer``
(linking reversals and building claims), ``spill`` (the adjudication rows on disk) and ``appeals`` (the
appeals log into history).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.io import TABLE_SUFFIXES
from features.schema import LEVEL_NAMES
from features.validation import validate_history
from features.writer import TableWriter
from features.x12.appeals import claim_fills, read_appeals_log, reconstruct
from features.x12.importer import (
    ClaimIds,
    Collected,
    ImportError_,
    ImportOptions,
    ImportReport,
    ImportResult,
    import_remittances,
    parse_defaults,
    stream_remittances,
)
from features.x12.reader import Problem, looks_like_x12
from features.x12.screening import candidates

__all__ = [
    "ImportError_",
    "ImportOptions",
    "ImportReport",
    "ImportResult",
    "StreamedImport",
    "X12Import",
    "import_x12",
    "is_x12_source",
    "looks_like_x12",
    "parse_defaults",
    "stream_x12",
    "x12_scoring_table",
]


@dataclass
class X12Import:
    result: ImportResult
    history: pd.DataFrame | None  # validated history rows (contract types), when an appeals log was given

    @property
    def report(self) -> ImportReport:
        return self.result.report


@dataclass
class StreamedImport:
    report: ImportReport
    candidates: int  # claims handed to the writer
    history: pd.DataFrame | None  # as ``X12Import.history``


def import_x12(sources: list[Path], options: ImportOptions | None = None, appeals: Path | None = None) -> X12Import:
    """Import 835 files or directories, every claim kept in memory; with ``appeals``, also the history the
    log and the 835s give."""
    options = options or ImportOptions()
    log = _AppealsLog.read(appeals, options) if appeals is not None else None
    result = import_remittances(sources, options, log.fills if log is not None else None)
    history = log.history(result.claims, result.readjudications, result.report) if log is not None else None
    return X12Import(result, history)


def stream_x12(
    sources: list[Path],
    write: Callable[[pd.DataFrame], None],
    options: ImportOptions | None = None,
    appeals: Path | None = None,
) -> StreamedImport:
    """``import_x12``, with the candidates handed to ``write`` a chunk at a time as they are built (in
    order: together, ``X12Import.result.candidates``), and of the other claims only those the appeals log
    names kept, for its history: what the import holds does not grow with the claims."""
    options = options or ImportOptions()
    log = _AppealsLog.read(appeals, options) if appeals is not None else None
    sink = _Streamed(write, set(log.rows["claim_id"]) if log is not None else None)
    report, readjudications = stream_remittances(sources, sink, options, log.fills if log is not None else None)
    history = log.history(sink.logged.frames()[0], readjudications, report) if log is not None else None
    return StreamedImport(report, sink.candidates, history)


class _Streamed:
    """A ``ClaimSink``: each chunk's candidates to ``write``; the claims in ``logged`` (ids) kept."""

    def __init__(self, write: Callable[[pd.DataFrame], None], logged: set[str] | None):
        self.write, self.logged_ids = write, logged
        self.logged = Collected()
        self.candidates = 0

    def __call__(self, claims: pd.DataFrame, screening: pd.DataFrame) -> None:
        chosen = candidates(claims, screening)
        self.write(chosen)
        self.candidates += len(chosen)
        if self.logged_ids is not None:
            named = claims["claim_id"].isin(self.logged_ids).to_numpy()
            self.logged(claims[named], screening[named])


@dataclass
class _AppealsLog:
    path: Path
    rows: pd.DataFrame  # the log, claim ids as written (hashed as the claims' are)
    notes: list[str]
    fills: pd.DataFrame | None  # the claim columns it gives (``claim_fills``)

    @classmethod
    def read(cls, path: Path, options: ImportOptions) -> _AppealsLog:
        log, notes = read_appeals_log(path)
        if "claim_id" not in log:
            raise ImportError_(f"{path}: no claim id column (e.g. 'Claim ID', 'claim_id', 'Account Number')")
        fills = claim_fills(log)
        ids = ClaimIds(options.hash_claim_ids, options.salt)
        return cls(path, log.assign(claim_id=log["claim_id"].astype(str).str.strip().map(ids)), notes, fills)

    def history(self, claims: pd.DataFrame, readjudications: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
        """The validated history rows of the log's claims among ``claims`` (at least those the log names);
        the rest are report entries."""
        log, appeals = self.rows, self.path
        known = log["claim_id"].isin(set(claims["claim_id"]))
        for row, claim_id in log.loc[~known, "claim_id"].items():
            report.problems.append(
                Problem(
                    str(appeals),
                    "appeal for a claim that is not among the imported claims; row not in the history",
                    claim_id=claim_id,
                    detail=f"row {row}",
                )
            )
        rows = reconstruct(log[known], claims, readjudications)
        validated = validate_history(rows, keep_truth=False)
        for problem in validated.report.problems:
            report.problems.append(
                Problem(
                    str(appeals),
                    "history row does not meet the data contract; not written",
                    claim_id=rows.at[problem.row, "claim_id"] if problem.row in rows.index else None,
                    detail=f"row {problem.row}: column {problem.column!r}, value {problem.value!r}: {problem.rule}",
                )
            )
        report.history_rows = len(validated.valid)
        report.notes += [f"{appeals}: header {note}" for note in self.notes]
        return _with_level_names(validated.valid.reset_index(drop=True))


def is_x12_source(path: Path) -> bool:
    """Whether ``path`` is X12 by content: a file that starts with ISA, or a directory that holds such a
    file and no CSV/Parquet parts."""
    path = Path(path)
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]
        tables = [p for p in files if p.suffix.lower() in TABLE_SUFFIXES]
        return not tables and any(looks_like_x12(p) for p in files)
    return path.is_file() and looks_like_x12(path)


def x12_scoring_table(sources: list[Path], output: Path, options: ImportOptions | None = None) -> ImportReport:
    """Import X12 835s (``options`` as for ``import_x12``) and write the candidates to score to ``output``
    (Parquet), as they are built."""
    with TableWriter(output) as writer:
        imported = stream_x12(sources, writer.write, options)
        if not imported.candidates:  # nothing is left under ``output``
            raise ImportError_(
                "the X12 input gave no claims to score (no denied or underpaid claim); the import report:\n"
                + imported.report.to_text()
            )
    return imported.report


def _with_level_names(history: pd.DataFrame) -> pd.DataFrame:
    """Levels written by name (validation types them as numbers); an all-empty prior_level is dropped."""
    names = pd.Series(LEVEL_NAMES)
    for column in ("level", "prior_level"):
        if column in history:
            if history[column].isna().all():
                history = history.drop(columns=column)
            else:
                history[column] = history[column].map(lambda value: None if pd.isna(value) else names[int(value)])
    return history
