"""``recoup train``: history in, a tracked and registered model bundle out."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from tqdm import tqdm

from features.idr_payers import idr_prior_features, load_idr_benchmarks, match_payer_group
from features.schema import Level
from features.transformer import ClaimFeatures
from models.bundle import REASON_METHODS, RecoupBundle
from models.estimators import OutcomeModels
from models.ladder import LadderPolicy
from models.metrics import classification_metrics, reliability_table
from models.monitoring import reference_profile
from training import tracking
from training.data import History, Split, load_history, time_split
from training.evaluate import (
    PayerLevelRates,
    level_name,
    logistic_baseline,
    metrics_by,
    plot_tables,
    settlement_metrics,
)
from training.fit import fit_outcome_models
from training.profiles import build_payer_profiles

logger = logging.getLogger(__name__)
THIN_HISTORY_ATTEMPTS = 200  # below this many training attempts a payer's public IDR record is its prior


class StageTimer:
    """Wall time of each pipeline stage, logged as it ends and reported as ``duration_<stage>_s``."""

    def __init__(self, total: int):
        self.durations: dict[str, float] = {}
        self.progress = tqdm(total=total, desc="train", unit="stage", disable=None)
        self._started = time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.durations[stage] = now - self._started
        self._started = now
        logger.info("%s took %.1fs", stage, self.durations[stage])
        self.progress.set_postfix_str(stage)
        self.progress.update()

    def metrics(self) -> dict[str, float]:
        return {f"duration_{stage}_s": seconds for stage, seconds in self.durations.items()}


@dataclass
class TrainResult:
    run_id: str
    model_version: str | None
    metrics: dict[str, float]
    comparison: pd.DataFrame  # model vs baselines on the test slice
    by_level: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"run {self.run_id}  registered model version {self.model_version}",
            "",
            "success model on the test slice (newest attempts):",
            self.comparison.to_string(float_format=lambda v: f"{v:.4f}"),
            "",
            "model by level:",
            self.by_level.to_string(float_format=lambda v: f"{v:.4f}"),
            "",
        ]
        for key in (
            "settlement_mae_dollars",
            "settlement_p10_p90_coverage",
            "days_mae",
            "truth_log_loss",
            "model_to_truth_log_loss_ratio",
            "policy_regret_pct",
            "uplift_over_best_fixed_rule_pct",
        ):
            if key in self.metrics:
                lines.append(f"{key:<34}{self.metrics[key]:>12.4f}")
        segments = [name for name in ("steady", "changed", "new") if f"segment_{name}_claims" in self.metrics]
        if segments:
            lines += ["", "predicted vs true net recovery per claim of fresh claims, by payer segment (simulated):"]
            for name in segments:
                claims, promised, truly, bias = (
                    self.metrics[f"segment_{name}_{what}"]
                    for what in (
                        "claims",
                        "predicted_recovery_per_claim",
                        "true_recovery_per_claim",
                        "recovery_bias_pct",
                    )
                )
                lines.append(
                    f"  {name:<8}{claims:>8,.0f} claims   predicted ${promised:>8,.2f}   true ${truly:>8,.2f}"
                    f"   bias {bias:+.1f}%"
                )
        return "\n".join(lines + self.notes)


def train(
    source: Path | pd.DataFrame,
    *,
    seed: int = 0,
    tracking_uri: str | None = None,
    register: bool = True,
    policy: LadderPolicy | None = None,
    min_category_count: int = 30,
    evaluate_policy: bool = True,
    idr_priors: bool = True,
    reason_method: str = "path",
    fit: Callable[..., OutcomeModels] = fit_outcome_models,
) -> TrainResult:
    """Validate, split by time, fit, evaluate against baselines (and the truth, on simulated data),
    log everything to MLflow and register the bundle. ``fit`` fits the outcome models (the Dask engine
    passes ``training.fit_dask.fit_outcome_models_dask``)."""
    timer = StageTimer(total=7)
    history = load_history(source)
    timer.done("load")
    split = time_split(history.resolved)
    bundle, notes = fit_bundle(
        history,
        split,
        seed=seed,
        policy=policy,
        min_category_count=min_category_count,
        idr_priors=idr_priors,
        reason_method=reason_method,
        fit=fit,
    )
    transformer = bundle.transformer
    timer.done("fit")

    test_features = transformer.transform(split.test)
    predicted = bundle.predict_attempts(split.test, test_features)
    timer.done("predict_test")
    baselines = {
        "payer_level_rates": PayerLevelRates().fit(split.train).predict_proba(split.test),
        "logistic_regression": logistic_baseline(
            transformer.transform(split.train), split.train["success"], seed
        ).predict_proba(test_features)[:, 1],
    }
    timer.done("baselines")
    comparison = pd.DataFrame(
        {"model": classification_metrics(split.test["success"], predicted["p_success"])}
        | {name: classification_metrics(split.test["success"], p) for name, p in baselines.items()}
    ).T
    p_model = predicted["p_success"].to_numpy()
    by_level = metrics_by(split.test, "level", p_model).rename(index=level_name)
    by_payer = metrics_by(split.test, "payer_id", p_model)
    metrics = {f"test_{name}": value for name, value in comparison.loc["model"].items()}
    for baseline in baselines:
        metrics |= {f"baseline_{baseline}_{k}": v for k, v in comparison.loc[baseline].items()}
    for level, row in by_level.iterrows():
        metrics |= {f"test_{k}_{level}": v for k, v in row.items() if k != "n"}
    metrics |= settlement_metrics(split.test, predicted)
    if len(history.truth.columns):
        from training.truth import truth_metrics

        metrics |= truth_metrics(
            split.test, history.truth.loc[split.test.index], predicted, bundle if evaluate_policy else None, seed=seed
        )
    else:
        notes.append("no truth_ columns: distance to the truth and policy regret need simulated data")
    timer.done("truth")

    bundle.metadata = {
        "training_window": [str(split.train["submitted_date"].min().date()), str(split.valid_end.date())],
        "test_window": [str(split.test["submitted_date"].min().date()), str(split.test["submitted_date"].max().date())],
        "metrics": {k: float(v) for k, v in metrics.items()},
        "dataset_digest": history.digest,
        "seed": seed,
        # what monitoring measures drift against (models/monitoring.py): the training claims' profile
        "reference_profile": reference_profile(split.train),
        # the model page's calibration and interval-coverage plots (service/web)
        "plots": plot_tables(split.test, predicted),
    }
    tracking.configure(tracking_uri)
    with mlflow.start_run() as run:
        _log_run(history, split, metrics, comparison, by_level, by_payer, test_features, bundle, predicted, seed)
        timer.done("log_run")
        bundle.metadata["run_id"] = run.info.run_id
        info = tracking.log_bundle(bundle, tracking.request_example(split.test), register=register)
        timer.done("log_bundle")
        mlflow.log_metrics(timer.metrics())
    timer.progress.close()
    version = str(info.registered_model_version) if register else None
    return TrainResult(run.info.run_id, version, metrics, comparison, by_level, notes)


def fit_bundle(
    history: History,
    split: Split,
    *,
    seed: int = 0,
    policy: LadderPolicy | None = None,
    min_category_count: int = 30,
    idr_priors: bool = True,
    reason_method: str = "path",
    fit: Callable[..., OutcomeModels] = fit_outcome_models,
) -> tuple[RecoupBundle, list[str]]:
    """The bundle ``train`` fits on ``split`` (its features, outcome models, policy and payer profiles),
    with notes on what it left out; ``train``'s arguments of the same names."""
    if reason_method not in REASON_METHODS:
        raise ValueError(f"reason_method must be one of {', '.join(REASON_METHODS)}, not {reason_method!r}")
    notes = []
    benchmarks = thin_history_benchmarks(load_idr_benchmarks(), split.train) if idr_priors else None
    if benchmarks is not None and not idr_priors_observed(benchmarks, split.train):
        # no training row would carry a prior: the models could not learn from one (nor would a new payer's
        # record move a score), so the model is fitted without the columns rather than with empty ones
        benchmarks = None
        notes.append(
            f"IDR prior features not used: every payer of the training slice has {THIN_HISTORY_ATTEMPTS}+ "
            "attempts of its own history, or matches no IDR payer group"
        )
    transformer = ClaimFeatures(min_category_count=min_category_count, idr_benchmarks=benchmarks).fit(split.train)
    models = fit(split, transformer, seed=seed)
    profiles = build_payer_profiles(history.attempts[history.attempts["submitted_date"] <= split.valid_end])
    bundle = RecoupBundle(transformer, models, policy or LadderPolicy(), profiles, reason_method=reason_method)
    return bundle, notes


