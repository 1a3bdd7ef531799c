"""Worklist scoring on a Dask cluster: partitioned Parquet scored with ``dask.dataframe``, ranked locally.

Partitions are groups of Parquet row groups of about ``chunk_rows`` rows, each carrying the 1-based input
row numbers ``features.io`` gives the same rows, so rejects name the same rows as on one machine.
``map_partitions`` runs ``service.worklist.score_chunk`` (validation, the bundle, the decision) on the
workers; the bundle is scattered to every worker once. Scored partitions come back to the client in
input order, at most a few in flight, and go through the same ``WorklistWriter`` as the local engine
(sorted runs, k-way merge, atomic move). Each row is scored on its own, so the output equals the local
engine's exactly.

Workers need the ``recoup`` package installed (the same version as the client): they unpickle the
bundle and import the scoring code. They read the input by its path, so on a real cluster it must sit on
storage every worker mounts at that path.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pyarrow.parquet as pq
from distributed import Client, LocalCluster

from features.io import table_files
from models.bundle import RecoupBundle, output_columns
from models.ladder import LadderPolicy
from models.served import make_served
from service.worklist import (
    DEFAULT_CHUNK_ROWS,
    ERROR_COLUMN,
    RESERVED_COLUMNS,
    ROW_COLUMN,
    WorklistSummary,
    parquet_metadata,
    score_chunk,
    write_worklist,
)
from service.worklist.chunks import chunk_candidates, plan_worklist

IN_FLIGHT_PER_WORKER = 2  # scored partitions computed ahead of the writer, per worker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParquetPiece:
    """Some row groups of one Parquet file, and the input row number of their first row."""

    path: str
    row_groups: tuple[int, ...]
    first_row: int
    rows: int


def parquet_pieces(source: Path, chunk_rows: int) -> list[ParquetPiece]:
    """The input cut into pieces of whole row groups of about ``chunk_rows`` rows, in input order."""
    pieces, next_row = [], 1
    for path in table_files(source):
        if path.suffix.lower() == ".csv":
            raise ValueError(f"{path}: the Dask engine reads Parquet; score CSV with the local engine")
        metadata = parquet_metadata(path)
        group: list[int] = []
        rows = 0
        for index in range(metadata.num_row_groups):
            group.append(index)
            rows += metadata.row_group(index).num_rows
            if rows >= chunk_rows or index == metadata.num_row_groups - 1:
                pieces.append(ParquetPiece(str(path), tuple(group), next_row, rows))
                next_row += rows
                group, rows = [], 0
    return pieces


def read_piece(piece: ParquetPiece) -> pd.DataFrame:
    """One piece as raw input rows indexed by input row number (as ``features.io`` reads them)."""
    frame = pq.ParquetFile(piece.path).read_row_groups(list(piece.row_groups)).to_pandas()
    frame.index = pd.RangeIndex(piece.first_row, piece.first_row + len(frame), name="row")
    return frame


def raw_partitions(pieces: list[ParquetPiece]) -> tuple[dd.DataFrame, pd.DataFrame]:
    """The pieces as a Dask DataFrame of raw input rows, and its (empty) meta."""
    empty = pq.read_schema(pieces[0].path).empty_table().to_pandas()
    return dd.from_map(read_piece, pieces, meta=empty), empty


def scored_partitions(
    pieces: list[ParquetPiece], bundle, policy: LadderPolicy | None = None, batches=None
) -> dd.DataFrame:
    """The pieces as a Dask DataFrame of ``score_chunk`` results (every row back: scores or ``errors``).

    ``bundle`` is a ``RecoupBundle`` or a Future of one (scattered to the workers); ``batches`` the IDR
    batch plan (``service.worklist.chunks.plan_worklist``), or a Future of it, or None.
    """
    raw, empty = raw_partitions(pieces)
    return raw.map_partitions(score_chunk, bundle, policy, batches, meta=_meta(empty))


def batch_plan(pieces: list[ParquetPiece], policy: LadderPolicy) -> pd.DataFrame:
    """The worklist's IDR batches, its candidates found by the workers (a first pass over the input)."""
    raw, _ = raw_partitions(pieces)
    meta = chunk_candidates(pd.DataFrame(), policy)
    return plan_worklist([raw.map_partitions(chunk_candidates, policy, meta=meta).compute()], policy)


