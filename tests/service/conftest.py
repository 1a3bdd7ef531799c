"""Service fixtures: one small model trained once per session into a temporary MLflow store.

The service itself never imports ``training``; only these fixtures do, to make a model to serve.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from features.requests import EXAMPLE_CLAIM
from features.schema import TRUTH_PREFIX
from models.served import load_bundle
from service.app import create_app
from service.settings import Settings

API_KEY = "test-key-0123456789"
OTHER_KEY = "second-key"
HISTORY_CLAIMS = 3000
REGISTERED_MODEL = "recoup"
CHAMPION = "champion"


@dataclass(frozen=True)
class ModelStore:
    """A temporary MLflow store holding one registered, champion-aliased ``recoup`` version."""

    tracking_uri: str
    root: Path
    version: str
    run_id: str
    payer_ids: tuple[str, ...]


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    from training.pipeline import train
    from training.simulator import simulate_history

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("recoup", artifact_location=(root / "artifacts").as_uri())
    history = simulate_history(HISTORY_CLAIMS, seed=7)
    # the service only needs a model: without the simulator's truth columns training skips the slow
    # distance-to-truth and policy-regret evaluation
    history = history.drop(columns=[c for c in history.columns if c.startswith(TRUTH_PREFIX)])
    result = train(history, seed=0, tracking_uri=uri, register=True)
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION, result.model_version)
    # compiled once here, so every app the tests start finds its trees cached and serves them from the
    # first request (with an empty cache a first start serves LightGBM while it compiles: test_server.py)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    load_bundle(f"models:/{REGISTERED_MODEL}/{result.model_version}").models.compile(root / "trees")
    payers = tuple(sorted(history["payer_id"].astype(str).str.strip().str.upper().unique()))
    return ModelStore(uri, root, str(result.model_version), result.run_id, payers)


@pytest.fixture(scope="session")
def settings(model_store: ModelStore) -> Settings:
    return Settings(
        tracking_uri=model_store.tracking_uri,
        api_keys=f"{API_KEY},{OTHER_KEY}",
        reload_interval_seconds=0,
        compiled_trees_dir=model_store.root / "trees",
    )


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of one app serving the champion, shared by the tests that do not change the store."""
    with TestClient(create_app(settings), headers={"X-API-Key": API_KEY}) as test_client:
        yield test_client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def claim() -> dict:
    """A valid claim (the contract's example)."""
    return dict(EXAMPLE_CLAIM)


def register_copy(store: ModelStore, name: str, alias: str | None = None) -> str:
    """Register the session's trained model again under ``name`` (a new version, no retraining)."""
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    client = MlflowClient(tracking_uri=store.tracking_uri, registry_uri=store.tracking_uri)
    source = client.get_model_version(REGISTERED_MODEL, store.version).source
    with contextlib.suppress(mlflow.exceptions.MlflowException):  # already registered
        client.create_registered_model(name)
    version = client.create_model_version(name, source, run_id=store.run_id).version
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return str(version)
