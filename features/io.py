"""Readers for contract tables: CSV or Parquet, one file or a directory of parts. Every line is accounted for.

CSV is read as text so that validation sees every value exactly as the file wrote it and can quote it
back in an error. The rules, which the README states too:

- **Encoding.** UTF-8 (a UTF-8 byte-order mark is skipped), unless the caller declares another
  ASCII-compatible encoding (``encoding=``: ``recoup score --encoding latin-1``, or the charset of an
  upload). A UTF-16/32 byte-order mark is a file-level error: those files cannot be read line by line.
  Nothing is guessed: a line that does not decode is one rejected row naming its line and byte, and every
  other line is read.
- **One line, one row.** No contract value holds a line break, so a record never spans lines: a line whose
  quote is left open (an unbalanced quote), or which breaks the quoting rules (Python's ``csv`` module in
  strict mode), or whose field count differs from the header's, or which holds a carriage return or a NUL
  (a line ends only at LF or CRLF), is one rejected row naming its line.
  Blank lines are skipped, as a strict ``csv`` reader skips them. So the rows read (scored + rejected) are
  exactly the non-blank lines after the header.
- **Spreadsheet escapes.** A cell that starts with a single quote followed by ``= + - @``, a tab or a CR
  (after any further quotes) has that one quote removed: it is how recoup's ranked CSV files keep such
  text from running as a formula in a spreadsheet (``FORMULA_START``), so a ranked file reads back as the
  values it was written from.
- **Beyond recovery** (one file-level ``TableReadError`` naming the file, the line and the reason): an
  empty file, a header line that does not decode or parse, a UTF-16/32 file.

Parquet keeps its own types; validation checks those too. The schema is checked before any row is read:
a contract column of a nested type (list, struct, map) makes each row a rejected row naming the column
and type; text stored as plain binary is decoded as UTF-8 (a value that does not decode rejects its
row); other nested or binary columns are dropped with a warning (CSV cannot hold them). The pandas
metadata is ignored (a bad one cannot stop the read). A row group that cannot be decoded (a corrupt
page) makes each of its rows a rejected row naming the row range it cost; the other row groups are read.

Rows that could not be read carry their reason in ``READ_ERROR_COLUMN``; validation rejects them with it.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.schema import HISTORY_TABLE, REQUEST_TABLE

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
DEFAULT_ENCODING = "utf-8"
#: Reserved column: why a row could not be read ("" when it could). Validation rejects such rows.
READ_ERROR_COLUMN = "_recoup_read_error"
#: pandas writes its index as columns of this name when it cannot keep it in the metadata
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
CSV_DIALECT = {"strict": True, "skipinitialspace": True}
#: Text a spreadsheet would run as a formula (OWASP's CSV-injection rule), after the quotes that escape it:
#: a CSV writer prefixes such text with ``SPREADSHEET_ESCAPE`` (one more quote), and this reader removes one.
FORMULA_START = r"'*[=+\-@\t\r]"
SPREADSHEET_ESCAPE = "'"
#: Columns a reader never drops: a nested Parquet type in one of them rejects its rows instead
CONTRACT_COLUMNS = frozenset(column.name for column in HISTORY_TABLE + REQUEST_TABLE)


class TableReadError(ValueError):
    """The input could not be read as a table at all (missing, unreadable, wrong format)."""


@dataclass(frozen=True)
class TablePart:
    path: Path
    first_row: int  # 1-based number of this part's first data row within the whole input
    rows: int


def table_files(source: Path) -> list[Path]:
    """The files behind ``source``: the file itself, or a directory's CSV/Parquet parts in name order."""
    source = Path(source)
    if source.is_dir():
        parts = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
        if not parts:
            raise TableReadError(f"{source}: directory holds no .csv or .parquet files")
        return parts
    if not source.exists():
        raise TableReadError(f"{source}: no such file or directory")
    if source.suffix.lower() not in TABLE_SUFFIXES:
        raise TableReadError(f"{source}: expected a .csv or .parquet file, got {source.suffix or 'no suffix'!r}")
    return [source]


