"""835 remittances (+ 837 claims + an appeals log) into contract tables: the ``recoup import-x12`` stage.

The flow: 837 files -> submissions by patient control number; 835 files -> one adjudication record per
CLP, streamed; adjudications linked per claim (reversals cancel, the first adjudication is the initial
one, later ones are re-adjudications); claims built in the contract's columns, validated by the
contract's own rules, screened; with an appeals log, history rows joined to the claims. Every defect is a
report entry; nothing is dropped silently. Field-by-field rules: docs/x12.md.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import tempfile
from collections import Counter, namedtuple
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.schema import CLAIM_COLUMN_NAMES, CLAIM_COLUMNS
from features.validation import validate_table
from features.x12.parallel import map_calls, map_files
from features.x12.payers import PayerMap
from features.x12.reader import Problem, read_transactions, x12_files
from features.x12.remit import REVERSAL, Adjudication, adjudications
from features.x12.screening import CANDIDATES, OUTCOMES, candidates, screen
from features.x12.spill import SpilledTable, write_part
from features.x12.submitted import Submission, submissions

logger = logging.getLogger(__name__)

SALT_VARIABLE = "RECOUP_CLAIM_ID_SALT"
#: CARC reason codes as published: numbers 1-299 and the lettered series. A code outside them is
#: reported (and kept: the payer sent it).
_CARC_LETTER_SERIES = {"A": 8, "B": 23, "D": 25, "P": 32, "W": 9, "Y": 3}
#: Claims built and validated at a time: their Python values (some 8 KB a claim while a chunk is built)
#: are what the import holds beyond the linking keys. The importing process's peak is the highest of its
#: chunks, so it rises with the number of chunks by a share of one chunk's memory: 5,000 claims a chunk
#: gave 180 MB at 10,000 claims and 195 MB at 100,000, 2,000 gave 167 and 173, in the same time.
CHUNK_ROWS = 2_000


class ImportError_(ValueError):
    """The import cannot run at all (bad option, missing salt); names what to fix."""


def known_carc(reason: str) -> bool:
    if reason.isdigit():
        return 1 <= int(reason) <= 299
    series, number = reason[:1], reason[1:]
    return series in _CARC_LETTER_SERIES and number.isdigit() and 0 <= int(number) <= _CARC_LETTER_SERIES[series]


class ClaimIds:
    """Claim ids as written: passed through, or keyed hashes (HMAC-SHA256 with a salt from the environment)
    for sites that must not write the provider's account numbers."""

    def __init__(self, hashed: bool, salt: str | None = None):
        if hashed:
            salt = salt if salt is not None else os.environ.get(SALT_VARIABLE)
            if not salt:
                raise ImportError_(f"--hash-claim-ids needs a salt: set the {SALT_VARIABLE} environment variable")
            self._key = salt.encode()
        self.hashed = hashed

    def __call__(self, claim_id: str | None) -> str | None:
        if claim_id is None or not self.hashed:
            return claim_id
        return "H" + hmac.new(self._key, claim_id.encode(), hashlib.sha256).hexdigest()[:20].upper()


@dataclass
class ImportReport:
    files: int = 0
    files_837: int = 0
    transactions: int = 0
    adjudications: int = 0
    reversals: int = 0
    readjudications: int = 0
    duplicates: int = 0
    claims: int = 0
    claims_rejected: int = 0
    multi_line: int = 0
    matched_837: int = 0
    unmapped_payers: Counter = field(default_factory=Counter)
    screening: Counter = field(default_factory=Counter)  # (outcome, reason) -> claims
    history_rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_text(self, max_problems: int = 30) -> str:
        lines = [
            f"835 files read            {self.files:>10,}",
            f"837 files read            {self.files_837:>10,}",
            f"transactions              {self.transactions:>10,}",
            f"claim adjudications (CLP) {self.adjudications:>10,}",
            f"  reversals (CLP02=22)    {self.reversals:>10,}",
            f"  re-adjudications        {self.readjudications:>10,}",
            f"  duplicates ignored      {self.duplicates:>10,}",
            f"claims                    {self.claims:>10,}",
            f"  matched to an 837       {self.matched_837:>10,}",
            f"  multi-line (primary line kept) {self.multi_line:>5,}",
            f"  rejected by the contract {self.claims_rejected:>9,}",
        ]
        if self.unmapped_payers:
            names = ", ".join(f"{name} ({count})" for name, count in self.unmapped_payers.most_common(10))
            lines.append(f"payers not in the payer map (kept as named): {names}")
        lines.append("screening")
        for outcome in OUTCOMES:
            total = sum(count for (name, _), count in self.screening.items() if name == outcome)
            marker = "candidate" if outcome in CANDIDATES else "not written"
            lines.append(f"  {outcome:<20} {total:>10,}  ({marker})")
            for (name, reason), count in sorted(self.screening.items()):
                if name == outcome:
                    lines.append(f"      {count:>10,}  {reason}")
        if self.history_rows:
            lines.append(f"history rows              {self.history_rows:>10,}")
        lines += self.notes
        errors, warnings = len(self.errors), len(self.problems) - len(self.errors)
        lines.append(f"problems: {errors:,} error(s), {warnings:,} warning(s)" if self.problems else "problems: none")
        for problem in self.problems[:max_problems]:
            lines.append(f"  {problem}")
        if len(self.problems) > max_problems:
            lines.append(f"  ... and {len(self.problems) - max_problems:,} more")
        return "\n".join(lines)


