"""The tracking store fails under a running service: polling recovers without a restart, ``/readyz`` says
what happened in one line without SQL, and a missing SQLite store is never created."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time

import mlflow
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from models.served import TrackingStoreMissing, existing_tracking_uri
from service.app import create_app
from tests.service.conftest import API_KEY

POLL_SECONDS = 0.2
WAIT_SECONDS = 60.0
NAME, ALIAS = "recoup", "champion"


def _wait_for(predicate, timeout: float = WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _store_copy(model_store, path):
    """A copy of the session's store at ``path`` (the runs' artifacts stay where they are)."""
    shutil.copyfile(model_store.root / "mlflow.db", path)
    return f"sqlite:///{path}"


def _new_champion(uri: str, model_store, served_uri: str) -> str:
    """A new champion version in the store at ``uri`` (MLflow resolves the model's source through the
    global store, which the service under test set to ``served_uri``: set back afterwards)."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        source = client.get_model_version(NAME, model_store.version).source
        version = str(client.create_model_version(NAME, source, run_id=model_store.run_id).version)
        client.set_registered_model_alias(NAME, ALIAS, version)
    finally:
        mlflow.set_tracking_uri(served_uri)
        mlflow.set_registry_uri(served_uri)
    return version


def test_a_replaced_store_file_is_followed_without_a_restart(settings, model_store, tmp_path, claim):
    live = tmp_path / "live.db"
    uri = _store_copy(model_store, live)
    polling = settings.model_copy(update={"tracking_uri": uri, "reload_interval_seconds": POLL_SECONDS})
    with TestClient(create_app(polling), headers={"X-API-Key": API_KEY}) as client:

        def ready():
            return client.get("/readyz").json()

        assert ready()["model"]["version"] == model_store.version

        # 1. the file goes away: every poll fails, the model keeps serving, the file is not created again
        moved = tmp_path / "moved.db"
        os.replace(live, moved)
        error = _wait_for(lambda: ready()["last_reload_error"])
        assert "does not exist" in error and not live.exists()
        assert client.post("/v1/score", json=claim).status_code == 200

        # 2. a file without MLflow's tables takes its place: a SQL error, reported without SQL text
        sqlite3.connect(live).close()
        error = _wait_for(lambda: (e := ready()["last_reload_error"]) and "does not exist" not in e and e)
        assert "SELECT" not in error and "[SQL" not in error and "\n" not in error

        # 3. a good store with a new champion replaces it: followed at the next polls, no restart
        replacement = tmp_path / "replacement.db"
        _store_copy(model_store, replacement)
        second = _new_champion(f"sqlite:///{replacement}", model_store, uri)
        os.replace(replacement, live)
        _wait_for(lambda: ready()["model"]["version"] == second)
        _wait_for(lambda: ready()["last_reload_error"] is None)

        # 4. replaced again in one step (no missing moment, no error): still followed
        replacement = tmp_path / "again.db"
        shutil.copyfile(live, replacement)
        third = _new_champion(f"sqlite:///{replacement}", model_store, uri)
        os.replace(replacement, live)
        _wait_for(lambda: ready()["model"]["version"] == third)


def test_a_service_on_a_missing_store_is_not_ready_and_creates_nothing(settings, tmp_path):
    missing = tmp_path / "nowhere.db"
    with TestClient(create_app(settings.model_copy(update={"tracking_uri": f"sqlite:///{missing}"}))) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "does not exist" in response.json()["last_reload_error"]
    assert not missing.exists()


def test_commands_that_read_a_model_need_an_existing_sqlite_store(tmp_path):
    with pytest.raises(TrackingStoreMissing, match=r"nowhere\.db does not exist"):
        existing_tracking_uri(f"sqlite:///{tmp_path / 'nowhere.db'}")
    assert not (tmp_path / "nowhere.db").exists()
    assert existing_tracking_uri("postgresql://host/db") == "postgresql://host/db"
