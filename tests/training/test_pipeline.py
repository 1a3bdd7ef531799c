"""End to end: simulate -> train -> register -> promote, in throwaway MLflow stores."""

from __future__ import annotations

import json
import uuid

import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.isotonic import IsotonicRegression

from models.bundle import output_columns
from models.served import load_bundle
from training import tracking
from training.pipeline import train
from training.promote import promote
from training.simulator import simulate_history, simulate_worklist


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return simulate_history(4000, seed=11)


@pytest.fixture(scope="module")
def trained(history, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # artifacts land beside the store, not in the repo
        result = train(history, seed=0, tracking_uri=uri, min_category_count=10)
        yield uri, result, folder


def test_run_logs_metrics_plots_tables_and_registers_the_bundle(trained):
    uri, result, _ = trained
    client = MlflowClient(uri)
    run = client.get_run(result.run_id)
    for name in (
        "test_log_loss",
        "test_roc_auc",
        "test_ece",
        "test_brier",
        "baseline_payer_level_rates_log_loss",
        "baseline_logistic_regression_log_loss",
        "settlement_p10_p90_coverage",
        "days_mae",
        "truth_log_loss",
        "model_to_truth_log_loss_ratio",
        "policy_regret_pct",
        "uplift_over_best_fixed_rule_pct",
        "test_log_loss_reconsideration",
    ):
        assert name in run.data.metrics, name
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"plots", "tables", "holdout", "data_profile.json"} <= artifacts
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert {
        "plots/calibration_by_level.png",
        "plots/feature_importance.png",
        "plots/settlement_interval_coverage.png",
    } <= plots
    assert result.model_version == "1"
    registered = client.get_model_version(tracking.REGISTERED_MODEL, result.model_version)
    assert registered.run_id == result.run_id
    assert run.data.tags["dataset_digest"]


def test_model_beats_both_baselines_on_the_newest_slice(trained):
    _, result, _ = trained
    losses = result.comparison["log_loss"]
    assert losses["model"] < losses["payer_level_rates"]
    assert losses["model"] < losses["logistic_regression"]


def test_registered_pyfunc_scores_raw_claims_with_the_full_output(trained):
    uri, result, _ = trained
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{tracking.REGISTERED_MODEL}/{result.model_version}")
    assert model.metadata.get_input_schema() is not None
    worklist = simulate_worklist(50, seed=3)
    worklist.loc[worklist.index[0], "billed_amount"] = -1.0
    raw = worklist.astype(
        {c: str for c in ("service_date", "initial_payment_date", "current_level_date", "as_of_date")}
    )
    output = model.predict(raw)
    assert list(output.columns) == [*output_columns(), "errors"]
    assert len(output) == 50
    assert "billed_amount" in output.loc[0, "errors"] and pd.isna(output.loc[0, "recommended_action"])
    scored = output.iloc[1:]
    assert (scored["errors"] == "").all()
    assert scored["p_success_reconsideration"].dropna().between(0, 1).all()
    assert (scored["expected_net_recovery"] >= 0).all()


def test_truth_columns_never_reach_the_features(trained, history):
    uri, result, _ = trained
    mlflow.set_tracking_uri(uri)
    bundle = load_bundle(f"models:/{tracking.REGISTERED_MODEL}/{result.model_version}")
    assert not any(name.startswith("truth_") for name in bundle.transformer.get_feature_names_out())
    assert any(name.startswith("truth_") for name in history.columns)


def _log_degraded_copy(uri: str, version: str) -> str:
    """Register a deliberately worse model: the champion's trees with a calibrator that says 0.5 always."""
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    bundle = load_bundle(f"models:/{tracking.REGISTERED_MODEL}/{version}")
    bundle.models.calibrator = IsotonicRegression().fit([0.0, 1.0], [0.5, 0.5])
    source_run = client.get_model_version(tracking.REGISTERED_MODEL, version).run_id
    holdout = mlflow.artifacts.download_artifacts(run_id=source_run, artifact_path=tracking.HOLDOUT_ARTIFACT)
    tracking.configure(uri)
    with mlflow.start_run():
        mlflow.log_artifact(holdout, artifact_path="holdout")
        info = tracking.log_bundle(bundle, tracking.request_example(pd.read_parquet(holdout)))
    return str(info.registered_model_version)


