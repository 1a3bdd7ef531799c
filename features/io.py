"""Readers for contract tables: CSV or Parquet, one file or a directory of parts.

CSV is read as text so that validation sees every value exactly as the file wrote it and can quote it
back in an error. Parquet keeps its own types; validation checks those too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


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


def _read_csv(path: Path, **options) -> pd.DataFrame | Iterator[pd.DataFrame]:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, **options)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise TableReadError(f"{path}: not a readable CSV file ({error.__class__.__name__}: {error})") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several unrelated types for a corrupt file
        raise TableReadError(f"{path}: not a readable Parquet file ({error})") from None


def read_table(source: Path) -> tuple[pd.DataFrame, list[TablePart]]:
    """The whole table, indexed by 1-based data row number, and the parts it came from."""
    frames, parts, next_row = [], [], 1
    for path in table_files(source):
        frame = _read_csv(path) if path.suffix.lower() == ".csv" else _read_parquet(path)
        frames.append(frame)
        parts.append(TablePart(path, next_row, len(frame)))
        next_row += len(frame)
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    table.index = pd.RangeIndex(1, len(table) + 1, name="row")
    return table, parts


def iter_table_chunks(source: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The table in chunks of at most ``chunk_rows``, indexed by 1-based data row number across parts.

    Parts that hold the same columns in another order are given the first part's order.
    """
    next_row = 1
    first_columns: list | None = None
    for path in table_files(source):
        if path.suffix.lower() == ".csv":
            reader = _read_csv(path, chunksize=chunk_rows)
            chunks = [reader] if isinstance(reader, pd.DataFrame) else reader
        else:
            parquet = pq.ParquetFile(path)
            chunks = (batch.to_pandas() for batch in parquet.iter_batches(batch_size=chunk_rows))
        for chunk in chunks:
            if first_columns is None:
                first_columns = list(chunk.columns)
            elif list(chunk.columns) != first_columns and set(chunk.columns) == set(first_columns):
                chunk = chunk[first_columns]
            chunk.index = pd.RangeIndex(next_row, next_row + len(chunk), name="row")
            next_row += len(chunk)
            yield chunk