def thin_history_benchmarks(
    benchmarks: pd.DataFrame, train: pd.DataFrame, min_attempts: int = THIN_HISTORY_ATTEMPTS
) -> pd.DataFrame:
    """The IDR benchmarks of every payer group except those of payers with ample history of their own.

    A payer's own history beats the public IDR record; offering the record as well for well-covered
    payers measurably hurt the decisions (500k simulated attempts: policy regret 6.4% with it, 1.2%
    without). Payers with thin or no history keep the public record as their prior.
    """
    counts = train["payer_id"].value_counts()
    covered = match_payer_group(pd.Series(counts.index[counts >= min_attempts], dtype=object)).dropna()
    return benchmarks[~benchmarks["payer_group"].str.lower().isin(set(covered.str.lower()))]


def idr_priors_observed(benchmarks: pd.DataFrame, train: pd.DataFrame) -> bool:
    """Whether every IDR prior feature has a value for some payer of the training slice."""
    payers = pd.Series(train["payer_id"].unique(), dtype=object)
    return bool(idr_prior_features(payers, benchmarks).notna().any().all())


def _log_run(
    history: History, split, metrics, comparison, by_level, by_payer, test_features, bundle, predicted, seed
) -> None:
    report = history.report
    mlflow.log_params(
        {
            "seed": seed,
            "min_category_count": bundle.transformer.min_category_count,
            "idr_priors": bundle.transformer.idr_benchmarks is not None,
            "reason_method": bundle.reason_method,
            "success_trees": bundle.models.success.best_iteration_,
            "settlement_trees": bundle.models.settlement_mean.best_iteration_,
            "days_trees": bundle.models.days.best_iteration_,
            "train_end": str(split.train_end.date()),
            "valid_end": str(split.valid_end.date()),
            **{f"cost_{k}": v for k, v in bundle.policy.cost.items()},
            "idr_entity_fee": bundle.policy.idr_entity_fee,
            "annual_discount_rate": bundle.policy.annual_discount_rate,
        }
    )
    mlflow.set_tags({tracking.DIGEST_TAG: history.digest})
    mlflow.log_dict(
        report.to_dict()
        | {
            "attempts": len(history.attempts),
            "resolved": len(history.resolved),
            "train_rows": len(split.train),
            "valid_rows": len(split.valid),
            "test_rows": len(split.test),
            "success_rate": float(history.resolved["success"].mean()),
            "attempts_by_level": {
                level_name(k): int(v) for k, v in history.attempts["level"].value_counts().sort_index().items()
            },
            "payers": int(history.attempts["payer_id"].nunique()),
        },
        "data_profile.json",
    )
    mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
    tracking.log_table(comparison, "model_vs_baselines")
    tracking.log_table(by_level, "metrics_by_level")
    tracking.log_table(by_payer, "metrics_by_payer")
    tracking.log_table(bundle.profiles.by_level, "payer_profiles")
    tracking.log_figure(_calibration_plot(split.test, predicted), "calibration_by_level")
    tracking.log_figure(_importance_plot(bundle, test_features), "feature_importance")
    tracking.log_figure(_coverage_plot(split.test, predicted), "settlement_interval_coverage")
    # promotion scores champion and challenger on this same holdout
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(tracking.HOLDOUT_ARTIFACT).name
        split.test.to_parquet(path)
        mlflow.log_artifact(str(path), artifact_path=str(Path(tracking.HOLDOUT_ARTIFACT).parent))


