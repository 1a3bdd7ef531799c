"""The served model, and how it is replaced without downtime.

``ModelHolder`` resolves the configured URI (an alias such as ``models:/recoup@champion`` is resolved to
its version), loads that version beside the one being served, checks it by scoring an example claim, and
only then swaps the reference in one assignment. Each request takes the reference once, so it is scored
by one model from start to end. A failed load keeps the old model, is logged and is reported on
``/readyz`` in one line without SQL text. With an alias URI, a background task polls the alias and
follows it.

The tracking store can fail under a running service (a database restarted, a SQLite file replaced): after
any failed poll, and whenever the SQLite file is no longer the one last read, the pooled connections are
closed, so the next poll opens the store afresh and the service recovers without a restart. A SQLite file
that is missing is a failure of its own; it is never created (that would be an empty store).

Compiled trees (``models.compiled``) score several times faster but take minutes to compile on a busy
machine. When the cache already holds a version's object code, it is loaded before the version is served.
When it does not and nothing is served yet (a first start), the version is served at once with LightGBM
(the same numbers to about 1e-15) while a background task compiles a copy of it, smoke-tests the copy and
swaps it in under the same lock as a reload. A new version replacing a served one is compiled before the
swap, since the old one keeps serving meanwhile. ``stop`` cancels a compile and terminates its processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import gc
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from features.columns import ClaimColumns
from features.store import describe_store_error
from models.bundle import PayerProfiles, RecoupBundle
from models.compiled import CompileCancelled
from models.ladder import LadderPolicy
from models.result import ScoreResult
from models.served import (
    existing_tracking_uri,
    load_bundle,
    make_served,
    smoke_test,
    sqlite_store_path,
)
from service.observability import Metrics
from service.settings import Settings

logger = logging.getLogger(__name__)

_ALIAS_URI = re.compile(r"models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)")
_VERSION_URI = re.compile(r"models:/(?P<name>[^/@]+)/(?P<version>\d+)")
MAX_ERROR_CHARS = 300


def close_store_connections() -> None:
    """Close every pooled connection MLflow's SQL stores hold (tracking and registry), so that the next
    call connects again. The engines stay usable; only their pools are replaced."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    for store in (TrackingStore, RegistryStore):
        for engine in list(getattr(store, "_engine_map", {}).values()):
            engine.dispose()