@dataclass
class ImportResult:
    claims: pd.DataFrame  # every imported claim, typed contract columns, indexed 0..n-1
    screening: pd.DataFrame  # outcome and reason, aligned with ``claims``
    readjudications: pd.DataFrame  # claim_id, payment_date, allowed: later adjudications (appeal evidence)
    report: ImportReport

    @property
    def candidates(self) -> pd.DataFrame:
        return candidates(self.claims, self.screening)


#: Per-adjudication columns kept while streaming (the primary line's values where lines exist), in the
#: order ``_row`` gives them. The file name is dictionary-encoded: every row of a file holds the same one.
_ADJUDICATION_SCHEMA = pa.schema(
    [
        ("claim_id", pa.string()),
        ("file", pa.dictionary(pa.int32(), pa.string())),
        ("position", pa.int64()),
        ("status", pa.string()),
        ("payer_claim_number", pa.string()),
        ("original_reference", pa.string()),
        ("payment_date", pa.date32()),
        ("payer_code", pa.string()),
        ("payer_name", pa.string()),
        ("payee_state", pa.string()),
        ("service_date", pa.date32()),
        ("filing_indicator", pa.string()),
        ("billed", pa.float64()),
        ("allowed", pa.float64()),
        ("qpa", pa.float64()),
        ("carc_codes", pa.string()),
        ("nsa_remark", pa.bool_()),
        ("cpt_code", pa.string()),
        ("modifier", pa.string()),
        ("units", pa.int64()),
        ("prior_authorization", pa.bool_()),
        ("lines", pa.int64()),
        ("line_charge", pa.float64()),
        ("claim_charge", pa.float64()),
    ]
)
#: One adjudication row as ``build_claims`` reads it: the values as ``_row`` made them (None where missing).
AdjudicationRow = namedtuple("AdjudicationRow", _ADJUDICATION_SCHEMA.names)


def _rows(table: pa.Table) -> list[AdjudicationRow]:
    return list(map(AdjudicationRow._make, zip(*(column.to_pylist() for column in table.columns), strict=True)))


def _row(adjudication: Adjudication, ids: ClaimIds) -> tuple:
    line = adjudication.primary_line
    several = len(adjudication.lines) > 1
    return (
        ids(adjudication.claim_id),
        adjudication.file,
        adjudication.position,
        adjudication.status,
        adjudication.payer_claim_number,
        adjudication.original_reference,
        adjudication.payment_date,
        adjudication.payer_code,
        adjudication.payer_name,
        adjudication.payee_state,
        adjudication.service_date,
        adjudication.filing_indicator,
        # the primary line's amounts, so that the ratios to Medicare and QPA compare the same line
        line.charge if several else adjudication.claim_charge,
        line.allowed if several else adjudication.claim_allowed,
        None if several else adjudication.qpa,
        ",".join(adjudication.carc_codes) or None,
        adjudication.nsa_remark,
        line.procedure if line else None,
        line.modifiers[0] if line and line.modifiers else None,
        line.units if line else None,
        adjudication.prior_authorization,
        len(adjudication.lines),
        line.charge if line else None,
        adjudication.claim_charge,
    )


