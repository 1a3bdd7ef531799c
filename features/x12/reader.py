"""X12 interchanges into validated transaction models (x12sdk), one transaction at a time, with every
defect a report entry instead of an exception.

x12sdk's ``X12SegmentReader`` streams the segments with the separators the ISA declares, and its parser
builds one validated Pydantic model per ST/SE transaction. Its ``X12ModelReader`` stops at the first
invalid transaction, and one invalid claim invalidates the whole transaction, so this module drives the
same parser itself: it keeps the current transaction's segments (memory grows with the largest
transaction, never with the input), and when a transaction fails validation it validates each claim of
an 835 alone (the transaction's header, the claim, a recounted SE) so that one bad claim costs only
that claim. Problems name the file, the 1-based segment position in the file (ISA = 1), the claim id
where known and the rule.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from x12sdk.io import X12SegmentReader
from x12sdk.parsing import X12Parser, create_parser

from features.x12 import sdk

sdk.install()

logger = logging.getLogger(__name__)

#: Transaction sets recoup reads, by ST01 and the GS08 implementation guides it accepts.
SUPPORTED = {"835": ("005010X221A1",), "837": ("005010X222A2", "005010X223A3")}
_ENVELOPE = frozenset({"ISA", "GS", "GE", "IEA"})
#: Segments whose values may be quoted in a report entry: amounts, codes, dates and organisation names.
#: Any other segment (NM1, N3, N4, DMG, REF ...) may hold patient data, so its values are never quoted.
QUOTABLE_SEGMENTS = frozenset(
    {"st", "se", "bpr", "trn", "clp", "cas", "svc", "amt", "dtm", "lq", "moa", "lx", "plb", "clm", "sv1", "sv2"}
)
_CLAIM_START = {"835": "CLP", "837": "CLM"}
_CLAIM_END_835 = frozenset({"CLP", "LX", "SE", "PLB"})


@dataclass(frozen=True)
class Problem:
    """One report entry: where in which file, which claim, which rule."""

    file: str
    rule: str
    segment: int | None = None
    claim_id: str | None = None
    detail: str = ""
    severity: str = "error"  # error: something was not imported; warning: imported, but worth a look

    def __str__(self) -> str:
        where = self.file if self.segment is None else f"{self.file}, segment {self.segment}"
        claim = f", claim {self.claim_id}" if self.claim_id else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.severity}: {where}{claim}: {self.rule}{detail}"


@dataclass
class Transaction:
    """One validated transaction set and where its claims start in the file."""

    file: str
    code: str  # ST01: 835 or 837
    version: str  # GS08 implementation guide
    model: object
    start: int  # position of the ST segment
    claim_positions: list[tuple[int, str]] = field(default_factory=list)  # (segment position, claim id)
    component_separator: str = ":"


@dataclass
class _Segments:
    """The segments of the transaction being read: (position, name, fields)."""

    code: str
    version: str
    start: int
    rows: list[tuple[int, str, list[str]]] = field(default_factory=list)

    def claims(self) -> list[tuple[int, str]]:
        start = _CLAIM_START.get(self.code)
        return [(position, _field(fields, 1)) for position, name, fields in self.rows if name == start]


def _field(fields: list[str], index: int) -> str:
    return fields[index].strip() if len(fields) > index else ""


def looks_like_x12(path: Path) -> bool:
    """Whether a file starts with an ISA segment (a BOM and leading whitespace allowed): detection by
    content, not by suffix."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(512)
    except OSError:
        return False
    return head.lstrip("\ufeff \t\r\n").startswith("ISA")


def x12_files(sources: list[Path]) -> Iterator[Path]:
    """The files behind ``sources``: each file itself, or every file of a directory (recursively, in name
    order). Whether a file holds X12 is decided by its content when it is read."""
    for source in sources:
        source = Path(source)
        if source.is_dir():
            yield from sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            yield source


def read_transactions(path: Path, problems: list[Problem]) -> Iterator[Transaction]:
    """Every valid 835/837 transaction of one file; every defect is appended to ``problems``."""
    name = str(path)
    if not Path(path).is_file():
        problems.append(Problem(name, "no such file"))
        return
    if not looks_like_x12(path):
        problems.append(Problem(name, "not an X12 interchange: the file does not start with an ISA segment"))
        return
    try:
        yield from _read(path, name, problems)
    except UnicodeDecodeError as error:
        problems.append(Problem(name, "not a readable X12 text file", detail=f"undecodable byte at {error.start}"))


