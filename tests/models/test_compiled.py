"""Compiled forests predict what LightGBM predicts, are cached on disk, and never travel in a pickle."""

from __future__ import annotations

import multiprocessing
import pickle

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