def check_encoding(encoding: str) -> str:
    """``encoding``'s canonical name; a ``TableReadError`` unless it is known and ASCII-compatible."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise TableReadError(f"unknown encoding {encoding!r}") from None
    if '\n,"'.encode(name, errors="replace") != b'\n,"':
        raise TableReadError(f"encoding {encoding!r} is not ASCII-compatible; save the file as UTF-8")
    return name


# --- CSV ---------------------------------------------------------------------------------------------------


def _decode(raw: bytes, encoding: str) -> tuple[str, str | None]:
    """The line as text, and why it does not decode (None when it does)."""
    try:
        return raw.decode(encoding), None
    except UnicodeDecodeError as error:
        byte = raw[error.start : error.start + 1].hex()
        reason = f"not valid {encoding} (byte 0x{byte} at position {error.start + 1}); declare the file's encoding"
        return raw.decode(encoding, errors="backslashreplace"), reason


def _parse_line(text: str) -> tuple[list[str], str | None]:
    """One line's fields, and why it breaks the quoting rules (None when it does not)."""
    reader = csv.reader((text,), **CSV_DIALECT)
    try:
        fields = next(reader)
        next(reader)  # a quote left open pulls a second line: there is none, so strict mode raises
    except StopIteration:
        return fields, None
    except csv.Error as error:
        if "unexpected end of data" in str(error) or "newline inside string" in str(error):
            return [], "unbalanced quote (a quoted value is not closed on its line)"
        return [], f"malformed CSV ({error})"
    return [], "unbalanced quote (a quoted value is not closed on its line)"


