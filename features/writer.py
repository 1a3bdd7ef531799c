"""Tables written as CSV or Parquet by the output's suffix, or (without one) as a folder of Parquet parts,
a frame at a time, so that a table never needs to be held whole (``recoup import-x12`` writes its claims
as they are built). Written under a temporary name (``NAME.partial``) and renamed when complete: never a
half-written file under the final name; on an error the partial output is removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.io import TABLE_SUFFIXES

PART_PATTERN = "part-*.parquet"
PART_ROWS = 25_000


class TableWriteError(ValueError):
    """The output cannot be written where it was asked (names what is in the way)."""


class TableWriter:
    """``with TableWriter(output) as writer: writer.write(frame)...``: the frames one after another, as one
    table. Frames with no rows add nothing, but the first one gives an empty table its columns when no
    frame has rows (a folder of parts is then empty). Every frame must have the first one's columns and
    types; Parquet keeps the first frame's schema."""

    def __init__(self, output: Path, part_rows: int = PART_ROWS):
        suffix = output.suffix.lower()
        self.kind = "csv" if suffix == ".csv" else "parquet" if suffix in TABLE_SUFFIXES else "parts"
        if self.kind == "parts" and output.exists():
            if not output.is_dir():
                raise TableWriteError(
                    f"{output} is a file: a folder of parts cannot replace it (name a .csv or .parquet)"
                )
            if any(not path.match(PART_PATTERN) for path in output.iterdir()):
                raise TableWriteError(f"{output} holds files other than {PART_PATTERN}: not replacing it")
        self.output, self.part_rows = output, part_rows
        self.rows = 0
        self._partial = output.with_name(output.name + ".partial")
        self._first: pd.DataFrame | None = None
        self._schema: pa.Schema | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._parts = self._part_room = 0

    def __enter__(self) -> TableWriter:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self._remove_partial()
        if self.kind == "parts":
            self._partial.mkdir()
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self._first is None:
            self._first = frame.iloc[:0]
        if len(frame):
            self._write(frame)

    def __exit__(self, kind, error, traceback) -> None:
        complete = False
        try:
            if error is None and not self.rows and self._first is not None and self.kind != "parts":
                self._write(self._first)
            self._close_parquet()
            complete = error is None
        finally:
            if not complete:
                self._close_parquet()
                self._remove_partial()
        if complete and (self.kind == "parts" or self._partial.exists()):  # (a writer given no frame writes none)
            if self.kind == "parts":
                shutil.rmtree(self.output, ignore_errors=True)
            self._partial.replace(self.output)

    def _write(self, frame: pd.DataFrame) -> None:
        if self.kind == "csv":
            header = not self._partial.exists()
            frame.to_csv(self._partial, index=False, date_format="%Y-%m-%d", mode="w" if header else "a", header=header)
        elif self.kind == "parquet":
            table = self._arrow(frame)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._partial, table.schema)
            self._parquet.write_table(table)
        else:
            self._write_parts(frame)
        self.rows += len(frame)

    def _write_parts(self, frame: pd.DataFrame) -> None:
        """Parts of ``part_rows`` rows: a frame fills the open part, then opens the next."""
        start = 0
        while start < len(frame):
            opening = self._parquet is None
            room = self.part_rows if opening else self._part_room
            if opening:
                self._schema = None  # each part has its own schema, as if written alone
            piece = self._arrow(frame.iloc[start : start + room])
            if opening:
                self._parquet = pq.ParquetWriter(self._partial / f"part-{self._parts:05d}.parquet", piece.schema)
                self._parts += 1
            self._parquet.write_table(piece)
            start += piece.num_rows
            self._part_room = room - piece.num_rows
            if not self._part_room:
                self._close_parquet()

    def _close_parquet(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None

    def _arrow(self, frame: pd.DataFrame) -> pa.Table:
        table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        self._schema = self._schema or table.schema
        return table

    def _remove_partial(self) -> None:
        if self._partial.is_dir():
            shutil.rmtree(self._partial)
        else:
            self._partial.unlink(missing_ok=True)


def write_table(frame: pd.DataFrame, output: Path, part_rows: int = PART_ROWS) -> None:
    """``frame`` written whole (see ``TableWriter``)."""
    with TableWriter(output, part_rows) as writer:
        writer.write(frame)
