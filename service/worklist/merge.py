"""The k-way merge of sorted runs: their rows in rank order, one batch per run in memory at a time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from features.io import TableReadError
from service.worklist.chunks import rank_keys, rank_order

READ_BUFFER_BYTES = 1 << 20


def unified_schema(parts: list[Path]) -> pa.Schema:
    """One schema for parts whose types may differ (a column all-null in one chunk, int in one file and
    float in another): the permissive union, without pandas metadata."""
    schemas = [pq.read_schema(part).remove_metadata() for part in parts]
    if not schemas:  # an input with no rows at all
        return pa.schema([])
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise TableReadError(f"the input's parts disagree on a column's type: {error}") from None


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
            self.net, self.row = rank_keys(self.buffer)

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
    schema = unified_schema(runs)
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
