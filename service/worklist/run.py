"""The whole worklist run: read in chunks, score (in this process or a worker pool), rank, write."""

from __future__ import annotations

import itertools
import os
import pickle
import time
from pathlib import Path

from tqdm import tqdm

from features.io import DEFAULT_ENCODING, iter_table_chunks
from models.bundle import RecoupBundle
from models.ladder import LadderPolicy
from service.worklist.chunks import DEFAULT_CHUNK_ROWS, input_rows, score_chunk
from service.worklist.pool import ordered_map, score_and_write, worker_pool
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
    with WorklistWriter(Path(output), rejects) as writer, bar, worker_pool(jobs, worker_state) as pool:
        numbered = ((chunk, writer.scratch, number, writer.csv_lines) for number, chunk in enumerate(chunks))
        # one chunk queued per worker beyond the ones being scored: every worker stays busy, and the
        # parent holds few raw chunks
        for part in ordered_map(pool, score_and_write, numbered, ahead=jobs + 1):
            writer.add_part(part)
            bar.update(part.rows)
        bar.set_postfix_str("ranking")
        return writer.finish(started)
