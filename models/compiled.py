"""Compiled forests: each LightGBM booster as native code (lleaves, through LLVM), for fast scoring.

LightGBM's ``predict`` walks its tree structures node by node and pays a fixed cost per call; a compiled
forest gives the same numbers (up to the order of floating-point sums: differences of 1e-15 measured) at
about a fifth of the time per row and a sixth of the time for a 15-row call. Worklists feel the first, the
single-claim path the second.

Compiling takes seconds per model, so the object code is cached on disk, keyed by the model's text and
the compiler and CPU it was built for, and missing entries are compiled in parallel processes. Cache files
are written under a temporary name and renamed, so a crash or a concurrent compile never leaves a torn
file under a final name. A compile can be cancelled (``cancel``, an event another thread sets): its
worker processes are terminated at once, so a server that stops mid-compile leaves no process behind.

Loading a torn or altered object file is not an error LLVM reports: it aborts the process (``LLVM ERROR:
section header table goes past the end of the file``, exit 134). So each object file has a SHA-256
checksum beside it (``<key>.o.sha256``, written once the object passed its check), verified before the
file is loaded: an entry that fails it (truncated, altered, or without a checksum) is deleted and
compiled again, and if it still fails at load the caller scores with LightGBM (``models.served``).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import threading
import uuid
from multiprocessing import current_process, get_context
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

logger = logging.getLogger(__name__)

CACHE_ENV = "RECOUP_COMPILED_TREES_DIR"
CHECK_ROWS = 64  # random rows (some features missing) a new object file must score as LightGBM does
CHECKSUM_SUFFIX = ".sha256"


class CorruptCacheError(RuntimeError):
    """A compiled-trees cache entry does not match its checksum."""


class CompileError(RuntimeError):
    """A child process compiling an entry failed or died; the entry is not cached."""


class CompileCancelled(RuntimeError):
    """The compile was cancelled (``cancel`` was set) before it finished."""


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _checksum_file(object_file: Path) -> Path:
    return object_file.with_name(object_file.name + CHECKSUM_SUFFIX)


def _intact(object_file: Path) -> bool:
    """Whether ``object_file`` is there and matches the checksum written beside it."""
    try:
        return _checksum_file(object_file).read_text().strip() == _digest(object_file)
    except FileNotFoundError:
        return False


def _discard(object_file: Path) -> None:
    object_file.unlink(missing_ok=True)
    _checksum_file(object_file).unlink(missing_ok=True)


def default_cache_dir() -> Path:
    """``$RECOUP_COMPILED_TREES_DIR``, else ``recoup/trees`` under the user's cache directory."""
    if configured := os.environ.get(CACHE_ENV):
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "recoup" / "trees"


def _toolchain() -> str:
    """What the object code depends on besides the model: compiler versions, host CPU and its features."""
    from importlib.metadata import version

    from llvmlite import binding

    return "|".join(
        [
            version("lleaves"),
            version("llvmlite"),
            binding.get_host_cpu_name(),
            binding.get_host_cpu_features().flatten(),
        ]
    )


def _compile(model_file: Path, object_file: Path) -> None:
    """Compile one model text into ``object_file``, checked and then renamed into place.

    lleaves writes the object file from an LLVM callback whose errors (a full disk) it cannot report, and
    loading a torn object aborts the process. So the new file is loaded and its predictions compared with
    LightGBM's here, in a child process (``_compile_in_processes``), before it may enter the cache.
    """
    import lleaves

    temporary = _temporary_name(object_file)  # lleaves writes its cache only to a path that does not exist
    try:
        lleaves.Model(model_file=str(model_file)).compile(cache=str(temporary))
        forest = lleaves.Model(model_file=str(model_file))
        forest.compile(cache=str(temporary))
        booster = lgb.Booster(model_file=str(model_file))
        probe = np.random.default_rng(0).normal(scale=3.0, size=(CHECK_ROWS, booster.num_feature()))
        probe[::3, ::2] = np.nan
        if not np.allclose(forest.predict(probe, n_jobs=1), booster.predict(probe), rtol=1e-9, atol=1e-12):
            raise RuntimeError(f"compiled {model_file.name} does not predict what LightGBM predicts")
        checksum = _digest(temporary)
        os.replace(temporary, object_file)
        _write_atomically(_checksum_file(object_file), checksum + "\n")  # last: the entry is now complete
    finally:
        temporary.unlink(missing_ok=True)


def _write_atomically(path: Path, text: str) -> None:
    temporary = _temporary_name(path)
    temporary.write_text(text)
    os.replace(temporary, path)


def _temporary_name(path: Path) -> Path:
    """A fresh, unused name beside ``path`` (unique per process and thread)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def _entries(boosters: dict[str, lgb.Booster], cache_dir: Path) -> dict[str, tuple[Path, Path, str]]:
    """Each booster's cache entry: (model text file, object file, model text)."""
    toolchain = _toolchain()
    entries = {}
    for name, booster in boosters.items():
        text = booster.model_to_string()
        key = hashlib.sha256(f"{toolchain}\n{text}".encode()).hexdigest()[:32]
        entries[name] = (cache_dir / f"{key}.txt", cache_dir / f"{key}.o", text)
    return entries


