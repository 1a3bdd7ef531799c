"""Files read side by side: one X12 file per task, in worker processes, results in input order.

Each file is parsed and validated on its own (x12sdk's models are the cost, about 0.4 ms a claim), so
files spread over processes with nothing shared but the result. Workers are spawned, as the worklist
scorer's are: a fork of a process that runs threads (the web service, a CLI that has started one) may
inherit a held lock. With one worker, or one file, everything stays in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import TypeVar

Result = TypeVar("Result")


def map_files(function: Callable[..., Result], paths: list[Path], workers: int, *args) -> Iterator[Result]:
    """``function(path, *args)`` for each path, in order, on up to ``workers`` processes. ``function``
    must be a module-level function (workers import it by name)."""
    workers = min(workers, len(paths))
    if workers <= 1:
        for path in paths:
            yield function(path, *args)
        return
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    try:
        yield from pool.map(function, paths, *[[arg] * len(paths) for arg in args])
    finally:  # an error in one file, or a caller that stops reading: the queued files are dropped
        pool.shutdown(wait=True, cancel_futures=True)
