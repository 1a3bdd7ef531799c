"""Worklist scoring: a claims file of any size in, the same claims ranked by expected net recovery out.

The input (CSV or Parquet, a file or a directory of parts) is read in chunks. Each chunk is validated and
scored (``score_chunk``); its scored rows are sorted and written as one sorted Parquet *run* in a scratch
directory beside the output, its rejected rows as a rejects part. At the end the runs are k-way merged
(pyarrow, one batch per run in memory at a time) into the ranked output, and the rejects parts are
concatenated, in input order, into the rejects file. Memory stays at about one chunk whatever the input
size. An external merge sort rather than two passes (score, then sort on the keys alone) because the
rows have to be written in rank order anyway: a second pass would read the input and score it twice, or
keep every row's key and file position in memory, which grows with the input.

Output rows: ``row`` (the 1-based input row number), the input's columns as read, then the scoring
columns (``models.bundle.output_columns()``). Ties in expected net recovery keep input order. An input
column named like an output column is replaced by the score. Rejected rows go to the rejects file: ``row``,
the input's columns and ``errors`` (every problem, by column, value and rule).

Crash safety: the output and the rejects file are written under temporary names in their own directory
and moved into place with ``os.replace`` only when complete (rejects first, so the ranked output appears
last); the scratch directory is removed on the way out. An interrupted run therefore leaves any earlier
output untouched and no half-written file under a final name, and a rerun starts by clearing whatever a
killed run left behind.
"""

from __future__ import annotations

import io
import itertools
import os
import pickle
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from tqdm import tqdm

from features.io import DEFAULT_ENCODING, READ_ERROR_COLUMN, TableReadError, iter_table_chunks, table_files
from features.validation import validate_claims
from models.bundle import RecoupBundle, output_columns
from models.estimators import limit_predict_threads
from models.ladder import LadderPolicy

#: Claims per chunk: measured on 1M claims with 2 workers, 10k chunks took 58 s, 20k 51-56 s, 40k 49 s;
#: each worker then peaks near 700 MB, whatever the input size.
DEFAULT_CHUNK_ROWS = 40_000
ROW_COLUMN = "row"
ERROR_COLUMN = "errors"
RANK_COLUMN = "expected_net_recovery"
OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq")
MAX_MERGE_FAN_IN = 64  # runs merged at once; more runs are merged in passes (bounded memory and open files)
MIN_MERGE_BATCH_ROWS = 1_024
#: Parquet decompresses a whole row group to read any batch of it: small row groups keep the merge's
#: memory at (runs merged at once) x (this many rows) rather than a whole run per cursor.
RUN_ROW_GROUP_ROWS = 4_096
#: Scratch files are read once, soon after they are written: plain and uncompressed, they are written ~3x
#: and read ~8x faster than with the defaults, for about twice the disk space (measured on 20,000 CSV lines).
SCRATCH_OPTIONS = {"compression": "none", "use_dictionary": False}
READ_BUFFER_BYTES = 1 << 20
PARENT_CHECK_SECONDS = 1.0
TOP_PAYERS_SHOWN = 10
ERRORS_SHOWN = 5


# --- scoring one chunk --------------------------------------------------------------------------------------


RESERVED_COLUMNS = frozenset([ROW_COLUMN, ERROR_COLUMN, READ_ERROR_COLUMN, *output_columns()])
LINE_COLUMN = "csv_line"  # a run's rows as CSV lines (a CSV output)
CSV_HEADER_KEY = b"recoup.csv_header"
CSV_OPTIONS = pa_csv.WriteOptions(quoting_style="needed")


def score_chunk(chunk: pd.DataFrame, bundle: RecoupBundle, policy: LadderPolicy | None = None) -> pd.DataFrame:
    """Every input row back, in input order: ``row``, the input columns, the scores, and ``errors`` (empty
    for a scored row; for a rejected row its problems, and no scores).

    ``chunk`` is raw input indexed by 1-based row number (as ``features.io`` reads it). Each row is scored
    on its own, so the result does not depend on how the input is cut into chunks or partitions.
    """
    result = validate_claims(chunk)
    scores = (
        bundle.score(result.valid, policy=policy)
        if len(result.valid)
        else pd.DataFrame(index=result.valid.index, columns=output_columns())
    )
    inputs = chunk.drop(columns=[name for name in chunk.columns if name in RESERVED_COLUMNS])
    if inputs.columns.duplicated().any():  # validation rejected every row; the files need unique names
        inputs.columns = _numbered_copies(inputs.columns)
    combined = inputs.join(scores)
    combined[ERROR_COLUMN] = result.rejected[ERROR_COLUMN].reindex(combined.index).fillna("")
    combined.index.name = ROW_COLUMN
    return combined.reset_index()