def is_cached(boosters: dict[str, lgb.Booster], cache_dir: Path | None = None) -> bool:
    """Whether every booster has an intact entry in the cache (``compile_forests`` would compile nothing)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return all(
        model_file.is_file() and model_file.read_text() == text and _intact(object_file)
        for model_file, object_file, text in _entries(boosters, cache_dir).values()
    )


def compile_forests(
    boosters: dict[str, lgb.Booster],
    cache_dir: Path | None = None,
    processes: int | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """A ``CompiledForest`` (a compiled ``lleaves.Model``) for each booster, by the same names; from the
    cache where present.

    Each forest is the trees ``booster.predict`` uses by default (the best iteration when there is one)
    and returns what it returns (probabilities for a classifier, the objective's output scale otherwise).
    Raises ``CompileCancelled`` once ``cancel`` is set while entries are being compiled.
    """
    import lleaves

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, (model_file, object_file, text) in _entries(boosters, cache_dir).items():
        if not model_file.exists() or model_file.read_text() != text:
            _write_atomically(model_file, text)
            _discard(object_file)  # compiled from another text
        if object_file.exists() and not _intact(object_file):
            logger.warning("compiled trees fail their checksum; rebuilding", extra={"entry": str(object_file)})
            _discard(object_file)
        files[name] = (model_file, object_file)
    missing = [pair for pair in files.values() if not pair[1].exists()]
    if missing:
        logger.info("compiling trees", extra={"models": len(missing), "cache_dir": str(cache_dir)})
        workers = min(len(missing), processes or os.cpu_count() or 1)
        if current_process().daemon:  # a daemon (a Dask worker, say) may not have children
            for model_file, object_file in missing:
                _compile(model_file, object_file)
        else:
            _compile_in_processes(missing, workers, cancel)
    forests = {}
    for name, (model_file, object_file) in files.items():
        if not _intact(object_file):  # checked again just before LLVM reads it: a torn file aborts the process
            _discard(object_file)
            raise CorruptCacheError(f"{object_file}: compiled trees fail their checksum after a rebuild")
        forest = lleaves.Model(model_file=str(model_file))
        forest.compile(cache=str(object_file))
        forests[name] = CompiledForest(forest)
    return forests


#: The compiled entry point of an lleaves 1.3 forest: (rows, predictions, first row, end row), both arrays
#: float64 and C-contiguous; ctypes releases the GIL for the call, as lleaves' own wrapper does
_ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int)


class CompiledForest:
    """A compiled forest (``lleaves.Model``, ``model``) whose one-thread predictions call its entry point
    directly. ``lleaves.Model.predict`` converts, checks and wraps its arrays in ctypes pointers through
    generic helpers on every call: about 12 us a call, of which the trees take 1 to 3 for a claim's rows,
    and scoring one claim calls five forests. Predictions on several threads go through lleaves."""

    def __init__(self, model: Any) -> None:
        if model._n_classes != 1 or not model.use_fp64:
            raise ValueError("a compiled forest must predict one float64 number per row")
        self.model = model
        self._features = model.num_feature()
        self._entry = _ENTRY(ctypes.cast(model._c_entry_func, ctypes.c_void_p).value)

    def predict(self, matrix: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
        """What ``lleaves.Model.predict`` returns for the float64 ``matrix`` (rows, features)."""
        if n_jobs != 1 or matrix.ndim != 2 or matrix.shape[1] != self._features:
            return self.model.predict(matrix, n_jobs=n_jobs)
        rows = np.ascontiguousarray(matrix, dtype="float64")
        predictions = np.zeros(len(rows))
        self._entry(rows.ctypes.data, predictions.ctypes.data, 0, len(rows))
        return predictions


def _compile_in_processes(missing: list[tuple[Path, Path]], workers: int, cancel: threading.Event | None) -> None:
    """``_compile`` each (model file, object file) pair in a child process of its own, ``workers`` at a
    time. A child that fails, or dies (killed for memory, say), raises ``CompileError`` naming the entry
    and its exit code: a process pool would replace a dead worker and wait for its task forever. On cancel
    or an error the children still running are terminated before this returns, so none outlives it."""
    context = get_context("spawn")  # a forked child would inherit the parent's OpenMP and LLVM state
    waiting, running = list(missing), {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                model_file, object_file = waiting.pop(0)
                child = context.Process(target=_compile, args=(model_file, object_file), daemon=True)
                child.start()
                running[child.sentinel] = (child, model_file)
            for sentinel in wait(list(running), timeout=0.1):
                child, model_file = running.pop(sentinel)
                child.join()
                if child.exitcode != 0:
                    raise CompileError(
                        f"compiling the trees of {model_file.name} failed: "
                        f"its process exited with code {child.exitcode}"
                    )
            if cancel is not None and cancel.is_set():
                raise CompileCancelled("compiling the trees was cancelled")
    finally:
        for child, _ in running.values():
            child.terminate()
        for child, _ in running.values():
            child.join()