def _calibration_plot(test: pd.DataFrame, predicted: pd.DataFrame):
    figure, axis = plt.subplots(figsize=(6, 5))
    p, y = predicted["p_success"].to_numpy(), test["success"].to_numpy()
    for level in sorted(test["level"].unique()):
        mask = test["level"].to_numpy() == level
        if mask.sum() < 100:
            continue
        table = reliability_table(y[mask], p[mask])
        axis.plot(table["mean_predicted"], table["observed_rate"], marker="o", label=Level(int(level)).name)
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--")
    axis.set(
        xlabel="predicted probability of success",
        ylabel="observed success rate",
        title="Calibration by level (test slice)",
    )
    axis.legend()
    return figure


def _importance_plot(bundle: RecoupBundle, features: pd.DataFrame):
    gains = pd.Series(bundle.models.success.booster_.feature_importance("gain"), index=features.columns)
    top = gains.sort_values().tail(20)
    figure, axis = plt.subplots(figsize=(7, 6))
    axis.barh(top.index, top.to_numpy())
    axis.set(title="Success model: feature importance (gain)")
    figure.tight_layout()
    return figure


def _coverage_plot(test: pd.DataFrame, predicted: pd.DataFrame):
    won = test["success"].to_numpy()
    inside = (
        (test["final_allowed_amount"] >= predicted["allowed_p10"])
        & (test["final_allowed_amount"] <= predicted["allowed_p90"])
    )[won]
    coverage = inside.groupby(test["level"][won].map(level_name)).mean()
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.bar(coverage.index, coverage.to_numpy())
    axis.axhline(0.8, color="grey", linestyle="--", label="nominal 80%")
    axis.set(ylim=(0, 1), title="Settlement P10-P90 coverage by level (test slice)")
    axis.tick_params(axis="x", rotation=30)
    axis.legend()
    figure.tight_layout()
    return figure
