"""Files read (or written) side by side: one X12 file per task, in worker processes, results in input order.

Each file is parsed and validated on its own (x12sdk's models are the cost, about 0.4 ms a claim), so
files spread over processes with nothing shared but the result; the simulator's writer builds and
serializes its files the same way. Workers are spawned, as the worklist scorer's are: a fork of a
process that runs threads (the web service, a CLI that has started one) may inherit a held lock. With
one worker, or one task, everything stays in this process.
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
    yield from map_calls(function, [(path, *args) for path in paths], workers)


def map_calls(function: Callable[..., Result], calls: list[tuple], workers: int) -> Iterator[Result]:
    """``function(*call)`` for each call, in order, on up to ``workers`` processes (``function`` as for
    ``map_files``; the arguments must pickle)."""
    workers = min(workers, len(calls))
    if workers <= 1:
        for call in calls:
            yield function(*call)
        return
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    try:
        yield from pool.map(function, *zip(*calls, strict=True))
    finally:  # an error in one file, or a caller that stops reading: the queued files are dropped
        pool.shutdown(wait=True, cancel_futures=True)