def read_835(
    sources: list[Path], ids: ClaimIds, report: ImportReport, folder: Path, workers: int = 1
) -> tuple[SpilledTable, pa.Table]:
    """Every CLP of the 835 files as one row, in input order (files side by side on ``workers`` processes),
    and the rows' linking keys (``_keys``).

    Each file's rows are written by its reading process to a part of their own in ``folder`` (compact
    Arrow columns, never a Python object per value); only the keys come back, so what the input costs
    the importing process is a few tens of bytes a claim."""
    paths = list(x12_files(sources))
    report.files += len(paths)
    table = SpilledTable(_ADJUDICATION_SCHEMA)
    keys = [_keys(_ADJUDICATION_SCHEMA.empty_table())]
    calls = [(path, ids, folder / f"{number:06d}.arrow") for number, path in enumerate(paths)]
    for (_, _, part), read in zip(calls, map_calls(read_835_file, calls, workers), strict=True):
        report.transactions += read.transactions
        report.problems += read.problems
        table.append(part, read.rows.num_rows)
        keys.append(read.rows)
    report.adjudications = table.num_rows
    return table, pa.concat_tables(keys)


@dataclass
class FileRead:
    """What one X12 file gave: its rows (835: the linking keys of its adjudication rows, which are in its
    part; 837: (claim id, submission) pairs), its problems in the order they were found, and (835) how
    many transactions it held."""

    rows: list | pa.Table = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    transactions: int = 0


def read_835_file(path: Path, ids: ClaimIds, part: Path) -> FileRead:
    """One 835 file's adjudication rows, in file order, written to ``part`` (their position in the input
    is their row number once the caller has put the files' parts one after another); their keys returned."""
    read = FileRead()
    rows = []
    for transaction in _transactions(path, ids, read.problems, "835"):
        read.transactions += 1
        for adjudication in adjudications(transaction, read.problems):
            _check_codes(adjudication, ids, read.problems)
            rows.append(_row(adjudication, ids))
    table = _pack(rows)
    if table.num_rows:
        write_part(table, part)
    read.rows = _keys(table)
    return read


def _keys(table: pa.Table) -> pa.Table:
    """What ``link`` sorts and tells apart for every row: claim id, payment date, whether a reversal."""
    return pa.table(
        {
            "claim_id": table["claim_id"],
            "payment_date": table["payment_date"],
            "reversal": pc.fill_null(pc.equal(table["status"], REVERSAL), False),
        }
    )


def _pack(rows: list[tuple]) -> pa.Table:
    """Adjudication rows as an Arrow table of ``_ADJUDICATION_SCHEMA`` (missing values as nulls)."""
    if not rows:
        return _ADJUDICATION_SCHEMA.empty_table()
    columns = zip(*rows, strict=True)
    return pa.table(
        [pa.array(values, type=column.type) for values, column in zip(columns, _ADJUDICATION_SCHEMA, strict=True)],
        schema=_ADJUDICATION_SCHEMA,
    )


#: what a transaction of the other kind among the files given for one kind is told (it is not read)
_MISPLACED = {
    "835": "an 837 among the 835 files (give it with --claims-837)",
    "837": "an 835 among the 837 files (give it as an 835 PATH)",
}


def _transactions(path: Path, ids: ClaimIds, problems: list[Problem], code: str):
    """The file's transactions of kind ``code`` (a warning for each other one); the reader's problems
    follow the others, with claim ids as written."""
    found: list[Problem] = []
    try:
        for transaction in read_transactions(path, found):
            if transaction.code == code:
                yield transaction
            else:
                problems.append(Problem(transaction.file, _MISPLACED[code], transaction.start, severity="warning"))
    finally:
        problems += [replace(problem, claim_id=ids(problem.claim_id)) for problem in found]


def _check_codes(adjudication: Adjudication, ids: ClaimIds, problems: list[Problem]) -> None:
    unknown = [pair for pair in adjudication.carc_codes if not known_carc(pair.split("-", 1)[1])]
    if unknown:
        problems.append(
            Problem(
                adjudication.file,
                "unknown CARC reason code (kept in carc_codes)",
                adjudication.position,
                ids(adjudication.claim_id),
                ", ".join(unknown),
                severity="warning",
            )
        )


def read_837(sources: list[Path], ids: ClaimIds, report: ImportReport, workers: int = 1) -> dict[str, Submission]:
    """Submissions by (hashed) patient control number; a later submission of the same claim replaces an
    earlier one (a corrected or replacement claim)."""
    found: dict[str, Submission] = {}
    paths = list(x12_files(sources))
    report.files_837 += len(paths)
    for part in map_files(read_837_file, paths, workers, ids):
        report.problems += part.problems
        found.update(part.rows)
    return found


