"""Model updates without downtime: poll the alias, load beside the old model, swap, keep it on failure."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from models.served import load_bundle
from service.app import create_app
from service.model_holder import ModelHolder
from tests.service.conftest import API_KEY, register_copy

POLL_SECONDS = 0.2
WAIT_SECONDS = 30.0


def _wait_for(predicate, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _served_version(client: TestClient) -> str | None:
    body = client.get("/readyz").json()
    return body["model"]["version"] if body["model"] else None


def test_alias_changes_are_followed_without_downtime(settings, model_store, claim):
    name = "recoup-swap"
    first = register_copy(model_store, name, alias="live")
    live = settings.model_copy(update={"model_uri": f"models:/{name}@live", "reload_interval_seconds": POLL_SECONDS})
    registry = MlflowClient(tracking_uri=model_store.tracking_uri, registry_uri=model_store.tracking_uri)
    with TestClient(create_app(live), headers={"X-API-Key": API_KEY}) as client:
        assert _served_version(client) == first
        stop = threading.Event()
        statuses: list[int] = []
        versions: set[str] = set()

        def keep_scoring() -> None:
            while not stop.is_set():
                response = client.post("/v1/score", json=claim)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    versions.add(response.json()["model"]["version"])

        with ThreadPoolExecutor(2) as pool:
            workers = [pool.submit(keep_scoring) for _ in range(2)]
            second = register_copy(model_store, name, alias="live")
            _wait_for(lambda: _served_version(client) == second)
            time.sleep(0.5)  # a few more requests on the new version
            stop.set()
            for worker in workers:
                worker.result()
        assert statuses and set(statuses) == {200}, "every request during the swap was answered"
        assert versions <= {first, second} and second in versions

        # a version that cannot be loaded: the old model keeps serving, /readyz and the logs say why
        broken = registry.create_model_version(
            name, source=str(model_store.root / "no-such-model"), run_id=model_store.run_id
        ).version
        registry.set_registered_model_alias(name, "live", broken)
        _wait_for(lambda: client.get("/readyz").json()["last_reload_error"] is not None)
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["model"]["version"] == second
        assert client.post("/v1/score", json=claim).json()["model"]["version"] == second
        assert 'recoup_model_reloads_total{result="failed"}' in client.get("/metrics").text

        # pointing the alias back clears the error
        registry.set_registered_model_alias(name, "live", second)
        _wait_for(lambda: client.get("/readyz").json()["last_reload_error"] is None)


@pytest.mark.anyio
async def test_a_new_version_is_loaded_beside_the_old_one(settings, model_store):
    """While the new version loads (slowly), the old one is served; the swap is one assignment."""
    name = "recoup-beside"
    first = register_copy(model_store, name, alias="live")
    holder = ModelHolder(
        settings.model_copy(update={"model_uri": f"models:/{name}@live", "reload_interval_seconds": 0})
    )
    await holder.start()
    assert holder.current.version == first
    old = holder.current
    loading = threading.Event()

    def slow_loader(uri: str):
        loading.set()
        time.sleep(0.5)
        return load_bundle(uri)

    holder.loader = slow_loader
    second = register_copy(model_store, name, alias="live")
    refresh = asyncio.create_task(holder.refresh())
    while not loading.is_set():
        await asyncio.sleep(0.01)
    assert holder.current is old  # still serving the old version while the new one loads
    assert await refresh is True
    assert holder.current.version == second and holder.current is not old
    assert await holder.refresh() is False  # nothing new
    await holder.stop()


@pytest.mark.anyio
async def test_a_model_that_loads_but_cannot_score_is_never_served(settings, model_store, caplog):
    name = "recoup-unscorable"
    first = register_copy(model_store, name, alias="live")
    holder = ModelHolder(
        settings.model_copy(update={"model_uri": f"models:/{name}@live", "reload_interval_seconds": 0})
    )
    await holder.start()

    def unscorable(uri: str):
        bundle = load_bundle(uri)
        bundle.models = None  # loads fine, fails on the first claim
        return bundle

    holder.loader = unscorable
    register_copy(model_store, name, alias="live")
    assert await holder.refresh() is False
    assert holder.current.version == first
    assert holder.last_error and holder.last_error.startswith("AttributeError")
    assert any("model load failed" in record.getMessage() for record in caplog.records)
    await holder.stop()


def test_a_fixed_version_uri_is_loaded_once(settings, model_store):
    fixed = settings.model_copy(
        update={"model_uri": f"models:/recoup/{model_store.version}", "reload_interval_seconds": POLL_SECONDS}
    )
    app = create_app(fixed)
    with TestClient(app) as client:
        assert _served_version(client) == model_store.version
        assert app.state.holder.follows_alias is False
        assert app.state.holder._task is None


@pytest.mark.parametrize("interval", [0.0])
def test_polling_can_be_turned_off(settings, interval):
    app = create_app(settings.model_copy(update={"reload_interval_seconds": interval}))
    with TestClient(app):
        assert app.state.holder._task is None