def _numbered_copies(names: pd.Index) -> list[str]:
    """Column names with every later copy of a name marked with its position: ``x``, ``x (column 7)``."""
    seen: set[str] = set()
    unique = []
    for position, name in enumerate(names, start=1):
        unique.append(f"{name} (column {position})" if name in seen else name)
        seen.add(name)
    return unique


def rank_order(frame: pd.DataFrame | pa.Table) -> np.ndarray:
    """Positions of ``frame``'s rows by expected net recovery, highest first; ties in input row order."""
    net, row = _rank_keys(frame)
    return np.lexsort((row, -net))


def _rank_keys(frame: pd.DataFrame | pa.Table) -> tuple[np.ndarray, np.ndarray]:
    net = np.asarray(frame[RANK_COLUMN], dtype="float64")
    return np.where(np.isnan(net), -np.inf, net), np.asarray(frame[ROW_COLUMN], dtype="int64")


# --- the summary --------------------------------------------------------------------------------------------


@dataclass
class WorklistSummary:
    """What a worklist run did: counts, and expected recovery by recommended action and by payer."""

    output: Path
    rejects: Path
    rows_read: int = 0
    scored: int = 0
    rejected: int = 0
    seconds: float = 0.0
    by_action: pd.DataFrame = field(default_factory=lambda: _totals_frame("recommended_action"))
    by_payer: pd.DataFrame = field(default_factory=lambda: _totals_frame("payer_id"))
    sample_errors: list[str] = field(default_factory=list)

    @property
    def total_expected_recovery(self) -> float:
        return float(self.by_action["expected_net_recovery"].sum())

    def add(self, scored: pd.DataFrame, rejected: pd.DataFrame) -> None:
        """Count one chunk's scored and rejected rows."""
        self.rows_read += len(scored) + len(rejected)
        self.scored += len(scored)
        self.rejected += len(rejected)
        if len(scored):  # a file missing its columns scores nothing, and has no payer_id to group by
            # scored rows passed validation, whose payer normalisation (trim, upper-case) is repeated here
            payer = scored["payer_id"].astype("string").str.strip().str.upper()
            self.by_action = _add_totals(self.by_action, scored, scored["recommended_action"].astype("string"))
            self.by_payer = _add_totals(self.by_payer, scored, payer)
        missing = ERRORS_SHOWN - len(self.sample_errors)
        if missing > 0:
            self.sample_errors += rejected[ERROR_COLUMN].head(missing).tolist()

    def merge(self, other: WorklistSummary) -> None:
        """Add the counts and totals of ``other`` (a later part of the same input)."""
        self.rows_read += other.rows_read
        self.scored += other.scored
        self.rejected += other.rejected
        self.by_action = _merge_totals(self.by_action, other.by_action)
        self.by_payer = _merge_totals(self.by_payer, other.by_payer)
        self.sample_errors = (self.sample_errors + other.sample_errors)[:ERRORS_SHOWN]

    def to_dict(self) -> dict:
        def records(frame: pd.DataFrame) -> dict:
            return {
                str(key): {"claims": int(row["claims"]), "expected_net_recovery": float(row[RANK_COLUMN])}
                for key, row in frame.iterrows()
            }

        return {
            "output": str(self.output),
            "rejects": str(self.rejects),
            "rows_read": self.rows_read,
            "scored": self.scored,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "total_expected_recovery": self.total_expected_recovery,
            "by_action": records(self.by_action),
            "by_payer": records(self.by_payer),
        }

    def to_text(self, top_payers: int = TOP_PAYERS_SHOWN) -> str:
        rate = self.rows_read / self.seconds if self.seconds else 0.0
        lines = [
            f"rows read      {self.rows_read:>12,}",
            f"scored         {self.scored:>12,}   -> {self.output}",
            f"rejected       {self.rejected:>12,}   -> {self.rejects}",
            f"time           {self.seconds:>12.1f} s ({rate:,.0f} claims/s)",
            f"total expected net recovery  ${self.total_expected_recovery:,.0f}",
        ]
        lines += _table_lines("by recommended action", self.by_action)
        payers = self.by_payer.sort_values(RANK_COLUMN, ascending=False)
        lines += _table_lines(
            f"by payer (top {min(top_payers, len(payers))} of {len(payers)})", payers.head(top_payers)
        )
        if self.sample_errors:
            lines += ["", "first rejected rows:", *(f"  {error}" for error in self.sample_errors)]
        return "\n".join(lines)