def _read(path: Path, name: str, problems: list[Problem]) -> Iterator[Transaction]:
    version: str | None = None
    current: _Segments | None = None
    closed_interchange = False
    position = 0
    with X12SegmentReader(str(path)) as reader:
        delimiters = reader.delimiters
        for segment_name, fields in reader.segments():
            position += 1
            segment_name = segment_name.strip().upper()
            if not segment_name:
                continue
            fields[0] = segment_name
            if segment_name == "GS":
                version = _field(fields, 8)
            if segment_name == "IEA":
                closed_interchange = True
            if segment_name in _ENVELOPE:
                if current is not None:
                    _unclosed(current, name, problems, f"{segment_name} at segment {position}")
                    current = None
                continue
            if segment_name == "ST":
                if current is not None:
                    _unclosed(current, name, problems, f"the next ST at segment {position}")
                code = _field(fields, 1)
                current = _Segments(code, version or _field(fields, 3), position)
                if code not in SUPPORTED or current.version not in SUPPORTED[code]:
                    problems.append(
                        Problem(
                            name,
                            "unsupported transaction set: recoup reads 835 (005010X221A1) and 837 "
                            "(005010X222A2, 005010X223A3)",
                            position,
                            detail=f"ST01 {code}, version {current.version}",
                        )
                    )
                    current.code = ""  # skip to its SE
                else:
                    current.rows.append((position, segment_name, fields))
                continue
            if current is None:
                problems.append(
                    Problem(name, "segment outside a transaction (no ST before it)", position, detail=segment_name)
                )
                continue
            current.rows.append((position, segment_name, fields))
            if segment_name == "SE":
                if current.code:
                    yield from _transaction(current, name, problems, delimiters)
                current = None
    if current is not None:
        _unclosed(current, name, problems, "the end of the file")
    if not closed_interchange:
        problems.append(Problem(name, "truncated interchange: no IEA segment closes it", position))


def _unclosed(current: _Segments, name: str, problems: list[Problem], where: str) -> None:
    claims = current.claims()
    problems.append(
        Problem(
            name,
            "truncated transaction: ST is not closed by an SE segment; its claims are not imported",
            current.start,
            detail=f"reached {where}; {len(claims)} claim(s) lost",
        )
    )


@functools.cache
def _parser(code: str, version: str, delimiters) -> X12Parser:
    """One x12sdk parser per transaction set and separators, reused across transactions (it resets itself
    at each SE). x12sdk works out a segment's field layout from its Pydantic model on every segment; the
    layout never changes, so it is kept per segment name."""
    parser = create_parser(code, version, delimiters)
    parser._get_segment_field_names = functools.cache(parser._get_segment_field_names)
    parser._get_multivalue_fields = functools.cache(parser._get_multivalue_fields)
    return parser


def _parse(segments: _Segments, rows, delimiters):
    """The model of ``rows`` (ST to SE) through the x12sdk parser."""
    parser = _parser(segments.code, segments.version, delimiters)
    model = None
    try:
        for _, segment_name, fields in rows:
            model = parser.parse(segment_name, list(fields))
    except BaseException:
        parser._context.reset_transaction()  # a failed transaction must not leak into the next one
        raise
    return model


def _transaction(segments: _Segments, name: str, problems: list[Problem], delimiters) -> Iterator[Transaction]:
    try:
        model = _parse(segments, segments.rows, delimiters)
    except ValidationError as error:
        yield from _recover(segments, name, problems, delimiters, error)
        return
    except Exception as error:  # the parser raises KeyError/X12ParseException/IndexError on malformed segments
        problems.append(_parse_problem(segments, name, error))
        return
    if model is None:
        problems.append(Problem(name, "transaction produced no model", segments.start))
        return
    yield Transaction(
        name, segments.code, segments.version, model, segments.start, segments.claims(), delimiters.component_separator
    )


def _parse_problem(segments: _Segments, name: str, error: Exception) -> Problem:
    """A malformed segment: the parser names it; find its position by name where it says."""
    text = str(error).strip("'\"")
    return Problem(
        name,
        "malformed transaction: the X12 parser rejected it; its claims are not imported",
        segments.start,
        detail=f"{type(error).__name__}: {text}; claims lost: {len(segments.claims())}",
    )


