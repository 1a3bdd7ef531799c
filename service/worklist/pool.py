"""Worker processes that score and write chunks in parallel, in input order."""

from __future__ import annotations

import os
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from models.estimators import limit_predict_threads
from models.ladder import LadderPolicy
from models.served import make_served
from service.worklist.chunks import load_chunk, saved_candidates, score_chunk
from service.worklist.writer import ChunkPart, write_chunk

PARENT_CHECK_SECONDS = 1.0

_worker: dict = {}  # a worker process's bundle and policy, set once by ``_start_worker``


@contextmanager
def worker_pool(jobs: int, worker_state: tuple) -> Iterator[ProcessPoolExecutor]:
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
    bundle = make_served(
        pickle.loads(bundle_bytes), compile_trees=compiled_dir is not None, compiled_dir=compiled_dir, policy=policy
    )
    _worker.update(bundle=bundle, policy=policy)


def _exit_with_parent(parent: int) -> None:
    """End this worker when the process that started it is gone (killed, say): an orphan would hold its
    memory and finish chunks nobody reads."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def score_and_write(
    chunk: pd.DataFrame | Path, scratch: Path, number: int, csv_lines: bool, batches: pd.DataFrame | None
) -> ChunkPart:
    """Score and write one chunk, given as a frame or as the file ``candidates`` saved it to."""
    raw, validated = load_chunk(chunk) if isinstance(chunk, Path) else (chunk, None)
    scored = score_chunk(raw, _worker["bundle"], _worker["policy"], batches, validated)
    return write_chunk(scored, scratch, number, csv_lines)


def candidates(chunk: pd.DataFrame, saved: Path) -> pd.DataFrame:
    """``chunks.saved_candidates`` under the policy the worker scores with."""
    return saved_candidates(chunk, _worker["policy"] or _worker["bundle"].policy, saved)


def ordered_map(pool: ProcessPoolExecutor, function: Callable, arguments: Iterable[tuple], ahead: int) -> Iterator:
    """``function(*args)`` for each of ``arguments`` on ``pool``, in order, with at most ``ahead`` submitted
    but not yet taken: ``Executor.map`` would read the whole input into memory first."""
    pending: deque[Future] = deque()
    for args in arguments:
        pending.append(pool.submit(function, *args))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