def _totals_frame(key: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"claims": pd.Series(dtype="int64"), RANK_COLUMN: pd.Series(dtype="float64")},
        index=pd.Index([], dtype="string", name=key),
    )


def _add_totals(totals: pd.DataFrame, scored: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    if scored.empty:
        return totals
    chunk = scored.groupby(keys.to_numpy(), sort=False)[RANK_COLUMN].agg(["size", "sum"])
    return _merge_totals(totals, chunk.rename(columns={"size": "claims", "sum": RANK_COLUMN}))


def _merge_totals(totals: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
    if more.empty:
        return totals
    return totals.add(more, fill_value=0).astype({"claims": "int64"}).rename_axis(totals.index.name)


def _table_lines(title: str, frame: pd.DataFrame) -> list[str]:
    lines = ["", f"{title:<30}{'claims':>8}   {'expected net recovery':>22}"]
    return lines + [
        f"  {key!s:<28}{int(row['claims']):>8,}   ${row[RANK_COLUMN]:>21,.0f}" for key, row in frame.iterrows()
    ]


# --- writing: runs, rejects parts, the merge and the atomic move -------------------------------------------


def default_rejects_path(output: Path) -> Path:
    """``ranked.csv`` -> ``ranked.rejects.csv``: beside the output, in the same format."""
    return output.with_name(f"{output.stem}.rejects{output.suffix}")


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

    def __init__(self, output: Path, rejects: Path | None = None) -> None:
        self.output = Path(output)
        self.rejects = Path(rejects) if rejects is not None else default_rejects_path(self.output)
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
        for path in (_temporary(self.output), _temporary(self.rejects)):
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
        with _TableWriter(_temporary(self.rejects), _schema(self._rejects_parts)) as writer:
            for part in self._rejects_parts:
                writer.write(pq.read_table(part))
        if self.csv_lines and runs:
            with open(_temporary(self.output), "wb") as output:
                output.write(_csv_header(runs))
                for table in merge_runs(runs, batch_rows):
                    output.write(_joined(table[LINE_COLUMN].combine_chunks()))
        else:
            with _TableWriter(_temporary(self.output), _schema(runs)) as writer:
                for table in merge_runs(runs, batch_rows):
                    writer.write(table)
        os.replace(_temporary(self.rejects), self.rejects)
        os.replace(_temporary(self.output), self.output)
        if started is not None:
            self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _merge_to_run(self, runs: list[Path], name: str, batch_rows: int) -> Path:
        path = self.scratch / f"{name}.parquet"
        schema = _schema(runs)
        if self.csv_lines:  # the merged run keeps the runs' header
            schema = schema.with_metadata({CSV_HEADER_KEY: _csv_header(runs)})
        with pq.ParquetWriter(path, schema, **SCRATCH_OPTIONS) as writer:
            for table in merge_runs(runs, batch_rows):
                writer.write_table(table)
        return path


def _schema(parts: list[Path]) -> pa.Schema:
    """One schema for parts whose types may differ (a column all-null in one chunk, int in one file and
    float in another): the permissive union, without pandas metadata."""
    schemas = [pq.read_schema(part).remove_metadata() for part in parts]
    if not schemas:  # an input with no rows at all
        return pa.schema([])
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise TableReadError(f"the input's parts disagree on a column's type: {error}") from None


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
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema])