def _meta(empty_input: pd.DataFrame) -> pd.DataFrame:
    """The columns ``score_chunk`` returns for this input, as an empty frame."""
    inputs = [name for name in empty_input.columns if name not in RESERVED_COLUMNS]
    return pd.DataFrame(
        {name: empty_input[name] for name in inputs} | {name: pd.Series(dtype=object) for name in output_columns()},
        columns=[ROW_COLUMN, *inputs, *output_columns(), ERROR_COLUMN],
    ).astype({ROW_COLUMN: "int64", ERROR_COLUMN: object})


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a LocalCluster with ``workers`` processes.

    One thread per worker: LightGBM already uses every core of its machine for each prediction.
    """
    # distributed logs its every step at INFO: a user sees its warnings and errors, all of it with --verbose
    level = logging.INFO if logging.getLogger().isEnabledFor(logging.INFO) else logging.WARNING
    logging.getLogger("distributed").setLevel(level)
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # its HTTP routes on any free local port
            silence_logs=level,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def score_worklist_dask(
    source: Path,
    output: Path,
    bundle: RecoupBundle,
    client: Client,
    *,
    rejects: Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool = True,
    policy: LadderPolicy | None = None,
    batch_idr: bool = True,
) -> WorklistSummary:
    """``service.worklist.score_worklist`` with the scoring done by the workers of ``client``."""
    pieces = parquet_pieces(Path(source), chunk_rows)
    if not pieces:
        raise ValueError(f"{source}: no Parquet row groups to score")
    shared_bundle = client.scatter(bundle, broadcast=True, hash=False)
    if bundle.models.compiled_dir is not None:  # compiled trees do not pickle: each worker compiles its copy
        workers = list(client.scheduler_info()["workers"])
        client.gather(
            [
                client.submit(
                    _compile,
                    shared_bundle,
                    bundle.models.compiled_dir,
                    workers=[worker],
                    allow_other_workers=False,
                    pure=False,
                )
                for worker in workers
            ]
        )
    batches = batch_plan(pieces, policy or bundle.policy) if batch_idr else None
    shared_batches = None if batches is None else client.scatter(batches, broadcast=True, hash=False)
    partitions = scored_partitions(pieces, shared_bundle, policy, shared_batches).to_delayed()
    window = IN_FLIGHT_PER_WORKER * max(1, len(client.nthreads()))
    return write_worklist(
        _in_order(client, partitions, window),
        output,
        rejects=rejects,
        total_rows=sum(piece.rows for piece in pieces),
        progress=progress,
        batches=batches,
    )


def _compile(bundle: RecoupBundle, cache_dir: Path) -> None:
    """Compile a worker's scattered copy of the bundle in place (its scoring tasks share that object).

    A worker that cannot compile, or that later loses its copy (spilled, restarted, joined late), scores
    with LightGBM: the same numbers to about 1e-15, not bit for bit.
    """
    make_served(bundle, compiled_dir=cache_dir)


def _in_order(client: Client, partitions: list, window: int) -> Iterator[pd.DataFrame]:
    """Computed partitions in input order, with at most ``window`` computed ahead."""
    pending: deque = deque()
    upcoming = iter(partitions)
    for partition in upcoming:
        pending.append(client.compute(partition))
        if len(pending) >= window:
            break
    while pending:
        future = pending.popleft()
        yield future.result()
        future.release()
        following = next(upcoming, None)
        if following is not None:
            pending.append(client.compute(following))