def read_837_file(path: Path, ids: ClaimIds) -> FileRead:
    """One 837 file's (claim id as written, submission) pairs, in file order."""
    read = FileRead()
    for transaction in _transactions(path, ids, read.problems, "837"):
        read.rows += [(ids(submission.claim_id), submission) for submission in submissions(transaction)]
    return read


def link(table: SpilledTable, keys: pa.Table, report: ImportReport) -> tuple[np.ndarray, pd.DataFrame]:
    """(the rows of each claim's initial adjudication, in input order; later re-adjudications) from every
    CLP of the input (``table``, and its rows' ``keys``).

    Per claim, in payment date order (input order on a tie): a reversal (CLP02 = 22) cancels the latest
    earlier adjudication with its payer claim number (else the latest); the first adjudication that is not
    a reversal is the initial one, reversed or not; each later one, unless it repeats an adjudication that
    was never reversed (the same remit read twice), is a re-adjudication: evidence of an appeal's outcome.

    Only the keys are sorted (claim id, payment date, row number: a missing key first), and only the few
    claims with more than one adjudication have their rows read as values.
    """
    claim_id, payment_date, reversal = keys["claim_id"], keys["payment_date"], keys["reversal"].to_numpy()
    del keys
    keys = pa.table(
        {
            "claim_missing": pc.is_null(claim_id),
            "claim_id": pc.fill_null(claim_id, ""),
            "date_missing": pc.is_null(payment_date),
            "payment_date": pc.fill_null(payment_date, pa.scalar(0, pa.date32())),
            "row": pa.array(np.arange(len(claim_id))),
        }
    )
    order = pc.sort_indices(
        keys,
        sort_keys=[
            ("claim_missing", "descending"),
            ("claim_id", "ascending"),
            ("date_missing", "descending"),
            ("payment_date", "ascending"),
            ("row", "ascending"),
        ],
    ).to_numpy()
    # a claim's rows are consecutive in that order: it starts where the (filled) id or its missing flag changes
    ids, missing = keys["claim_id"].take(order), keys["claim_missing"].take(order).to_numpy()
    del keys
    changes = pc.not_equal(ids[1:], ids[:-1]).to_numpy() | (missing[1:] != missing[:-1])
    starts = np.flatnonzero(np.r_[True, changes]) if len(order) else np.array([], int)
    ends = np.r_[starts[1:], len(order)]
    del ids, missing, changes, claim_id, payment_date
    single = (ends - starts == 1) & ~reversal[order[starts]]
    initial = [order[starts[single]]]  # most claims: one adjudication, nothing to link
    later: np.ndarray | list[int] = []
    several = np.flatnonzero(~single)
    if len(several):
        # the rows of the claims with several adjudications, in sorted order: claim by claim, consecutive
        rows = np.concatenate([order[starts[i] : ends[i]] for i in several])
        values = table.take(rows).select(_LINK_COLUMNS)
        columns = {name: values[name].to_pylist() for name in _LINK_COLUMNS}
        first_rows, later_rows = [], []
        offset = 0
        for i in several:
            size = int(ends[i] - starts[i])
            claim_rows = range(offset, offset + size)
            first = _link_claim(claim_rows, columns, columns["claim_id"][offset], later_rows, report)
            if first is not None:
                first_rows.append(first)
            offset += size
        initial.append(rows[first_rows])
        later = rows[later_rows]
    report.readjudications = len(later)
    readjudications = table.take(later).select(["claim_id", "payment_date", "allowed"]).to_pandas()
    return np.sort(np.concatenate(initial)), readjudications


#: The columns the linking of a claim with several adjudications reads.
_LINK_COLUMNS = ("claim_id", "status", "payer_claim_number", "billed", "allowed", "payment_date", "file", "position")