def _as_csv_text(table: pa.Table) -> pa.Table:
    """Timestamps as ISO dates (the contract's date format) when they fall on midnight, else date-times."""
    for position, column in enumerate(table.columns):
        if pa.types.is_timestamp(column.type):
            midnight = pc.all(pc.equal(pc.cast(pc.cast(column, pa.date32()), column.type), column)).as_py()
            text = pc.strftime(column, format="%Y-%m-%d" if midnight in (True, None) else "%Y-%m-%dT%H:%M:%S")
            table = table.set_column(position, table.field(position).with_type(pa.string()), text)
    return table


# --- the k-way merge ---------------------------------------------------------------------------------------


class _RunCursor:
    """Reads one sorted run a batch at a time; ``buffer`` holds the rows not yet merged."""

    def __init__(self, path: Path, batch_rows: int, schema: pa.Schema) -> None:
        # pre_buffer would read the whole run at once: one per cursor held the merge at the input's size
        self._batches = pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER_BYTES).iter_batches(
            batch_size=batch_rows
        )
        self._schema = schema
        self.exhausted = False  # no batch left to read (the buffer may still hold rows)
        self.buffer = schema.empty_table()
        self.net, self.row = np.empty(0), np.empty(0, dtype="int64")

    def refill(self) -> None:
        while self.buffer.num_rows == 0 and not self.exhausted:
            batch = next(self._batches, None)
            if batch is None:
                self.exhausted = True
                return
            self.buffer = pa.Table.from_batches([batch]).select(self._schema.names).cast(self._schema)
            self.net, self.row = _rank_keys(self.buffer)

    def take(self, count: int) -> pa.Table:
        taken, self.buffer = self.buffer.slice(0, count), self.buffer.slice(count)
        self.net, self.row = self.net[count:], self.row[count:]
        return taken


def merge_runs(runs: list[Path], batch_rows: int) -> Iterator[pa.Table]:
    """The rows of sorted runs, in rank order, as a stream of tables.

    Each round emits every buffered row that ranks no later than the earliest of the last buffered keys
    of the runs still being read: no unread row can come before it. The run that holds that key is
    emptied, so every round makes progress.
    """
    schema = _schema(runs)
    cursors = [_RunCursor(run, batch_rows, schema) for run in runs]
    while True:
        for cursor in cursors:
            cursor.refill()
        cursors = [cursor for cursor in cursors if cursor.buffer.num_rows]
        if not cursors:
            return
        reading = [cursor for cursor in cursors if not cursor.exhausted]
        pieces = []
        if reading:
            bound_net, negative_row = max((c.net[-1], -c.row[-1]) for c in reading)
            bound_row = -negative_row
            for cursor in cursors:
                ahead = (cursor.net > bound_net) | ((cursor.net == bound_net) & (cursor.row <= bound_row))
                pieces.append(cursor.take(int(np.count_nonzero(ahead))))
        else:
            pieces = [cursor.take(cursor.buffer.num_rows) for cursor in cursors]
        merged = pa.concat_tables(pieces)
        if merged.num_rows:
            yield merged.take(rank_order(merged))


# --- the whole run -----------------------------------------------------------------------------------------


def parquet_metadata(path: Path) -> pq.FileMetaData:
    try:
        return pq.ParquetFile(path).metadata
    except Exception as error:  # pyarrow raises several unrelated types for a corrupt file
        raise TableReadError(f"{path}: not a readable Parquet file ({error})") from None


def input_rows(source: Path) -> int | None:
    """Data rows of a Parquet input from its metadata (for the progress bar); None for CSV."""
    files = table_files(source)
    if any(path.suffix.lower() == ".csv" for path in files):
        return None
    return sum(parquet_metadata(path).num_rows for path in files)


