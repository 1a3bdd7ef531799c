"""Writing a worklist: sorted runs and rejects parts in a scratch directory, the merge, the atomic move."""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from tqdm import tqdm

from features.io import FORMULA_START, SPREADSHEET_ESCAPE, TableReadError
from features.values import NUMBER_PATTERN
from models.batching import batch_table
from service.worklist.chunks import ERROR_COLUMN, RANK_COLUMN, RESERVED_COLUMNS, ROW_COLUMN, rank_order
from service.worklist.merge import merge_runs, unified_schema
from service.worklist.summary import WorklistSummary

OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq")
MAX_MERGE_FAN_IN = 64  # runs merged at once; more runs are merged in passes (bounded memory and open files)
MIN_MERGE_BATCH_ROWS = 1_024
#: Parquet decompresses a whole row group to read any batch of it: small row groups keep the merge's
#: memory at (runs merged at once) x (this many rows) rather than a whole run per cursor.
RUN_ROW_GROUP_ROWS = 4_096
#: Scratch files are read once, soon after they are written: plain and uncompressed, they are written ~3x
#: and read ~8x faster than with the defaults, for about twice the disk space (measured on 20,000 CSV lines).
SCRATCH_OPTIONS = {"compression": "none", "use_dictionary": False}
LINE_COLUMN = "csv_line"  # a run's rows as CSV lines (a CSV output)
CSV_HEADER_KEY = b"recoup.csv_header"
CSV_OPTIONS = pa_csv.WriteOptions(quoting_style="needed")


def default_rejects_path(output: Path) -> Path:
    """``ranked.csv`` -> ``ranked.rejects.csv``: beside the output, in the same format."""
    return output.with_name(f"{output.stem}.rejects{output.suffix}")


def default_batches_path(output: Path) -> Path:
    """``ranked.csv`` -> ``ranked.batches.csv``: the worklist's IDR batches, beside the output."""
    return output.with_name(f"{output.stem}.batches{output.suffix}")


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


@dataclass
class ChunkPart:
    """One chunk written to the scratch directory: its sorted run, its rejects part and its counts."""

    run: Path
    rejects: Path
    rows: int
    summary: WorklistSummary


def write_chunk(combined: pd.DataFrame, scratch: Path, number: int, csv_lines: bool = False) -> ChunkPart:
    """Write one ``score_chunk`` frame into ``scratch`` as part ``number``: scored rows as a sorted run,
    rejected rows as a rejects part. With ``csv_lines`` (a CSV output) the run holds each row already
    formatted as its CSV line, beside its rank keys, so the formatting is done here, where chunks are
    written in parallel, and the merge moves three columns instead of every column."""
    failed = combined[ERROR_COLUMN].ne("").to_numpy()
    scored = combined.loc[~failed].drop(columns=ERROR_COLUMN)
    rejected = combined.loc[
        failed, [c for c in combined.columns if c not in RESERVED_COLUMNS or c in (ROW_COLUMN, ERROR_COLUMN)]
    ]
    summary = WorklistSummary(Path(), Path())
    summary.add(scored, rejected)
    run = pa.Table.from_pandas(scored.iloc[rank_order(scored)], preserve_index=False)
    if csv_lines:
        header, lines = csv_rows(run)
        run = pa.table(
            {RANK_COLUMN: run[RANK_COLUMN], ROW_COLUMN: run[ROW_COLUMN], LINE_COLUMN: lines},
            metadata={CSV_HEADER_KEY: header},
        )
    return ChunkPart(
        _write_part(run, scratch / f"run-{number:06d}.parquet"),
        _write_part(pa.Table.from_pandas(rejected, preserve_index=False), scratch / f"rejects-{number:06d}.parquet"),
        len(combined),
        summary,
    )


def _write_part(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path, row_group_size=RUN_ROW_GROUP_ROWS, **SCRATCH_OPTIONS)
    return path


