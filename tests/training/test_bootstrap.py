"""``recoup bootstrap`` (``make run``): a champion on a first start, and the user's own history when given."""

from __future__ import annotations

import mlflow
import pytest
from typer.testing import CliRunner

from service.cli import app
from training import tracking
from training.data import history_digest
from training.simulator import simulate_history

CLAIMS = "2000"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("RECOUP_DEMO_CLAIMS", CLAIMS)
    yield tmp_path
    mlflow.set_tracking_uri("sqlite:///:memory:")


def _bootstrap(*args: str) -> str:
    result = CliRunner().invoke(app, ["bootstrap", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_given_history_is_trained_on_and_gated_once_a_champion_exists(store):
    first = _bootstrap()  # a first start: the demo history, in the default store it creates
    assert f"simulating {int(CLAIMS):,} claims" in first and (store / "mlflow.db").exists()
    assert tracking.champion_version() == "1"
    assert "champion model exists (version 1)" in _bootstrap()

    mine = store / "my.parquet"
    simulate_history(int(CLAIMS), seed=5).to_parquet(mine)
    digest = history_digest(mine)
    trained = _bootstrap("--history", str(mine))
    assert f"training on {mine} (dataset digest {digest}); the champion is version 1" in trained
    assert tracking.versions_trained_on(digest) == ["2"]
    assert "challenger v2 vs champion v1" in trained and "success log loss" in trained
    if tracking.champion_version() == "2":
        assert "version 2 is the champion" in trained
        assert f"the champion (version 2) was trained on {mine} (dataset digest {digest})" in _bootstrap(
            "--history", str(mine)
        )
    else:  # the gate kept the demo model: said so, with the way to serve the new one, and not retrained
        assert "refused: version 1 stays champion" in trained
        again = _bootstrap("--history", str(mine))
        assert "version 2 was trained on" in again and "--version 2 --force" in again
    assert tracking.versions_trained_on(digest) == ["2"]  # never trained twice on the same history