def _link_claim(rows: range, columns: dict, claim_id: str, later: list[int], report: ImportReport) -> int | None:
    """The initial row of one claim's adjudications; its re-adjudications are appended to ``later``."""
    status, number = columns["status"], columns["payer_claim_number"]
    kept: list[int] = []  # rows standing (not reversed)
    first = None
    for row in rows:
        where = (columns["file"][row], int(columns["position"][row]), claim_id)
        if status[row] == REVERSAL:
            report.reversals += 1
            same = [i for i in kept if number[row] is not None and number[i] == number[row]]  # a missing one names none
            target = (same or kept or [None])[-1]
            if target is None:
                report.problems.append(
                    Problem(
                        where[0],
                        "reversal of an adjudication that is not in the input",
                        where[1],
                        claim_id,
                        severity="warning",
                    )
                )
            else:
                kept.remove(target)
        elif first is None:
            first = row
            kept.append(row)
        elif any(_same_decision(columns, i, row) for i in kept):
            report.duplicates += 1
            report.problems.append(
                Problem(
                    where[0],
                    "duplicate adjudication (same payer claim number and amounts, never reversed): "
                    "ignored, not double counted",
                    where[1],
                    claim_id,
                    severity="warning",
                )
            )
        else:
            kept.append(row)
            later.append(row)
    if first is None:
        report.problems.append(
            Problem(
                columns["file"][rows[0]],
                "only reversals for this claim: nothing to import",
                int(columns["position"][rows[0]]),
                claim_id,
                severity="warning",
            )
        )
    return first


def _same_decision(columns: dict, one: int, other: int) -> bool:
    return all(
        _equal(columns[name][one], columns[name][other])
        for name in ("payer_claim_number", "status", "billed", "allowed", "payment_date")
    )


def _equal(left, right) -> bool:
    return (pd.isna(left) and pd.isna(right)) if (pd.isna(left) or pd.isna(right)) else left == right


def _iso(value) -> str | None:
    return None if value is None or pd.isna(value) else value.isoformat()


