"""A table held on disk in parts, read back by row number: the 835 adjudication rows of an import.

Each 835 file's rows are written by its reading process to an Arrow IPC file of their own, so that the
importing process holds no row of the input: only the few key columns linking sorts, and the rows it
asks for, a part at a time. Parts are read whole (each is one 835 file's rows, a few MB at most) and
the last one read is kept, because the claims are built in input order, part after part.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa


def write_part(table: pa.Table, path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_part(path: Path) -> pa.Table:
    # read into memory rather than mapped: mapped pages would count as the process's memory until it ends
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all()


class SpilledTable:
    """Rows ``0..n-1`` of a table of ``schema`` stored as parts (IPC files), one after another."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.num_rows = 0
        self._paths: list[Path] = []
        self._starts: list[int] = []  # the row number of each part's first row
        self._cached: tuple[int, pa.Table] | None = None

    def append(self, path: Path, rows: int) -> None:
        """The next ``rows`` rows are in the part at ``path`` (nothing is recorded for an empty part)."""
        if rows:
            self._paths.append(path)
            self._starts.append(self.num_rows)
            self.num_rows += rows

    def take(self, rows) -> pa.Table:
        """The table's rows ``rows`` (row numbers, in any order, repeats allowed), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        ascending = rows[order]
        parts = np.searchsorted(np.asarray(self._starts, dtype=np.int64), ascending, side="right") - 1
        pieces = [self.schema.empty_table()]
        for part in np.unique(parts):
            local = ascending[parts == part] - self._starts[part]
            pieces.append(self._part(int(part)).take(local))
        table = pa.concat_tables(pieces)
        if np.any(order != np.arange(len(rows))):  # back from ascending to the order asked
            table = table.take(np.argsort(order))
        return table

    def _part(self, part: int) -> pa.Table:
        if self._cached is None or self._cached[0] != part:
            self._cached = None  # the previous part is freed before the next is read
            self._cached = (part, read_part(self._paths[part]))
        return self._cached[1]