def _recover(segments: _Segments, name: str, problems: list[Problem], delimiters, error: ValidationError):
    """A transaction that failed validation: report each failure; for an 835, import its valid claims."""
    messages = _messages(error)
    count_errors = [message for message in messages if "SE segment count" in message]
    if count_errors:
        se_position = segments.rows[-1][0]
        problems.append(
            Problem(
                name,
                "wrong SE segment count (SE01 must count every segment from ST to SE)",
                se_position,
                detail=count_errors[0].split(",", 1)[-1].strip(),
            )
        )
    if segments.code != "835":
        problems.append(
            Problem(
                name, "invalid transaction; its claims are not imported", segments.start, detail="; ".join(messages[:3])
            )
        )
        return
    header, claims, footer = _split_835(segments.rows)
    recovered = Transaction(name, "835", segments.version, None, segments.start, [], delimiters.component_separator)
    header_errors: dict[str, int] = {}
    for claim_rows in claims:
        position, claim_id = claim_rows[0][0], _field(claim_rows[0][2], 1)
        alone = [*header, (0, "LX", ["LX", "1"]), *claim_rows, *footer]
        try:
            _parse(segments, _recount(alone), delimiters)
        except ValidationError as claim_error:
            claim_messages = [m for m in _messages(claim_error, claim_rows) if "SE segment count" not in m]
            if claim_messages and all(m.startswith(("header", "loop_1000", "footer")) for m in claim_messages):
                for message in claim_messages:
                    header_errors[message] = header_errors.get(message, 0) + 1
                continue
            problems.append(
                Problem(name, "invalid claim; not imported", position, claim_id, "; ".join(claim_messages[:3]))
            )
            continue
        except Exception as claim_error:
            problems.append(Problem(name, "malformed claim; not imported", position, claim_id, str(claim_error)))
            continue
        recovered.claim_positions.append((position, claim_id))
    if header_errors:
        problems.append(
            Problem(
                name,
                "invalid transaction header; its claims are not imported",
                segments.start,
                detail="; ".join(header_errors),
            )
        )
        return
    if not recovered.claim_positions:
        return
    rebuilt = _regroup(header, claims, recovered.claim_positions, footer)
    try:
        recovered.model = _parse(segments, _recount(rebuilt), delimiters)
    except (ValidationError, Exception) as rebuilt_error:  # e.g. a duplicate LX across the kept claims
        problems.append(
            Problem(name, "invalid transaction; its claims are not imported", segments.start, detail=str(rebuilt_error))
        )
        return
    yield recovered


def _split_835(rows):
    """(header rows before the first LX, [rows of each claim with its LX/TS3 context], footer rows)."""
    header, claims, footer = [], [], []
    context: list = []
    current: list | None = None
    for row in rows:
        name = row[1]
        if name in ("PLB", "SE"):
            current = None
            footer.append(row)
        elif name == "LX":
            current = None
            context = [row]
        elif name == "CLP":
            current = [row]
            claims.append((tuple(context), current))
        elif current is not None:
            current.append(row)
        elif context:
            context.append(row)  # TS3/TS2 of the LX group
        else:
            header.append(row)
    return header, [claim for _, claim in claims], footer


def _regroup(header, claims, kept, footer):
    kept_positions = {position for position, _ in kept}
    body = [row for claim in claims if claim[0][0] in kept_positions for row in claim]
    return [*header, (0, "LX", ["LX", "1"]), *body, *footer]


def _recount(rows):
    """``rows`` (ST first) with SE01 set to the segment count from ST to SE."""
    *body, (position, _, se_fields) = rows
    se = list(se_fields)
    se[1] = str(len(body) + 1)  # body holds ST
    return [*body, (position, "SE", se)]


def _messages(error: ValidationError, claim_rows=None) -> list[str]:
    """Readable validation messages: the model path and the rule, with the value only where the segment
    holds no patient data."""
    messages = []
    for item in error.errors(include_url=False):
        location = [str(part) for part in item["loc"] if not isinstance(part, int)]
        segment = next((part[: -len("_segment")] for part in reversed(location) if part.endswith("_segment")), "")
        text = ".".join(location) + f": {item['msg']}"
        if segment in QUOTABLE_SEGMENTS and isinstance(item.get("input"), str | int | float):
            text += f" (got {item['input']!r})"
        messages.append(text)
    return messages