def test_promotion_refuses_a_worse_challenger_unless_forced(trained):
    uri, result, folder = trained
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        first = promote(result.model_version, tracking_uri=uri)
        assert first.promoted and tracking.champion_version() == result.model_version
        worse = _log_degraded_copy(uri, result.model_version)
        refused = promote(worse, tracking_uri=uri)
        assert not refused.promoted and tracking.champion_version() == result.model_version
        assert refused.table.at["log_loss", "challenger"] > refused.table.at["log_loss", "champion"]
        tags = MlflowClient(uri).get_model_version(tracking.REGISTERED_MODEL, worse).tags
        assert tags["promotion.decision"] == "refused"
        assert set(json.loads(tags["promotion.metrics"])) == {"challenger", "champion"}
        forced = promote(worse, force=True, tracking_uri=uri)
        assert forced.promoted and tracking.champion_version() == worse


def test_same_seed_same_model(history, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = history[history["claim_id"].isin(history["claim_id"].unique()[:2500])]
    runs = [
        train(
            small,
            seed=3,
            tracking_uri=f"sqlite:///{tmp_path / f'{i}.db'}",
            register=False,
            evaluate_policy=False,
            min_category_count=10,
        )
        for i in range(2)
    ]
    assert runs[0].metrics["test_log_loss"] == runs[1].metrics["test_log_loss"]


@pytest.mark.postgres
def test_tracking_on_postgresql(postgres_uri, history, tmp_path, monkeypatch):
    import psycopg

    database = f"recoup_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(postgres_uri, autocommit=True)
    admin.execute(f"CREATE DATABASE {database}")
    try:
        uri = postgres_uri.rsplit("/", 1)[0] + f"/{database}"
        monkeypatch.chdir(tmp_path)
        small = history[history["claim_id"].isin(history["claim_id"].unique()[:2500])]
        result = train(small, seed=0, tracking_uri=uri, evaluate_policy=False, min_category_count=10)
        promote(result.model_version, tracking_uri=uri)
        mlflow.set_tracking_uri(uri)
        bundle = joblib.load(
            mlflow.artifacts.download_artifacts(
                f"models:/{tracking.REGISTERED_MODEL}@{tracking.CHAMPION_ALIAS}/artifacts/bundle.joblib"
            )
        )
        assert np.isfinite(bundle.metadata["metrics"]["test_log_loss"])
    finally:
        mlflow.set_tracking_uri("sqlite:///:memory:")
        admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.close()


def test_idr_priors_are_kept_only_for_payers_with_thin_history():
    from features.idr_payers import load_idr_benchmarks
    from training.pipeline import thin_history_benchmarks

    benchmarks = load_idr_benchmarks()
    train_rows = pd.DataFrame({"payer_id": ["AETNA"] * 250 + ["CIGNA"] * 20})
    kept = set(thin_history_benchmarks(benchmarks, train_rows, min_attempts=200)["payer_group"])
    assert "Aetna" not in kept  # ample history of its own
    assert {"Cigna", "UnitedHealthcare"} <= kept  # thin, or none at all


def test_idr_priors_are_left_out_deliberately_when_no_training_payer_has_thin_history(history, tmp_path, monkeypatch):
    import warnings

    monkeypatch.chdir(tmp_path)
    biggest = history["payer_id"].value_counts().index[:3]
    ample = history[history["payer_id"].isin(biggest)].drop(columns=[c for c in history if c.startswith("truth_")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(ample, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}", register=False, min_category_count=10)
    assert not [w for w in caught if "without any observed values" in str(w.message)]
    assert any(note.startswith("IDR prior features not used") for note in result.notes)
    assert MlflowClient(f"sqlite:///{tmp_path / 'm.db'}").get_run(result.run_id).data.params["idr_priors"] == "False"
