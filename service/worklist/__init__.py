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

Modules, one job each: ``chunks`` (one chunk validated and scored, the rank keys), ``summary`` (the counts
and totals), ``writer`` (runs, rejects parts, the atomic move), ``merge`` (the k-way merge), ``pool`` (worker
processes) and ``run`` (the whole run).
"""

from service.worklist.chunks import (
    DEFAULT_CHUNK_ROWS,
    ERROR_COLUMN,
    RANK_COLUMN,
    RESERVED_COLUMNS,
    ROW_COLUMN,
    parquet_metadata,
    rank_order,
    score_chunk,
)
from service.worklist.merge import merge_runs
from service.worklist.run import score_worklist
from service.worklist.summary import WorklistSummary
from service.worklist.writer import WorklistWriter, csv_rows, default_rejects_path, write_worklist

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "ERROR_COLUMN",
    "RANK_COLUMN",
    "RESERVED_COLUMNS",
    "ROW_COLUMN",
    "WorklistSummary",
    "WorklistWriter",
    "csv_rows",
    "default_rejects_path",
    "merge_runs",
    "parquet_metadata",
    "rank_order",
    "score_chunk",
    "score_worklist",
    "write_worklist",
]
