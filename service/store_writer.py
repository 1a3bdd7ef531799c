"""The recorder's writes to the store, made by a child process of their own.

A service worker is bound by one core (Python's GIL): the event loop, the scoring thread and the recorder
share it. Written from a thread of the worker, the store's work (binding every value, SQLAlchemy, the
driver) took that core from the event loop: recording cost about a fifth of ``POST /v1/score``'s
throughput at 8 connections. The writer process does that work on the machine's other cores; the worker
only pickles the rows into a pipe (C code, a few microseconds a row) and waits for the answer with the GIL
released.

The child is started (``spawn``: a clean interpreter, not a fork of a threaded server) at the first write
and again after it died; it ends when the pipe closes, with the worker that opened it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from features.store import Store, describe_store_error

STOP_SECONDS = 10.0


class StoreWriteFailed(Exception):
    """The writer could not store a batch; its message is the store's error as ``describe_store_error``
    words it (without the SQL and the parameters, which would hold claim data)."""


class StoreWriter:
    """Stores the recorder's rows (``Store.record_prediction_values``) in a child process, one batch at a
    time; ``write`` returns once the batch is committed and raises ``StoreWriteFailed`` when it was not."""

    def __init__(self, uri: str):
        self.uri = uri
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        # one batch on the pipe at a time, and no close in the middle of one (a message is written in parts)
        self._lock = threading.Lock()
        self._closed = False

    def write(self, claim_rows: Sequence[Sequence[Any]], prediction_rows: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            connection = self._connected()
            try:
                connection.send((claim_rows, prediction_rows))
                failure = connection.recv()
            except (EOFError, OSError) as gone:  # the child died: this batch is lost, the next write restarts it
                self._discard()
                raise StoreWriteFailed(f"the store writer process ended ({type(gone).__name__})") from None
        if failure is not None:
            raise StoreWriteFailed(failure)

    def close(self, timeout: float = STOP_SECONDS) -> None:
        """Stop the child once it has written what it was given (a batch still being written after
        ``timeout`` is lost: the child is killed); no child is started after this."""
        self._closed = True
        if not self._lock.acquire(timeout=timeout):  # a write hangs (a store that does not answer)
            if self._process is not None:
                self._process.kill()
            return
        try:
            if self._connection is not None:
                with contextlib.suppress(OSError):
                    self._connection.send(None)
            if self._process is not None:
                self._process.join(timeout)
                if self._process.is_alive():
                    self._process.kill()
            self._discard()
        finally:
            self._lock.release()

    def _connected(self) -> Connection:
        if self._closed:
            raise StoreWriteFailed("the store writer is closed (the service is stopping)")
        if self._process is None or not self._process.is_alive():
            self._discard()
            context = multiprocessing.get_context("spawn")
            ours, theirs = context.Pipe()
            self._process = context.Process(
                target=serve_writes, args=(self.uri, theirs), name="recoup-store-writer", daemon=True
            )
            self._process.start()
            theirs.close()  # the child's end: closed here, so that the child ending shows as EOF
            self._connection = ours
        return self._connection

    def _discard(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection, self._process = None, None


def serve_writes(uri: str, connection: Connection) -> None:
    """The child's loop: store each batch received, answer ``None`` or the error's text; end at ``None``
    or when the parent's end of the pipe closes."""
    # Ctrl-C reaches the whole process group: the child is stopped by its parent (the None below, or the
    # pipe closing) once the batches handed to it are written, never halfway. SIGTERM keeps its default, so
    # that multiprocessing's exit handler, which terminates daemonic children, cannot wait on this one
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    store: Store | None = None  # opened at the first batch, and again after a failure
    try:
        while True:
            try:
                batch = connection.recv()
            except EOFError:
                return
            except Exception as failure:  # a message that cannot be read (it was read whole: the pipe is in step)
                connection.send(describe_store_error(failure))
                continue
            if batch is None:
                return
            try:
                store = store or Store.open(uri, pool_pre_ping=True)
                store.record_prediction_values(*batch)
            except Exception as failure:  # an outage: the parent counts and shows it, and keeps scoring
                if store is not None:
                    store.close()
                store = None
                connection.send(describe_store_error(failure))
            else:
                connection.send(None)
    finally:
        if store is not None:
            store.close()