def settle_heap() -> None:
    """After a model is loaded or swapped: collect once, then freeze every surviving object (the served
    model, the app) out of the collector's reach. A full collection otherwise walks the model's objects
    again and again under load (measured at about 115 ms over 234k objects, the p99 of a busy server).
    Unfrozen first, so that the previous model's objects can be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class Target:
    """A concrete model to load: the URI, and the registered name and version when known."""

    uri: str
    name: str
    version: str | None
    run_id: str | None = None


def resolve_target(uri: str, registry: MlflowClient) -> Target:
    """The concrete version behind ``uri``: an alias is resolved to its version; other URIs stay as given."""
    if match := _ALIAS_URI.fullmatch(uri):
        found = registry.get_model_version_by_alias(match["name"], match["alias"])
        return Target(f"models:/{match['name']}/{found.version}", match["name"], str(found.version), found.run_id)
    if match := _VERSION_URI.fullmatch(uri):
        found = registry.get_model_version(match["name"], match["version"])
        return Target(uri, match["name"], match["version"], found.run_id)
    return Target(uri, uri.rstrip("/").rsplit("/", 1)[-1] or uri, None)


@dataclass
class PayerIndex:
    """Payer profiles as plain records, ready to serve (built once per model load)."""

    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    levels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (payer_id, code family) -> what the payer initially allowed for that kind of service
    families: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, profiles: PayerProfiles | None) -> PayerIndex:
        if profiles is None:
            return cls()
        summaries = {str(row["payer_id"]): row for row in _records(profiles.summary)}
        levels: dict[str, list[dict[str, Any]]] = {}
        for row in _records(profiles.by_level):
            levels.setdefault(str(row["payer_id"]), []).append(row)
        by_family = getattr(profiles, "by_family", None)  # older bundles have none
        families = {
            (str(row["payer_id"]), str(row["code_family"])): row
            for row in (_records(by_family) if by_family is not None else [])
        }
        return cls(summaries, levels, families)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: NaN -> None, numpy scalars -> Python, dates -> ISO strings."""
    records = []
    for row in frame.to_dict("records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, (pd.Timestamp, datetime)):
                value = value.date().isoformat() if not pd.isna(value) else None
            elif isinstance(value, np.generic):
                value = value.item()
            if value is pd.NaT or value is pd.NA or (isinstance(value, float) and not np.isfinite(value)):
                value = None
            clean[str(key)] = value
        records.append(clean)
    return records


@dataclass(frozen=True)
class LoadedModel:
    """One loaded model version with the policy it scores under; never mutated once served."""

    target: Target
    bundle: RecoupBundle
    policy: LadderPolicy
    loaded_at: datetime
    payers: PayerIndex

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def version(self) -> str | None:
        return self.target.version

    @property
    def compiled(self) -> bool:
        """Whether this version scores with compiled trees (else with LightGBM)."""
        return self.bundle.models.compiled_dir is not None

    def score(self, claims: pd.DataFrame) -> pd.DataFrame:
        """The bundle's flat scoring output for validated claims, under the service's policy."""
        return self.bundle.score(claims, policy=self.policy)

    def score_columns(self, claims: ClaimColumns) -> ScoreResult:
        """The bundle's structured result for validated claims as typed columns, under the service's policy."""
        return self.bundle.score_columns(claims, policy=self.policy)

    def score_claims(self, claims: list[dict[str, Any]]) -> ScoreResult:
        """The bundle's structured result for typed claims (``features.requests.typed_claim``)."""
        return self.bundle.score_claims(claims, policy=self.policy)


class ModelHolder:
    """Holds the served model; loads, checks and swaps in new versions."""

    def __init__(
        self, settings: Settings, metrics: Metrics | None = None, loader: Callable[[str], RecoupBundle] = load_bundle
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.loader = loader
        self._current: LoadedModel | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._client: MlflowClient | None = None
        self._store_file: tuple[int, int] | None = None  # (device, inode) of a SQLite store last read
        self._compiling: asyncio.Task | None = None
        self._cancel_compile = threading.Event()

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    @property
    def trees(self) -> str | None:
        """How the served version scores: "compiled", "compiling" (LightGBM until the compiled copy is
        swapped in) or "lightgbm"; None when nothing is served."""
        if self._current is None:
            return None
        if self._current.compiled:
            return "compiled"
        return "compiling" if self._compiling is not None else "lightgbm"

    @property
    def follows_alias(self) -> bool:
        return _ALIAS_URI.fullmatch(self.settings.model_uri) is not None

    async def start(self) -> None:
        """Load the model (a failure leaves the service running, not ready) and start polling."""
        mlflow.set_tracking_uri(self.settings.tracking_uri)
        mlflow.set_registry_uri(self.settings.tracking_uri)
        await self.refresh()
        if self.follows_alias and self.settings.reload_interval_seconds > 0:
            self._task = asyncio.create_task(self._poll(), name="model-alias-poll")

    async def stop(self) -> None:
        # a compile runs in a worker thread that cancelling a task cannot interrupt: the event makes it
        # terminate its processes and return, and waiting for it leaves no process behind
        self._cancel_compile.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._compiling is not None:
            await asyncio.gather(self._compiling, return_exceptions=True)

    async def refresh(self) -> bool:
        """Load and swap in the model the URI points at now, if it is not the one served; True on a swap."""
        async with self._lock:
            try:
                target = await anyio.to_thread.run_sync(self._resolve)
                current = self._current
                if current is not None and current.target == target:
                    self.last_error = self.last_error_at = None  # the store and the model agree again
                    return False
                loaded = await anyio.to_thread.run_sync(self._load, target, current is not None)
            except Exception as error:
                self._record_failure(error)
                await anyio.to_thread.run_sync(self._reconnect)
                return False
            previous, self._current = self._current, loaded  # the swap: one reference assignment
            first_start = previous is None
            previous_version = previous.version if previous else None
            del previous
            self.last_error = self.last_error_at = None
            self.metrics.model_swapped(loaded.name, loaded.version, loaded.loaded_at.timestamp())
            settle_heap()
            logger.info(
                "model loaded",
                extra={
                    "model_name": loaded.name,
                    "model_version": loaded.version,
                    "previous_version": previous_version,
                    "trees": "compiled" if loaded.compiled else "lightgbm",
                },
            )
            if self.settings.compile_trees and not loaded.compiled and first_start:
                self._compiling = asyncio.create_task(self._compile_in_background(loaded), name="compile-trees")
            return True

    async def _compile_in_background(self, served: LoadedModel) -> None:
        """Compile a copy of ``served``, check it, and swap it in if ``served`` is still the one served."""
        try:
            compiled = await anyio.to_thread.run_sync(self._compiled_copy, served)
            async with self._lock:
                if self._current is not served:  # replaced meanwhile by a version compiled before its swap
                    return
                self._current = compiled
                del served
                settle_heap()
            logger.info("compiled trees now serving", extra={"model_version": compiled.version})
        except CompileCancelled:
            logger.info("compiling the trees was cancelled")
        except Exception as error:  # no compiler, an unwritable cache: LightGBM keeps serving
            # the type only: a failed check's message may quote what it scored
            logger.warning("compiled trees unavailable; scoring with LightGBM", extra={"error": type(error).__name__})
        finally:
            self._compiling = None

    def _compiled_copy(self, served: LoadedModel) -> LoadedModel:
        """``served`` with compiled trees, smoke-tested: a copy, so the served object is never mutated."""
        started = time.perf_counter()
        models = copy.copy(served.bundle.models)  # shares the fitted boosters; rebuilds derived state
        models.compile(self.settings.compiled_trees_dir, cancel=self._cancel_compile)
        bundle = dataclasses.replace(served.bundle, models=models)
        smoke_test(bundle, served.policy)
        logger.info("trees compiled", extra={"compile_seconds": round(time.perf_counter() - started, 3)})
        return dataclasses.replace(served, bundle=bundle)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_interval_seconds)
            await self.refresh()

    def _resolve(self) -> Target:
        self._check_store()
        return resolve_target(self.settings.model_uri, self._registry())

    def _check_store(self) -> None:
        """A SQLite store must exist (``existing_tracking_uri``); when its file was replaced since the last
        poll, the connections to the old file are closed first."""
        existing_tracking_uri(self.settings.tracking_uri)
        path = sqlite_store_path(self.settings.tracking_uri)
        if path is None:
            return
        status = path.stat()
        identity = (status.st_dev, status.st_ino)
        if self._store_file is not None and identity != self._store_file:
            logger.warning("the tracking store file was replaced; reconnecting")
            self._reconnect()
        self._store_file = identity

    def _reconnect(self) -> None:
        self._client = None
        close_store_connections()

    def _registry(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(
                tracking_uri=self.settings.tracking_uri, registry_uri=self.settings.tracking_uri
            )
        return self._client

    def _load(self, target: Target, replacing: bool) -> LoadedModel:
        """Load and check ``target``. Its trees are compiled first when it replaces a served version (which
        serves meanwhile) or when they are cached (a second or so); on a first start with a cold cache it
        is served with LightGBM and compiled in the background (``_compile_in_background``)."""
        started = time.perf_counter()
        bundle = self.loader(target.uri)
        if not isinstance(bundle, RecoupBundle):
            raise TypeError(f"{target.uri} does not hold a RecoupBundle")
        policy = self.settings.apply_policy(bundle.policy)
        cache = self.settings.compiled_trees_dir
        make_served(
            bundle,
            compile_trees=self.settings.compile_trees and (replacing or bundle.models.is_cached(cache)),
            compiled_dir=cache,
            policy=policy,
            cancel=self._cancel_compile,
        )
        loaded = LoadedModel(target, bundle, policy, datetime.now(UTC), PayerIndex.build(bundle.profiles))
        logger.info(
            "model checked",
            extra={"model_version": target.version, "load_seconds": round(time.perf_counter() - started, 3)},
        )
        return loaded

    def _record_failure(self, error: Exception) -> None:
        self.last_error = describe_store_error(error, MAX_ERROR_CHARS)
        self.last_error_at = datetime.now(UTC)
        self.metrics.reloads.labels(result="failed").inc()
        logger.error(
            "model load failed; the previous model keeps serving" if self._current else "model load failed; not ready",
            extra={"model_uri": self.settings.model_uri, "error": self.last_error},
        )
