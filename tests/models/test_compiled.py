"""Compiled forests predict what LightGBM predicts, are cached on disk, and never travel in a pickle."""

from __future__ import annotations

import multiprocessing
import pickle
import subprocess
import sys

import numpy as np
import pytest

from models.compiled import compile_forests


@pytest.fixture(scope="module")
def compiled(models_and_data, tmp_path_factory):
    models = models_and_data[0]
    copy = pickle.loads(pickle.dumps(models))
    cache = tmp_path_factory.mktemp("trees")
    copy.compile(cache)
    return copy, cache


def test_every_model_predicts_what_lightgbm_predicts(models_and_data, compiled):
    models, x, *_ = models_and_data
    copy, _ = compiled
    x = np.vstack([x, np.full((1, x.shape[1]), np.nan)])  # every feature missing at once
    for name, model in models.named().items():
        np.testing.assert_allclose(
            copy._predict(name, x), model.booster_.predict(x), rtol=1e-12, atol=1e-12, err_msg=name
        )


def test_scoring_outputs_agree(models_and_data, compiled):
    models, x, billed, allowed = models_and_data
    copy, _ = compiled
    expected = models.predict(x, billed, allowed)
    got = copy.predict(x, billed, allowed)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_a_second_compile_loads_the_cache(models_and_data, compiled):
    models, *_ = models_and_data
    _, cache = compiled
    before = {path: path.stat().st_mtime_ns for path in cache.iterdir()}
    assert len([path for path in before if path.suffix == ".o"]) == len(models.named())
    again = compile_forests({name: model.booster_ for name, model in models.named().items()}, cache)
    assert set(again) == set(models.named())
    assert {path: path.stat().st_mtime_ns for path in cache.iterdir()} == before


def test_compiled_forests_are_not_pickled(compiled):
    copy, cache = compiled
    assert copy.compiled_dir == cache
    restored = pickle.loads(pickle.dumps(copy))
    assert restored.compiled_dir is None and "_forests" not in restored.__dict__


def test_a_daemon_process_compiles_in_process(models_and_data, tmp_path):
    """Dask workers are daemons, which may not start the compiling processes."""
    models = models_and_data[0]
    boosters = {name: model.booster_ for name, model in models.named().items()}
    context = multiprocessing.get_context("spawn")
    worker = context.Process(target=compile_forests, args=(boosters, tmp_path), daemon=True)
    worker.start()
    worker.join(timeout=300)
    assert worker.exitcode == 0
    assert len(list(tmp_path.glob("*.o"))) == len(boosters) and not list(tmp_path.glob(".*.tmp"))


# --- a torn cache entry: checked before LLVM reads it ------------------------------------------------------

_SCORE_FROM_CACHE = """
import sys
from pathlib import Path
import lightgbm as lgb
import numpy as np
from models.compiled import compile_forests

folder, cache = Path(sys.argv[1]), Path(sys.argv[2])
boosters = {path.stem: lgb.Booster(model_file=str(path)) for path in sorted(folder.glob("*.txt"))}
forests = compile_forests(boosters, cache, processes=1)
x = np.load(folder / "x.npy")
np.save(folder / "predicted.npy", np.stack([forests[name].predict(x, n_jobs=1) for name in sorted(forests)]))
"""

_LOAD_UNCHECKED = """
import sys
import lleaves
model = lleaves.Model(model_file=sys.argv[1])
model.compile(cache=sys.argv[2])
"""


def _run(script: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_a_truncated_cache_entry_is_rebuilt_not_loaded(models_and_data, tmp_path):
    """The failure this guards against killed ``recoup score`` (exit 134, an LLVM abort): so in a process of
    its own, on a really truncated object file."""
    models, x, *_ = models_and_data
    folder, cache = tmp_path / "models", tmp_path / "cache"
    folder.mkdir()
    for name, model in models.named().items():
        model.booster_.save_model(str(folder / f"{name}.txt"))
    np.save(folder / "x.npy", x[:50])
    built = _run(_SCORE_FROM_CACHE, folder, cache)
    assert built.returncode == 0, built.stderr
    expected = np.load(folder / "predicted.npy")
    objects = sorted(cache.glob("*.o"))
    assert objects and all((cache / f"{path.name}.sha256").exists() for path in objects)

    victim = objects[0]
    original = victim.read_bytes()
    victim.write_bytes(original[: len(original) // 2])
    # the control: LLVM handed the torn file aborts the process
    unchecked = _run(_LOAD_UNCHECKED, victim.with_suffix(".txt"), victim)
    assert unchecked.returncode != 0
    victim.write_bytes(original[: len(original) // 2])

    rebuilt = _run(_SCORE_FROM_CACHE, folder, cache)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "fail their checksum; rebuilding" in rebuilt.stderr
    np.testing.assert_allclose(np.load(folder / "predicted.npy"), expected, rtol=1e-12)
    assert victim.read_bytes() == original  # the same object code, compiled again


def test_an_entry_without_its_checksum_is_rebuilt(models_and_data, tmp_path):
    models, *_ = models_and_data
    boosters = {name: model.booster_ for name, model in models.named().items()}
    compile_forests(boosters, tmp_path, processes=1)
    sidecar = next(tmp_path.glob("*.o.sha256"))
    sidecar.unlink()
    compile_forests(boosters, tmp_path, processes=1)
    assert sidecar.exists()


def test_an_entry_failing_its_checksum_at_load_is_an_error_the_caller_falls_back_on(
    models_and_data, tmp_path, monkeypatch
):
    import models.compiled as compiled_module

    models, *_ = models_and_data
    boosters = {name: model.booster_ for name, model in models.named().items()}
    compile_forests(boosters, tmp_path, processes=1)
    checks = iter([True] * len(boosters) + [False])  # the rebuild check passes, the load-time check fails
    monkeypatch.setattr(compiled_module, "_intact", lambda path: next(checks, False))
    with pytest.raises(compiled_module.CorruptCacheError):
        compile_forests(boosters, tmp_path, processes=1)


def test_a_compiling_process_that_dies_is_an_error_not_a_wait_forever(models_and_data, tmp_path):
    """A child killed while it compiles (by the kernel for memory, say) fails the compile with its exit
    code; the caller (the service) then keeps LightGBM. The other child is terminated, and nothing is
    cached for the killed entry."""
    import threading

    import psutil

    from models.compiled import CompileError

    models = models_and_data[0]
    boosters = {name: model.booster_ for name, model in models.named().items()}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            compile_forests(boosters, tmp_path, processes=2)
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    me = psutil.Process()
    while not (children := [child for child in me.children() if "spawn_main" in " ".join(child.cmdline())]):
        assert thread.is_alive(), failure
    children[0].kill()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the compile waited for a dead child"
    assert len(failure) == 1 and isinstance(failure[0], CompileError), failure
    assert "exited with code -9" in str(failure[0])
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive


def test_a_few_rows_on_one_thread_predict_what_lightgbm_predicts(models_and_data, compiled):
    """Fewer rows than ``SINGLE_THREAD_ROWS`` go to a forest's compiled entry point directly
    (``CompiledForest``), not through lleaves' ``predict``."""
    models, x, *_ = models_and_data
    copy, _ = compiled
    few = np.vstack([x[:6], np.full((1, x.shape[1]), np.nan)])
    for name, model in models.named().items():
        for rows in (few[:1], few, few[::2], few[:0]):  # one row, several, a strided view, none
            np.testing.assert_allclose(
                copy._predict(name, rows), model.booster_.predict(rows) if len(rows) else [], rtol=1e-12, atol=1e-12
            )