def _lines(path: Path, encoding: str) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines as (1-based line number, bytes without the line break)."""
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            raw = raw.rstrip(b"\r\n")
            if raw.strip():
                yield number, raw


def _csv_header(path: Path, lines: Iterator[tuple[int, bytes]], encoding: str) -> list[str]:
    first = next(lines, None)
    if first is None:
        raise TableReadError(f"{path}: line 1: the file is empty (no header line)")
    number, raw = first
    if raw.startswith(_WIDE_BOMS):
        raise TableReadError(f"{path}: line 1: the file is UTF-16 or UTF-32; save it as UTF-8 CSV")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    text, undecodable = _decode(raw, encoding)
    if undecodable:
        raise TableReadError(f"{path}: line {number}: the header: {undecodable}")
    if "\x00" in text:
        raise TableReadError(f"{path}: line {number}: the header holds NUL bytes: not a text CSV file")
    header, broken = _parse_line(text)
    if broken:
        raise TableReadError(f"{path}: line {number}: the header: {broken}")
    return [_unescape(name.strip()) for name in header]


_ESCAPED = re.compile(SPREADSHEET_ESCAPE + FORMULA_START)


def _unescape(text: str) -> str:
    return text[1:] if _ESCAPED.match(text) else text


def _unescape_cells(frame: pd.DataFrame) -> None:
    """Remove the spreadsheet escape from every cell that carries one (see the module's rules)."""
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        escaped = values.str.match(_ESCAPED.pattern).fillna(False).to_numpy(dtype=bool)
        if escaped.any():
            frame.iloc[escaped, position] = values[escaped].str.slice(1)


def _csv_chunks(path: Path, chunk_rows: int, encoding: str) -> Iterator[pd.DataFrame]:
    lines = _lines(path, encoding)
    header = _csv_header(path, lines, encoding)
    first = True
    while True:
        batch = list(itertools.islice(lines, chunk_rows))
        if batch or first:  # a header-only file is one empty chunk: its columns are still checked
            yield _csv_frame(header, batch, encoding)
        first = False
        if len(batch) < chunk_rows:
            return


def _csv_frame(header: list[str], batch: list[tuple[int, bytes]], encoding: str) -> pd.DataFrame:
    """One chunk of lines as a frame of text, a row per line; lines that break a rule get a read error.

    Each line is checked on its own (decoding, then quoting with Python's strict ``csv`` reader where it
    holds a quote, then its field count); the lines that pass are parsed together by pandas' C parser,
    which then cannot merge lines or guess at fields, and is several times faster than the ``csv`` module.
    """
    width = len(header)
    try:
        texts = b"\n".join(raw for _, raw in batch).decode(encoding).split("\n") if batch else []
        undecodable: dict[int, str] = {}
    except UnicodeDecodeError:
        decoded = [_decode(raw, encoding) for _, raw in batch]
        texts = [text for text, _ in decoded]
        undecodable = {i: reason for i, (_, reason) in enumerate(decoded) if reason}
    errors: dict[int, str] = {}
    parsed: dict[int, list[str]] = {}  # fields of bad lines that still fit their columns (shown in rejects)
    for i, text in enumerate(texts):
        if "\r" in text or "\x00" in text:  # pandas' parser would break the line there (or stop at a NUL)
            fields, broken, count = None, "holds a carriage return or a NUL inside the line", -1
        elif '"' in text:
            fields, broken = _parse_line(text)
            count = len(fields)
        else:
            fields, broken, count = None, None, text.count(",") + 1
        reason = undecodable.get(i) or broken
        if reason is None and count != width:
            reason = f"wrong number of fields ({count}; the header has {width})"
        if reason is not None:
            errors[i] = f"line {batch[i][0]}: {reason}"
            if count == width:
                parsed[i] = fields if fields is not None else next(csv.reader((text,), **CSV_DIALECT))
    good = [text for i, text in enumerate(texts) if i not in errors]
    frame = _parse_lines(good, width)
    if any(SPREADSHEET_ESCAPE in text for text in good):
        _unescape_cells(frame)
    if errors:
        frame.index = [i for i in range(len(texts)) if i not in errors]
        bad = pd.DataFrame(
            [parsed.get(i, [""] * width) for i in errors], index=list(errors), columns=range(width), dtype=object
        )
        frame = pd.concat([frame, bad]).sort_index()
        frame[READ_ERROR_COLUMN] = pd.Series(errors, dtype=object).reindex(frame.index).fillna("")
        frame = frame.reset_index(drop=True)
    frame.columns = [*header, *([READ_ERROR_COLUMN] if errors else [])]  # duplicated names stay duplicated
    return frame


def _parse_lines(texts: list[str], width: int) -> pd.DataFrame:
    """Lines already checked one by one (see ``_csv_frame``), parsed into ``width`` text columns."""
    if not texts:
        return pd.DataFrame({i: pd.Series(dtype=object) for i in range(width)})
    frame = pd.read_csv(
        io.StringIO("\n".join(texts)),
        header=None,
        names=range(width),
        dtype=str,
        keep_default_na=False,
        skipinitialspace=True,
        skip_blank_lines=False,
        engine="c",
    )
    if len(frame) != len(texts):  # cannot happen for lines that passed the checks; never lose a row silently
        raise AssertionError(f"{len(texts)} lines parsed into {len(frame)} rows")
    return frame


# --- Parquet -----------------------------------------------------------------------------------------------


def _open_parquet(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several unrelated types for a corrupt file
        raise TableReadError(f"{path}: not a readable Parquet file ({error})") from None


@dataclass(frozen=True)
class _ParquetPlan:
    """What to do with a Parquet file's columns, decided from its schema before reading rows."""

    read: list[str]  # columns to read
    decode: list[str]  # binary columns to decode as UTF-8
    unusable: dict[str, str]  # contract column -> its type, which no value of can be read
    warnings: list[str]


def _parquet_plan(path: Path, schema: pa.Schema) -> _ParquetPlan:
    read, decode, unusable, warnings = [], [], {}, []
    for field in schema:
        name, kind = field.name, field.type
        if _PANDAS_INDEX.fullmatch(name):
            continue
        nested = pa.types.is_nested(kind) or (pa.types.is_dictionary(kind) and pa.types.is_nested(kind.value_type))
        binary = pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind)
        contract_column = name.strip().lower() in CONTRACT_COLUMNS
        if nested and contract_column:
            unusable[name] = str(kind)
        elif nested:
            warnings.append(f"{path}: column {name!r} ({kind}) dropped: nested values cannot be scored or written")
        else:
            read.append(name)
            if binary:
                decode.append(name)
    return _ParquetPlan(read, decode, unusable, warnings)


def _decode_binary(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Binary values as text, and per row the first value that does not decode (None when all do)."""

    def one(value):
        if value is None or isinstance(value, float):
            return value, None
        try:
            return bytes(value).decode("utf-8"), None
        except UnicodeDecodeError:
            return bytes(value).decode("utf-8", errors="backslashreplace"), "not valid UTF-8"

    pairs = [one(value) for value in values]
    return (
        pd.Series([text for text, _ in pairs], index=values.index, dtype=object),
        pd.Series([bad for _, bad in pairs], index=values.index, dtype=object),
    )


def _parquet_frame(batch: pa.RecordBatch | pa.Table, plan: _ParquetPlan, first_row: int) -> pd.DataFrame:
    frame = batch.replace_schema_metadata(None).to_pandas()  # a broken pandas metadata cannot stop the read
    errors = pd.Series("", index=frame.index, dtype=object)
    for name in plan.decode:
        frame[name], bad = _decode_binary(frame[name])
        rows = bad.notna() & errors.eq("")
        errors[rows] = f"column {name!r}: a binary value is not valid UTF-8"
    for name, kind in plan.unusable.items():
        frame[name] = ""
        errors[errors.eq("")] = f"column {name!r} holds {kind} values; the contract needs one scalar per row"
    if errors.ne("").any():
        frame[READ_ERROR_COLUMN] = errors
    return frame


def _first_line(error: Exception, limit: int = 120) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unreadable_rows(columns: list[str], first_row: int, rows: int, reason: str) -> pd.DataFrame:
    last = first_row + rows - 1
    frame = pd.DataFrame({name: pd.Series([None] * rows, dtype=object) for name in dict.fromkeys(columns)})
    frame[READ_ERROR_COLUMN] = f"rows {first_row}-{last}: {reason}"
    return frame


def _parquet_chunks(path: Path, chunk_rows: int, notes: list[str]) -> Iterator[pd.DataFrame]:
    parquet = _open_parquet(path)
    plan = _parquet_plan(path, parquet.schema_arrow)
    for warning in plan.warnings:
        logger.warning(warning)
        notes.append(warning)
    columns = plan.read + list(plan.unusable)
    everything = len(plan.read) == len(parquet.schema_arrow)
    selected = None if everything else list(dict.fromkeys(plan.read))  # a duplicated name selects every copy
    first_row, yielded = 1, False
    for group in range(parquet.metadata.num_row_groups):
        group_rows = parquet.metadata.row_group(group).num_rows
        done = 0
        try:
            for batch in parquet.iter_batches(batch_size=chunk_rows, row_groups=[group], columns=selected):
                frame = _parquet_frame(batch, plan, first_row + done)
                done += len(frame)
                yielded = True
                yield frame
        except Exception as error:  # a corrupt page: pyarrow raises OSError, ArrowInvalid and others
            lost = group_rows - done
            reason = f"could not be read from row group {group + 1} ({type(error).__name__}: {_first_line(error)})"
            logger.warning("%s: rows %d-%d %s", path, first_row + done, first_row + group_rows - 1, reason)
            for start in range(0, lost, chunk_rows):
                rows = min(chunk_rows, lost - start)
                yielded = True
                yield _unreadable_rows(columns, first_row + done + start, rows, reason)
        first_row += group_rows
    if not yielded:
        yield pd.DataFrame({name: pd.Series(dtype=object) for name in columns})


# --- the whole input ---------------------------------------------------------------------------------------


class TableSource:
    """A CSV or Parquet input (a file or a directory of parts), read in numbered chunks.

    Warnings (a dropped column) are logged and kept in ``warnings``.
    """

    def __init__(self, source: Path, *, encoding: str = DEFAULT_ENCODING):
        self.source = Path(source)
        self.files = table_files(self.source)
        self.encoding = check_encoding(encoding)
        self.warnings: list[str] = []

    def file_chunks(self, path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """One file's rows in chunks, each indexed from 0 (``chunks`` numbers them across files)."""
        if path.suffix.lower() == ".csv":
            return _csv_chunks(path, chunk_rows, self.encoding)
        return _parquet_chunks(path, chunk_rows, self.warnings)

    def chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The table in chunks of at most ``chunk_rows``, indexed by 1-based data row number across parts.

        Parts that hold the same columns in another order are given the first part's order.
        """
        next_row = 1
        first_columns: list | None = None
        for path in self.files:
            for chunk in self.file_chunks(path, chunk_rows):
                columns = [name for name in chunk.columns if name != READ_ERROR_COLUMN]
                if first_columns is None:
                    first_columns = columns
                elif columns != first_columns and set(columns) == set(first_columns):
                    extra = [READ_ERROR_COLUMN] if READ_ERROR_COLUMN in chunk else []
                    chunk = chunk[first_columns + extra]
                chunk.index = pd.RangeIndex(next_row, next_row + len(chunk), name="row")
                next_row += len(chunk)
                yield chunk


def iter_table_chunks(source: Path, chunk_rows: int, *, encoding: str = DEFAULT_ENCODING) -> Iterator[pd.DataFrame]:
    """``TableSource(source).chunks(chunk_rows)``: see there."""
    yield from TableSource(source, encoding=encoding).chunks(chunk_rows)


def read_table(source: Path, *, encoding: str = DEFAULT_ENCODING) -> tuple[pd.DataFrame, list[TablePart]]:
    """The whole table, indexed by 1-based data row number, and the parts it came from."""
    reader = TableSource(source, encoding=encoding)
    frames, parts, next_row = [], [], 1
    for path in reader.files:
        pieces = list(reader.file_chunks(path, 1 << 30))
        frame = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
        frames.append(frame)
        parts.append(TablePart(path, next_row, len(frame)))
        next_row += len(frame)
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    table.index = pd.RangeIndex(1, len(table) + 1, name="row")
    return table, parts