def csv_rows(table: pa.Table) -> tuple[bytes, pa.Array]:
    """``table`` in the output's CSV dialect: its header line, and each row's line (newline included)."""
    buffer = io.BytesIO()
    pa_csv.write_csv(_as_csv_text(table), buffer, write_options=CSV_OPTIONS)
    text = np.frombuffer(buffer.getbuffer(), dtype=np.uint8)
    # a row ends at a newline outside quotes: one with an even number of quotes before it ("" inside a
    # quoted field adds two, so the parity holds)
    quotes, newlines = np.flatnonzero(text == ord('"')), np.flatnonzero(text == ord("\n"))
    ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0] + 1
    header_end = int(ends[0])
    offsets = np.concatenate([[0], ends[1:] - header_end]).astype("int64")
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), table.num_rows, [None, pa.py_buffer(offsets), pa.py_buffer(text[header_end:])]
    )
    return bytes(text[:header_end]), lines


class WorklistWriter:
    """Takes scored chunks (``score_chunk`` frames) in input order; ``finish`` ranks and moves into place.

    Used as a context manager: leaving it without ``finish`` (an error, an interrupt) removes every
    temporary file and leaves the final names untouched.
    """

    def __init__(self, output: Path, rejects: Path | None = None, batches: pd.DataFrame | None = None) -> None:
        """``batches``: the run's IDR batch plan (``chunks.plan_worklist``), written with the scored totals
        as ``default_batches_path(output)``; None when the run does not batch (a stale file is removed).
        ``batches_plan`` may be set until ``finish``: a run that plans its batches from files saved in
        ``scratch`` opens the writer first."""
        self.output = Path(output)
        self.rejects = Path(rejects) if rejects is not None else default_rejects_path(self.output)
        self.batches_plan = batches
        self.batches = default_batches_path(self.output)
        for path in (self.output, self.rejects):
            if path.suffix.lower() not in OUTPUT_SUFFIXES:
                raise ValueError(f"{path}: expected a .csv or .parquet file name")
        self.scratch = self.output.with_name(f".{self.output.name}.work")
        self.summary = WorklistSummary(self.output, self.rejects)
        self._runs: list[Path] = []
        self._rejects_parts: list[Path] = []
        self._chunk_rows = 0

    def __enter__(self) -> WorklistWriter:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.rejects.parent.mkdir(parents=True, exist_ok=True)
        self._clean()  # whatever an earlier, killed run left behind
        self.scratch.mkdir()
        return self

    def __exit__(self, *exc_info) -> None:
        self._clean()

    def _clean(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
        for path in (_temporary(self.output), _temporary(self.rejects), _temporary(self.batches)):
            path.unlink(missing_ok=True)

    @property
    def csv_lines(self) -> bool:
        """Whether runs hold CSV lines (``write_chunk``): the ranked output is CSV."""
        return _is_csv(self.output)

    def add(self, combined: pd.DataFrame) -> None:
        """Write one chunk: its scored rows as a sorted run, its rejected rows as a rejects part."""
        self.add_part(write_chunk(combined, self.scratch, len(self._runs), self.csv_lines))

    def add_part(self, part: ChunkPart) -> None:
        """Take a chunk already written by ``write_chunk`` (in a worker process, say), in input order."""
        self.summary.merge(part.summary)
        self._chunk_rows = max(self._chunk_rows, part.rows)
        self._runs.append(part.run)
        self._rejects_parts.append(part.rejects)

    def finish(self, started: float | None = None) -> WorklistSummary:
        """Merge the runs into the ranked output and move both files into place."""
        runs = self._runs
        batch_rows = max(MIN_MERGE_BATCH_ROWS, self._chunk_rows // min(max(len(runs), 1), MAX_MERGE_FAN_IN))
        passes = 0
        while len(runs) > MAX_MERGE_FAN_IN:  # merge in passes so that memory and open files stay bounded
            passes += 1
            runs = [
                self._merge_to_run(runs[i : i + MAX_MERGE_FAN_IN], f"pass{passes}-{i:06d}", batch_rows)
                for i in range(0, len(runs), MAX_MERGE_FAN_IN)
            ]
        with _TableWriter(_temporary(self.rejects), unified_schema(self._rejects_parts)) as writer:
            for part in self._rejects_parts:
                writer.write(pq.read_table(part))
        if self.csv_lines and runs:
            with open(_temporary(self.output), "wb") as output:
                output.write(_csv_header(runs))
                for table in merge_runs(runs, batch_rows):
                    output.write(_joined(table[LINE_COLUMN].combine_chunks()))
        else:
            with _TableWriter(_temporary(self.output), unified_schema(runs)) as writer:
                for table in merge_runs(runs, batch_rows):
                    writer.write(table)
        os.replace(_temporary(self.rejects), self.rejects)
        self._write_batches()
        os.replace(_temporary(self.output), self.output)
        if started is not None:
            self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _write_batches(self) -> None:
        """The batches file (one row per batched dispute; header only when none), or no stale one."""
        if self.batches_plan is None:
            self.batches.unlink(missing_ok=True)
            return
        table = pa.Table.from_pandas(batch_table(self.batches_plan, self.summary.by_batch), preserve_index=False)
        with _TableWriter(_temporary(self.batches), table.schema) as writer:
            writer.write(table)
        os.replace(_temporary(self.batches), self.batches)
        self.summary.batches = self.batches

    def _merge_to_run(self, runs: list[Path], name: str, batch_rows: int) -> Path:
        path = self.scratch / f"{name}.parquet"
        schema = unified_schema(runs)
        if self.csv_lines:  # the merged run keeps the runs' header
            schema = schema.with_metadata({CSV_HEADER_KEY: _csv_header(runs)})
        with pq.ParquetWriter(path, schema, **SCRATCH_OPTIONS) as writer:
            for table in merge_runs(runs, batch_rows):
                writer.write_table(table)
        return path


def _joined(lines: pa.LargeBinaryArray) -> memoryview:
    """The lines' bytes one after another: the span of the array's data buffer they occupy."""
    offsets = np.frombuffer(lines.buffers()[1], dtype="int64")[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]] if len(lines) else memoryview(b"")


def _csv_header(runs: list[Path]) -> bytes:
    headers = {pq.read_schema(run).metadata[CSV_HEADER_KEY] for run in runs}
    if len(headers) > 1:
        raise TableReadError("the input's parts disagree on their columns")
    return headers.pop()


def _is_csv(path: Path) -> bool:
    return path.name.removesuffix(".partial").lower().endswith(".csv")


class _TableWriter:
    """Writes tables of one schema to a CSV or Parquet file, chosen by the file name."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self.csv = _is_csv(path)

    def __enter__(self) -> _TableWriter:
        if self.csv:
            self._writer = pa_csv.CSVWriter(self.path, _csv_schema(self.schema), write_options=CSV_OPTIONS)
        else:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        return self

    def write(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        self._writer.write_table(_as_csv_text(table) if self.csv else table)

    def __exit__(self, *exc_info) -> None:
        self._writer.close()


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of ``_as_csv_text``'s tables (the CSV writer takes its header line from it)."""
    fields = []
    for field in schema:
        kind = field.type
        if pa.types.is_timestamp(kind):
            kind = pa.string()
        elif pa.types.is_dictionary(kind) and _is_text(kind):
            kind = kind.value_type
        fields.append(pa.field(_safe_cell(field.name), kind))
    return pa.schema(fields)


def _as_csv_text(table: pa.Table) -> pa.Table:
    """Timestamps as ISO dates (the contract's date format) when they fall on midnight, else date-times;
    text cells (and column names) safe to open in a spreadsheet (``_spreadsheet_safe``)."""
    for position, column in enumerate(table.columns):
        if pa.types.is_timestamp(column.type):
            midnight = pc.all(pc.equal(pc.cast(pc.cast(column, pa.date32()), column.type), column)).as_py()
            text = pc.strftime(column, format="%Y-%m-%d" if midnight in (True, None) else "%Y-%m-%dT%H:%M:%S")
            table = table.set_column(position, table.field(position).with_type(pa.string()), text)
        elif _is_text(column.type):
            safe = _spreadsheet_safe(column)
            table = table.set_column(position, table.field(position).with_type(safe.type), safe)
    names = [_safe_cell(name) for name in table.column_names]
    return table.rename_columns(names) if names != table.column_names else table


# --- spreadsheet safety: OWASP's CSV-injection rule --------------------------------------------------------
#: Text that a spreadsheet would run as a formula gets ``SPREADSHEET_ESCAPE`` (a single quote) in front;
#: ``features.io`` removes it again, so a ranked file reads back unchanged. Text that is just a number
#: (``-12.50``) is not a formula and is left alone; number columns are written as numbers, negative ones
#: included. Control characters are written as visible escapes (``\x01``, ``\t``): no contract value
#: holds one (``features.values``), and a raw one in a cell confuses spreadsheets and line-based readers.
_RISKY = f"^{FORMULA_START}"
_PLAIN_NUMBER = f"^{NUMBER_PATTERN}$"
_CONTROL = r"[\x00-\x1f\x7f]"
_NEEDS_CARE = f"{_CONTROL}|{_RISKY}"  # a cell either check may change
_CONTROL_CHARACTER = re.compile(_CONTROL)
_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _escape_controls(text: str) -> str:
    return _CONTROL_CHARACTER.sub(lambda found: _NAMED_ESCAPES.get(found[0], f"\\x{ord(found[0]):02x}"), text)


def _safe_cell(text: str) -> str:
    text = _escape_controls(text)
    if re.match(_RISKY, text) and not re.fullmatch(NUMBER_PATTERN, text):
        return SPREADSHEET_ESCAPE + text
    return text


def _spreadsheet_safe(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A text column with every cell made safe (vectorised; only cells with a control character are
    handled one by one)."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    # one regex pass finds the columns with nothing to do (almost all): each check alone is a pass
    if not pc.any(pc.match_substring_regex(column, _NEEDS_CARE)).as_py():
        return column
    control = pc.match_substring_regex(column, _CONTROL)
    if pc.any(control).as_py():
        texts = zip(column.to_pylist(), control.to_pylist(), strict=True)
        escaped = [_escape_controls(text) if flag else text for text, flag in texts]
        column = pa.chunked_array([pa.array(escaped, type=column.type)])
    risky = pc.and_not(pc.match_substring_regex(column, _RISKY), pc.match_substring_regex(column, _PLAIN_NUMBER))
    if pc.any(risky).as_py():
        escape, empty = pa.scalar(SPREADSHEET_ESCAPE, column.type), pa.scalar("", column.type)
        column = pc.if_else(risky, pc.binary_join_element_wise(escape, column, empty), column)
    return column


def write_worklist(
    scored_chunks: Iterable[pd.DataFrame],
    output: Path,
    *,
    rejects: Path | None = None,
    total_rows: int | None = None,
    progress: bool = True,
    batches: pd.DataFrame | None = None,
) -> WorklistSummary:
    """Rank ``score_chunk`` frames (in input order) into ``output``; shared by the local and Dask engines.
    ``batches``: the IDR batch plan the chunks were scored with (see ``WorklistWriter``)."""
    started = time.perf_counter()
    bar = tqdm(total=total_rows, unit="claims", desc="scoring", disable=not progress)
    with WorklistWriter(Path(output), rejects, batches) as writer, bar:
        for combined in scored_chunks:
            writer.add(combined)
            bar.update(len(combined))
        bar.set_postfix_str("ranking")
        return writer.finish(started)
