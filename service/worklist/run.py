"""The whole worklist run: read in chunks, score (in this process or a worker pool), rank, write."""

from __future__ import annotations

import itertools
import math
import os
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from features.io import DEFAULT_ENCODING, iter_table_chunks
from models.bundle import RecoupBundle
from models.ladder import LadderPolicy
from service.worklist.chunks import DEFAULT_CHUNK_ROWS, chunk_candidates, input_rows, plan_worklist, score_chunk
from service.worklist.pool import candidates, ordered_map, score_and_write, worker_pool
from service.worklist.summary import WorklistSummary
from service.worklist.writer import WorklistWriter, write_worklist


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
    batch_idr: bool = True,
) -> WorklistSummary:
    """Score a worklist into ``output`` (CSV or Parquet by its name), ranked by expected net recovery.

    Rejected rows go to ``rejects`` (default: ``default_rejects_path(output)``; always written, header
    only when nothing was rejected, so a stale file from an earlier run never lingers). ``policy``
    overrides the bundle's ladder policy (the service applies its settings this way). With ``jobs`` > 1,
    chunks are scored and written by that many worker processes (a compiled bundle is compiled, from the
    cache, in each); the output is the same. ``encoding`` is a CSV input's (see ``features.io``).

    With ``batch_idr`` the claims that may share a batched Federal IDR dispute are grouped first
    (``models.batching``; one extra pass that reads and validates the input), IDR is priced at each claim's
    share of its batch's fees, and the batches are written beside the output (``default_batches_path``).
    """

    def read() -> itertools.chain:
        chunks = iter_table_chunks(Path(source), chunk_rows, encoding=encoding)
        # the first chunk is read before anything is shown or written: a file beyond recovery (an empty one,
        # a header that does not decode) is then one error line, without a progress bar before it
        return itertools.chain([next(chunks)], chunks)

    total = input_rows(Path(source))
    effective = policy or bundle.policy
    # one chunk is scored in this process: starting workers (each loads the bundle and its compiled trees)
    # costs seconds, more than scoring a small worklist (300 claims: 12-20 s in one process, 21-28 s with two)
    if jobs > 1 and (math.ceil(total / chunk_rows) if total is not None else _chunks_up_to_two(read())) <= 1:
        jobs = 1
    if jobs <= 1:
        batches = plan_worklist([chunk_candidates(c, effective) for c in read()], effective) if batch_idr else None
        return write_worklist(
            (score_chunk(chunk, bundle, policy, batches) for chunk in read()),
            output,
            rejects=rejects,
            total_rows=total,
            progress=progress,
            batches=batches,
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
    # the writer last to close: the pool stops (its workers write into the scratch folder) before the
    # scratch folder is removed
    with WorklistWriter(Path(output), rejects) as writer, worker_pool(jobs, worker_state) as pool, bar:
        if batch_idr:  # the first pass in the workers too: validating is most of its time
            bar.set_postfix_str("batching IDR")
            saved = writer.scratch / "chunks"
            saved.mkdir()
            rows: list[pd.Index] = []  # each chunk's row numbers, to send each worker its part of the plan

            def first_pass() -> Iterator[tuple[pd.DataFrame, Path]]:
                for number, chunk in enumerate(read()):
                    rows.append(chunk.index)
                    yield chunk, saved / f"{number}"

            found = list(ordered_map(pool, candidates, first_pass(), ahead=jobs + 1))
            writer.batches_plan = plan_worklist(found, effective)
            # the workers load the chunks and validations they saved: this process parses the input once,
            # not twice (parsing is most of its time, taken from the workers on a machine of two cores),
            # and no chunk is validated twice
            chunks = ((saved / f"{number}", index) for number, index in enumerate(rows))
            bar.set_postfix_str("")
        else:
            chunks = ((chunk, chunk.index) for chunk in read())
        numbered = (
            (chunk, writer.scratch, number, writer.csv_lines, _batches_of(writer.batches_plan, index))
            for number, (chunk, index) in enumerate(chunks)
        )
        # one chunk queued per worker beyond the ones being scored: every worker stays busy, and the
        # parent holds few raw chunks
        for part in ordered_map(pool, score_and_write, numbered, ahead=jobs + 1):
            writer.add_part(part)
            bar.update(part.rows)
        bar.set_postfix_str("ranking")
        return writer.finish(started)


def _chunks_up_to_two(chunks: itertools.chain) -> int:
    """How many chunks ``chunks`` holds, counted no further than two (a CSV's rows are not known unread)."""
    return sum(1 for _ in itertools.islice(chunks, 2))


def _batches_of(batches: pd.DataFrame | None, rows: pd.Index) -> pd.DataFrame | None:
    """The part of the batch plan a chunk (its ``rows``) needs: a worker is sent its own rows, not the
    whole plan."""
    return None if batches is None else batches[batches.index.isin(rows)]