def build_claims(
    initial: list[AdjudicationRow],
    submitted: dict[str, Submission] | None,
    payer_map: PayerMap,
    defaults: dict[str, str],
    fills: pd.DataFrame | None,
    report: ImportReport,
    conflicts: Counter,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contract claim rows (as values, not yet validated) and each row's payer settings; claims the appeals
    log contradicts are counted by column in ``conflicts``."""
    records, settings_rows = [], []
    for row in initial:
        settings = payer_map.settings(row.payer_code, row.payer_name)
        if not settings.mapped:
            report.unmapped_payers[settings.payer_id] += 1
        settings_rows.append((settings.medicare_multiple, settings.in_network))
        submission = submitted.get(row.claim_id) if submitted is not None else None
        line = submission.line_for(row.cpt_code, row.line_charge) if submission is not None else None
        if submitted is not None and submission is None:
            report.problems.append(
                Problem(
                    row.file,
                    "835 claim with no matching 837 (CLP01 = CLM01): imported from the 835 alone",
                    int(row.position),
                    row.claim_id,
                    severity="warning",
                )
            )
        if submission is not None:
            report.matched_837 += 1
        if row.lines > 1:
            report.multi_line += 1
        place = submission.place_of_service if submission is not None else None
        if line is not None and line.place_of_service:
            place = line.place_of_service
        record = {
            "claim_id": row.claim_id,
            "payer_id": settings.payer_id,
            "plan_type": _plan(row.filing_indicator, 0),
            "funding": _plan(row.filing_indicator, 1),
            "state": (submission.state if submission is not None else None) or row.payee_state,
            "place_of_service": place,
            "cpt_code": row.cpt_code or (line.procedure if line is not None else None),
            "modifier": (line.modifiers[0] if line is not None and line.modifiers else None)
            if line is not None
            else row.modifier,
            "units": (line.units if line is not None and line.units else None) or _int(row.units),
            "specialty": submission.specialty if submission is not None else None,
            "emergency": (submission.emergency or (line is not None and line.emergency))
            if submission is not None
            else None,
            "nsa_eligible": bool(row.nsa_remark),
            "network_gap": None,
            "service_date": _iso(row.service_date),
            "initial_payment_date": _iso(row.payment_date),
            "billed_amount": row.billed,
            "initial_allowed_amount": row.allowed,
            "qpa_amount": row.qpa,
            "carc_codes": row.carc_codes,
            "has_medical_necessity_letter": submission.has_medical_necessity_letter if submission else None,
            "has_clinical_notes": submission.has_clinical_notes if submission else None,
            "prior_authorization": bool(row.prior_authorization)
            or (submission.prior_authorization if submission else None),
        }
        if record["prior_authorization"] is False and submission is None:
            record["prior_authorization"] = None
        records.append(record)
    claims = pd.DataFrame(records, columns=list(CLAIM_COLUMN_NAMES))
    if fills is not None and len(claims):
        _fill_from_log(claims, fills, conflicts)
    for column, value in defaults.items():
        if column != "emergency":
            claims[column] = claims[column].astype(object).where(claims[column].notna(), value)
    # without an 837, an emergency-room place of service (given by --default too) marks an emergency
    emergency_room = claims["place_of_service"].astype(str).str.strip().eq("23") & claims["emergency"].isna()
    claims["emergency"] = claims["emergency"].astype(object).where(~emergency_room, True)
    if "emergency" in defaults:
        claims["emergency"] = claims["emergency"].where(claims["emergency"].notna(), defaults["emergency"])
    settings = pd.DataFrame(settings_rows, columns=["medicare_multiple", "in_network"])
    return claims, settings


def _plan(filing_indicator, which: int):
    from features.x12.remit import FILING_INDICATORS

    return FILING_INDICATORS.get(filing_indicator or "", (None, None))[which]


def _int(value):
    return None if value is None or pd.isna(value) else int(value)


def _fill_from_log(claims: pd.DataFrame, fills: pd.DataFrame, conflicts: Counter) -> None:
    """Claim columns the appeals log gives fill what the X12 did not determine; the X12 wins a conflict
    (counted by column in ``conflicts``)."""
    by_claim = fills.set_index("claim_id")
    positions = pd.Index(claims["claim_id"])
    for column in by_claim.columns:
        values = by_claim[column].reindex(positions).to_numpy()
        current = claims[column].astype(object)
        given = pd.notna(values) & (pd.Series(values).astype(str).str.strip() != "").to_numpy()
        missing = current.isna().to_numpy()
        claims[column] = np.where(missing & given, values, current.to_numpy())
        differs = (
            given
            & ~missing
            & (current.astype(str).str.lower().to_numpy() != pd.Series(values).astype(str).str.lower().to_numpy())
        )
        conflicts[column] += int(differs.sum())


def _conflict_problems(fills: pd.DataFrame, conflicts: Counter) -> list[Problem]:
    """One warning per appeals log column that contradicts the X12 for some claims."""
    return [
        Problem(
            "appeals log",
            f"column {column!r} differs from what the X12 files say for {conflicts[column]} claim(s): the X12 "
            "value is kept",
            severity="warning",
        )
        for column in fills.columns.drop("claim_id")
        if conflicts[column]
    ]


def validate_claims_frame(
    claims: pd.DataFrame, initial: list[AdjudicationRow], first_row: int, problems: list[Problem], today: date
) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Typed valid claims, the positions (into ``claims``) they came from and how many were rejected;
    contract failures are appended to ``problems``. ``claims`` are rows ``first_row``... of the import
    (row numbers as the validation reports them)."""
    frame = claims.copy()
    frame.index = pd.RangeIndex(first_row, first_row + len(frame), name="row")
    result = validate_table(frame, CLAIM_COLUMNS, today=today)
    for problem in result.report.problems:
        where = initial[problem.row - first_row] if problem.row >= first_row else None
        problems.append(
            Problem(
                where.file if where is not None else "claims",
                "claim does not meet the data contract; not imported",
                where.position if where is not None else None,
                where.claim_id if where is not None else None,
                f"column {problem.column!r}, value {problem.value!r}: {problem.rule}"
                + (" (give it with --default or an 837)" if problem.value == "" else ""),
            )
        )
    valid = result.valid
    return valid.reset_index(drop=True), valid.index.to_numpy() - first_row, result.report.rows_rejected


@dataclass
class ImportOptions:
    claims_837: list[Path] = field(default_factory=list)
    payer_map: Path | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    hash_claim_ids: bool = False
    salt: str | None = None
    workers: int = 1  # processes reading files side by side (features.x12.parallel)


def parse_defaults(pairs: list[str]) -> dict[str, str]:
    """``COLUMN=VALUE`` options for contract claim columns no file gives."""
    defaults = {}
    for pair in pairs:
        column, separator, value = pair.partition("=")
        column = column.strip().lower()
        if not separator or column not in CLAIM_COLUMN_NAMES:
            raise ImportError_(
                f"--default {pair!r}: expected COLUMN=VALUE with COLUMN one of {', '.join(CLAIM_COLUMN_NAMES)}"
            )
        if column == "claim_id":
            raise ImportError_("--default claim_id: every claim id comes from the 835 (CLP01)")
        defaults[column] = value.strip()
    return defaults


#: Where the valid claims go, chunk by chunk in input order, with their screening (aligned): kept in
#: memory (``Collected``) or written out as they come (``features.x12.stream_x12``).
ClaimSink = Callable[[pd.DataFrame, pd.DataFrame], None]


def stream_remittances(
    sources: list[Path], sink: ClaimSink, options: ImportOptions | None = None, log_fills: pd.DataFrame | None = None
) -> tuple[ImportReport, pd.DataFrame]:
    """Read, link, build, validate and screen: the claims of the 835 files in the contract, handed to
    ``sink``; the report and the re-adjudications (appeal evidence). The adjudication rows are spilled to
    a temporary directory (in ``$TMPDIR``, removed when the import ends, also on an error)."""
    options = options or ImportOptions()
    ids = ClaimIds(options.hash_claim_ids, options.salt)
    report = ImportReport()
    payer_map = PayerMap.load(options.payer_map)
    submitted = read_837(options.claims_837, ids, report, options.workers) if options.claims_837 else None
    with tempfile.TemporaryDirectory(prefix="recoup-x12-") as folder:
        table, keys = read_835(sources, ids, report, Path(folder), options.workers)
        initial, readjudications = link(table, keys, report)
        del keys  # only the initial rows' numbers are needed from here on
        if log_fills is not None:
            log_fills = log_fills.assign(claim_id=log_fills["claim_id"].map(ids))
        _claims(table, initial, submitted, payer_map, options, log_fills, report, sink)
    return report, readjudications


class Collected:
    """A ``ClaimSink`` that keeps every chunk, for ``import_remittances``."""

    def __init__(self) -> None:
        self.parts: list[tuple[pd.DataFrame, pd.DataFrame]] = []

    def __call__(self, claims: pd.DataFrame, screening: pd.DataFrame) -> None:
        self.parts.append((claims, screening))

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(claims, screening), each indexed 0..n-1."""
        # chunks with no valid claim add nothing; the first stays for the columns' types when all are empty
        parts = [part for part in self.parts if len(part[0])] or self.parts[:1]
        claims, screening = zip(*parts, strict=True)
        return pd.concat(claims, ignore_index=True), pd.concat(screening, ignore_index=True)


def import_remittances(
    sources: list[Path], options: ImportOptions | None = None, log_fills: pd.DataFrame | None = None
) -> ImportResult:
    """``stream_remittances`` with every claim kept in memory."""
    collected = Collected()
    report, readjudications = stream_remittances(sources, collected, options, log_fills)
    claims, screening = collected.frames()
    return ImportResult(claims, screening, readjudications, report)


def _claims(
    table: SpilledTable,
    initial: np.ndarray,
    submitted: dict[str, Submission] | None,
    payer_map: PayerMap,
    options: ImportOptions,
    fills: pd.DataFrame | None,
    report: ImportReport,
    sink: ClaimSink,
) -> None:
    """The valid claims and their screening, built, validated and screened ``CHUNK_ROWS`` claims at a time
    (the ``initial`` rows of the table) and handed to ``sink``, so that nothing here grows with the input.
    The report lists what one pass over every claim would: the building's problems, then the appeals
    log's conflicts, then the contract's rejections."""
    conflicts: Counter = Counter()
    rejections: list[Problem] = []
    today = date.today()
    for offset in range(0, len(initial), CHUNK_ROWS):
        rows = _rows(table.take(initial[offset : offset + CHUNK_ROWS]))
        claims, settings = build_claims(rows, submitted, payer_map, options.defaults, fills, report, conflicts)
        valid, kept, rejected = validate_claims_frame(claims, rows, offset + 1, rejections, today)
        del claims, rows
        report.claims_rejected += rejected
        settings = settings.iloc[kept]
        screening = screen(valid, settings["medicare_multiple"].to_numpy(), settings["in_network"].to_numpy())
        report.claims += len(valid)
        report.screening.update(zip(screening["outcome"], screening["reason"], strict=True))
        sink(valid, screening)
    if fills is not None:
        report.problems += _conflict_problems(fills, conflicts)
    report.problems += rejections
    if not len(initial):  # no claims at all: the contract's columns, empty
        claims, _ = build_claims([], submitted, payer_map, options.defaults, None, report, conflicts)
        sink(claims, screen(claims, np.array([]), np.array([])))