def score_worklist(
    source: Path,
    output: Path,
    bundle: RecoupBundle,
    *,
    rejects: Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool = True,
    policy: LadderPolicy | None = None,
    jobs: int = 1,
    encoding: str = DEFAULT_ENCODING,
) -> WorklistSummary:
    """Score a worklist into ``output`` (CSV or Parquet by its name), ranked by expected net recovery.

    Rejected rows go to ``rejects`` (default: ``default_rejects_path(output)``; always written, header
    only when nothing was rejected, so a stale file from an earlier run never lingers). ``policy``
    overrides the bundle's ladder policy (the service applies its settings this way). With ``jobs`` > 1,
    chunks are scored and written by that many worker processes (a compiled bundle is compiled, from the
    cache, in each); the output is the same. ``encoding`` is a CSV input's (see ``features.io``).
    """
    chunks = iter_table_chunks(Path(source), chunk_rows, encoding=encoding)
    # the first chunk is read before anything is shown or written: a file beyond recovery (an empty one,
    # a header that does not decode) is then one error line, without a progress bar before it
    chunks = itertools.chain([next(chunks)], chunks)
    total = input_rows(Path(source))
    if jobs <= 1:
        return write_worklist(
            (score_chunk(chunk, bundle, policy) for chunk in chunks),
            output,
            rejects=rejects,
            total_rows=total,
            progress=progress,
        )
    started = time.perf_counter()
    bar = tqdm(total=total, unit="claims", desc="scoring", disable=not progress)
    threads = max(1, len(os.sched_getaffinity(0)) // jobs)  # the workers share the CPUs
    worker_state = (
        pickle.dumps(bundle, protocol=pickle.HIGHEST_PROTOCOL),
        policy,
        bundle.models.compiled_dir,
        threads,
        os.getpid(),
    )
    with WorklistWriter(Path(output), rejects) as writer, bar, _worker_pool(jobs, worker_state) as pool:
        numbered = ((chunk, writer.scratch, number, writer.csv_lines) for number, chunk in enumerate(chunks))
        # one chunk queued per worker beyond the ones being scored: every worker stays busy, and the
        # parent holds few raw chunks
        for part in _ordered_map(pool, _score_and_write, numbered, ahead=jobs + 1):
            writer.add_part(part)
            bar.update(part.rows)
        bar.set_postfix_str("ranking")
        return writer.finish(started)


def write_worklist(
    scored_chunks: Iterable[pd.DataFrame],
    output: Path,
    *,
    rejects: Path | None = None,
    total_rows: int | None = None,
    progress: bool = True,
) -> WorklistSummary:
    """Rank ``score_chunk`` frames (in input order) into ``output``; shared by the local and Dask engines."""
    started = time.perf_counter()
    bar = tqdm(total=total_rows, unit="claims", desc="scoring", disable=not progress)
    with WorklistWriter(Path(output), rejects) as writer, bar:
        for combined in scored_chunks:
            writer.add(combined)
            bar.update(len(combined))
        bar.set_postfix_str("ranking")
        return writer.finish(started)


# --- worker processes ---------------------------------------------------------------------------------------

_worker: dict = {}  # a worker process's bundle and policy, set once by ``_start_worker``


@contextmanager
def _worker_pool(jobs: int, worker_state: tuple) -> Iterator[ProcessPoolExecutor]:
    """Worker processes; on the way out (an error or an interrupt included) queued chunks are dropped."""
    pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_start_worker, initargs=worker_state)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(
    bundle_bytes: bytes, policy: LadderPolicy | None, compiled_dir: Path | None, threads: int, parent: int
) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    limit_predict_threads(threads)
    bundle = pickle.loads(bundle_bytes)
    if compiled_dir is not None:
        bundle.models.compile(compiled_dir)
    _worker.update(bundle=bundle, policy=policy)


def _exit_with_parent(parent: int) -> None:
    """End this worker when the process that started it is gone (killed, say): an orphan would hold its
    memory and finish chunks nobody reads."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _score_and_write(chunk: pd.DataFrame, scratch: Path, number: int, csv_lines: bool) -> ChunkPart:
    return write_chunk(score_chunk(chunk, _worker["bundle"], _worker["policy"]), scratch, number, csv_lines)


def _ordered_map(pool: ProcessPoolExecutor, function: Callable, arguments: Iterable[tuple], ahead: int) -> Iterator:
    """``function(*args)`` for each of ``arguments`` on ``pool``, in order, with at most ``ahead`` submitted
    but not yet taken: ``Executor.map`` would read the whole input into memory first."""
    pending: deque[Future] = deque()
    for args in arguments:
        pending.append(pool.submit(function, *args))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
