"""A bundle made ready to serve, in one place: loaded, compiled (falling back to LightGBM), smoke-tested.

``load_served_bundle`` is what the service (``service.model_holder``), ``recoup score``, the worklist's
worker processes and the Dask workers run, so every way of scoring starts from the same checked bundle.
``tracking_uri`` is the one resolver of the MLflow store for every command.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import mlflow
import numpy as np

from models.bundle import RecoupBundle
from models.compiled import CompileCancelled
from models.ladder import LadderPolicy

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri(explicit: str | None = None) -> str:
    """The tracking store: the argument, else ``MLFLOW_TRACKING_URI``, else sqlite in the working dir."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


class TrackingStoreMissing(LookupError):
    """The tracking URI names a SQLite file that does not exist (MLflow would create an empty store)."""


def sqlite_store_path(uri: str) -> Path | None:
    """The file a ``sqlite:`` tracking URI names; None for other stores and in-memory SQLite."""
    if not uri.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    return Path(database) if database and database != ":memory:" else None


def existing_tracking_uri(explicit: str | None = None) -> str:
    """``tracking_uri(explicit)``, for a command that reads a model: a SQLite store must already exist.
    Opening a missing one would silently create an empty store and then fail to find the model in it."""
    uri = tracking_uri(explicit)
    path = sqlite_store_path(uri)
    if path is not None and not path.is_file():
        raise TrackingStoreMissing(
            f"tracking store {uri}: {path} does not exist (train a model first, or give the tracking URI of "
            "the store that holds it)"
        )
    return uri


def load_bundle(uri: str) -> RecoupBundle:
    """The ``RecoupBundle`` inside the pyfunc model at ``uri`` (a run, a version or an alias URI)."""
    bundle = mlflow.pyfunc.load_model(uri).unwrap_python_model().bundle
    if not isinstance(bundle, RecoupBundle):
        raise TypeError(f"{uri} does not hold a RecoupBundle")
    return bundle


def load_served_bundle(
    uri: str, *, compile_trees: bool = True, compiled_dir: Path | None = None, policy: LadderPolicy | None = None
) -> RecoupBundle:
    """``load_bundle``, then ``make_served``."""
    return make_served(load_bundle(uri), compile_trees=compile_trees, compiled_dir=compiled_dir, policy=policy)


def make_served(
    bundle: RecoupBundle,
    *,
    compile_trees: bool = True,
    compiled_dir: Path | None = None,
    policy: LadderPolicy | None = None,
    cancel: threading.Event | None = None,
) -> RecoupBundle:
    """Compile ``bundle``'s trees (without a compiler it scores with LightGBM: the same numbers to about
    1e-15) and smoke-test it under ``policy``: a bundle that loads but cannot score is never served.
    Setting ``cancel`` stops a compile (``CompileCancelled``)."""
    if compile_trees:
        started = time.perf_counter()
        try:
            bundle.models.compile(compiled_dir, cancel=cancel)
        except CompileCancelled:
            raise
        except Exception as error:  # no compiler, an unwritable cache
            logger.warning(
                "compiled trees unavailable; scoring with LightGBM", extra={"error": f"{type(error).__name__}: {error}"}
            )
        else:
            logger.info("trees compiled", extra={"compile_seconds": round(time.perf_counter() - started, 3)})
    smoke_test(bundle, policy)
    return bundle


def smoke_test(bundle: RecoupBundle, policy: LadderPolicy | None = None) -> None:
    """Score the contract's example claim through the frame adapter and the single-claim adapter; both
    must answer, and answer alike."""
    from features.requests import EXAMPLE_CLAIM, ClaimRequest, typed_claim, validate_requests

    claim = ClaimRequest.model_validate(EXAMPLE_CLAIM)
    validated, typed = validate_requests([claim]), typed_claim(claim)
    if len(validated.valid) != 1 or typed is None:
        raise ValueError("the contract's example claim does not validate")
    frame = bundle.score(validated.valid, policy=policy)
    single = bundle.score_claims([typed], policy=policy)
    if len(frame) != 1 or len(single) != 1:
        raise ValueError("the model did not score the example claim")
    same = frame["recommended_action"].iloc[0] == single.claim["recommended_action"][0] and np.isclose(
        frame["expected_net_recovery"].iloc[0], single.claim["expected_net_recovery"][0], rtol=1e-9, atol=0
    )
    if not same:
        raise ValueError("the single-claim path disagrees with the frame path on the example claim")
