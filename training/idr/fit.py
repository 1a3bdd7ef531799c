"""The IDR models: fit, baselines, metrics, the logged pyfunc and the training entry point."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from models.metrics import classification_metrics, reliability_table
from models.served import tracking_uri as resolve_tracking_uri
from training.idr.benchmarks import payer_idr_benchmarks
from training.idr.features import (
    CATEGORICAL_FEATURES,
    MODEL_INPUT_COLUMNS,
    NUMERIC_FEATURES,
    OFFER_FEATURES,
    category_levels,
    encode,
    model_features,
    temporal_split,
    usable_features,
)
from training.idr.report import format_idr_train_report

log = logging.getLogger(__name__)


# Models, baselines, metrics
# ----------------------------------------------------------------------------------------------------------

# Chosen on a validation quarter inside the training quarters (2024Q3 for the outcome, 2024Q1 for the offer),
# never on the test quarter.
CLASSIFIER_PARAMS = {
    "n_estimators": 200,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 5.0,
    "min_data_per_group": 50,
    "cat_smooth": 20.0,
    "max_cat_threshold": 32,
}
REGRESSOR_PARAMS = {
    **CLASSIFIER_PARAMS,
    "n_estimators": 500,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "objective": "quantile",
    "alpha": 0.5,
}
LIGHTGBM_FIXED = {"verbose": -1, "deterministic": True, "force_col_wise": True}


def offer_ratio_metrics(actual_ratio: np.ndarray, predicted_ratio: np.ndarray) -> dict[str, float]:
    return {
        "mae_log": float(np.mean(np.abs(np.log(predicted_ratio) - np.log(actual_ratio)))),
        "median_ape": float(np.median(np.abs(predicted_ratio - actual_ratio) / actual_ratio)),
    }


def logistic_baseline(categorical: list[str], numeric: list[str]) -> Pipeline:
    """One-hot logistic regression on the same features (rare levels pooled, as LightGBM does)."""
    encoder = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20), categorical),
            ("num", StandardScaler(), numeric),
        ]
    )
    return Pipeline([("encode", encoder), ("model", LogisticRegression(C=1.0, max_iter=5000))])


def _logistic_inputs(features: pd.DataFrame, categorical: list[str], numeric: list[str]) -> pd.DataFrame:
    inputs = features[categorical].fillna("(missing)").astype(object)
    return inputs.join(features[numeric].astype("float64").fillna(0.0))


@dataclass(frozen=True)
class IdrEvaluation:
    """One task evaluated on its temporal split: the model beside its baselines."""

    task: str
    title: str
    train_quarters: tuple[str, ...]
    test_quarters: tuple[str, ...]
    train_rows: int
    test_rows: int
    excluded_rows: int  # dataset rows without what this task needs
    exclusion: str
    features: tuple[str, ...]
    metrics: pd.DataFrame  # index: model; columns: metrics
    test_label_summary: str


MODEL_KEYS = {
    "overall rate": "overall_rate",
    "payer rate (shrunk)": "payer_rate",
    "logistic regression": "logistic_regression",
    "LightGBM": "lightgbm",
    "overall median": "overall_median",
    "payer median (shrunk)": "payer_median",
    "LightGBM median": "lightgbm",
}


@dataclass(frozen=True)
class _OutcomeFit:
    evaluation: IdrEvaluation
    model: lgb.LGBMClassifier
    levels: dict[str, list[str]]
    numeric: list[str]
    test: pd.DataFrame
    test_p: np.ndarray
    payer_p: np.ndarray
    logistic: Pipeline


def _fit_outcome(
    task: str,
    title: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    excluded: int,
    exclusion: str,
    numeric_candidates: tuple[str, ...],
    seed: int,
    prior_strength: float,
) -> _OutcomeFit:
    features_train, features_test = model_features(train), model_features(test)
    categorical = usable_features(features_train, CATEGORICAL_FEATURES)
    numeric = usable_features(features_train, numeric_candidates)
    y_train = train["outcome"].eq("provider").to_numpy(dtype=int)
    y_test = test["outcome"].eq("provider").to_numpy(dtype=int)
    log.info("%s: LightGBM on %d rows, %d features", task, len(train), len(categorical) + len(numeric))
    levels = category_levels(features_train, categorical)
    model = lgb.LGBMClassifier(**CLASSIFIER_PARAMS, **LIGHTGBM_FIXED, random_state=seed)
    model.fit(encode(features_train, levels, numeric), y_train)
    test_p = model.predict_proba(encode(features_test, levels, numeric))[:, 1]
    log.info("%s: baselines", task)
    logistic = logistic_baseline(categorical, numeric)
    logistic.fit(_logistic_inputs(features_train, categorical, numeric), y_train)
    benchmarks = payer_idr_benchmarks(train, prior_strength).set_index("payer_group")
    overall = float(y_train.mean())
    payer_p = test["payer_group"].map(benchmarks["provider_win_rate"]).fillna(overall).to_numpy(dtype=float)
    predictions = {
        "overall rate": np.full(len(test), overall),
        "payer rate (shrunk)": payer_p,
        "logistic regression": logistic.predict_proba(_logistic_inputs(features_test, categorical, numeric))[:, 1],
        "LightGBM": test_p,
    }
    metrics = pd.DataFrame({name: classification_metrics(y_test, p) for name, p in predictions.items()}).T
    metrics = metrics.drop(columns="n")  # every model's is the task's test_rows, reported once with the split
    evaluation = IdrEvaluation(
        task=task,
        title=title,
        train_quarters=tuple(sorted(train["quarter"].unique())),
        test_quarters=tuple(sorted(test["quarter"].unique())),
        train_rows=len(train),
        test_rows=len(test),
        excluded_rows=excluded,
        exclusion=exclusion,
        features=tuple(categorical + numeric),
        metrics=metrics,
        test_label_summary=f"provider win rate {y_test.mean():.1%} in test, {overall:.1%} in train",
    )
    return _OutcomeFit(evaluation, model, levels, numeric, test, test_p, payer_p, logistic)


@dataclass(frozen=True)
class _OfferFit:
    evaluation: IdrEvaluation
    model: lgb.LGBMRegressor
    levels: dict[str, list[str]]
    numeric: list[str]


def _fit_offer_ratio(
    train: pd.DataFrame, test: pd.DataFrame, excluded: int, seed: int, prior_strength: float
) -> _OfferFit:
    features_train, features_test = model_features(train), model_features(test)
    categorical = usable_features(features_train, CATEGORICAL_FEATURES)
    numeric = usable_features(features_train, NUMERIC_FEATURES)
    log.info("offer_ratio: LightGBM median regression on %d rows", len(train))
    levels = category_levels(features_train, categorical)
    model = lgb.LGBMRegressor(**REGRESSOR_PARAMS, **LIGHTGBM_FIXED, random_state=seed)
    model.fit(encode(features_train, levels, numeric), np.log(train["prevailing_offer_ratio"]))
    benchmarks = payer_idr_benchmarks(train, prior_strength).set_index("payer_group")
    overall = float(np.exp(np.median(np.log(train["prevailing_offer_ratio"]))))
    actual = test["prevailing_offer_ratio"].to_numpy(dtype=float)
    predictions = {
        "overall median": np.full(len(test), overall),
        "payer median (shrunk)": test["payer_group"]
        .map(benchmarks["median_prevailing_offer_ratio"])
        .fillna(overall)
        .to_numpy(dtype=float),
        "LightGBM median": np.exp(model.predict(encode(features_test, levels, numeric))),
    }
    metrics = pd.DataFrame({name: offer_ratio_metrics(actual, p) for name, p in predictions.items()}).T
    evaluation = IdrEvaluation(
        task="offer_ratio",
        title="Prevailing offer / QPA (median), features known when filing",
        train_quarters=tuple(sorted(train["quarter"].unique())),
        test_quarters=tuple(sorted(test["quarter"].unique())),
        train_rows=len(train),
        test_rows=len(test),
        excluded_rows=excluded,
        exclusion="no prevailing offer ratio above 0 (all of 2024Q3-Q4 in the shared file)",
        features=tuple(categorical + numeric),
        metrics=metrics,
        test_label_summary=f"median prevailing offer {np.median(actual):.2f}x QPA in test, {overall:.2f}x in train",
    )
    return _OfferFit(evaluation, model, levels, numeric)


def offer_associations(fit: _OutcomeFit) -> pd.DataFrame:
    """Odds ratio of the provider prevailing per doubling of each offer, from the logistic regression.

    Associations in observational data with the other features held fixed: parties choose their offers,
    so these say nothing about what changing an offer would do.
    """
    encoder = fit.logistic.named_steps["encode"]
    coefficients = dict(zip(encoder.get_feature_names_out(), fit.logistic.named_steps["model"].coef_[0], strict=True))
    scaler = encoder.named_transformers_["num"]
    scales = dict(zip(scaler.feature_names_in_, scaler.scale_, strict=True))
    # The model saw standardised log offers: divide by the scale for the effect of one unit of log offer.
    rows = [
        {
            "feature": feature,
            "odds_ratio_per_doubling": math.exp(coefficients[f"num__{feature}"] / scales[feature] * math.log(2)),
        }
        for feature in OFFER_FEATURES
        if f"num__{feature}" in coefficients
    ]
    return pd.DataFrame(rows, columns=["feature", "odds_ratio_per_doubling"])


# ----------------------------------------------------------------------------------------------------------
# The logged model
# ----------------------------------------------------------------------------------------------------------


class IdrOutcomeModel(mlflow.pyfunc.PythonModel):
    """P(provider prevails at IDR) and the median prevailing offer / QPA for IDR dataset rows.

    Input: the dataset columns in MODEL_INPUT_COLUMNS (quarter as YYYYQn). Offers are not inputs: the model
    answers before the offers exist.
    """

    def __init__(self, outcome: _OutcomeFit, offer: _OfferFit) -> None:
        self.classifier, self.outcome_levels, self.outcome_numeric = (outcome.model, outcome.levels, outcome.numeric)
        self.regressor, self.offer_levels, self.offer_numeric = offer.model, offer.levels, offer.numeric

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        features = model_features(model_input)
        p = self.classifier.predict_proba(encode(features, self.outcome_levels, self.outcome_numeric))[:, 1]
        ratio = np.exp(self.regressor.predict(encode(features, self.offer_levels, self.offer_numeric)))
        return pd.DataFrame({"p_provider_prevails": p, "prevailing_offer_ratio_median": ratio})


# ----------------------------------------------------------------------------------------------------------
# Training entry point
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdrTrainResult:
    run_id: str
    tracking_uri: str
    experiment: str
    model_uri: str
    dataset_rows: int
    dataset_digest: str
    evaluations: tuple[IdrEvaluation, ...]
    offer_associations: pd.DataFrame
    calibration: pd.DataFrame  # reliability table of the outcome model on its test quarter
    benchmarks: pd.DataFrame  # payer_idr_benchmarks of the whole dataset
    per_payer_test: pd.DataFrame  # outcome model vs payer baseline per payer group on the test quarter


def train_idr_model(
    dataset: pd.DataFrame,
    *,
    seed: int = 0,
    tracking_uri: str | None = None,
    experiment: str = "recoup-idr",
    prior_strength: float = 50,
) -> IdrTrainResult:
    """Fit and evaluate the IDR models on a temporal split, and track the run in MLflow.

    Tasks: P(provider prevails) from what is known when filing (test: the latest quarter); the median
    prevailing offer / QPA (test: the latest quarter with offer ratios); and, for insight only,
    P(provider prevails) given both offers (associations, not effects).
    """
    outcome_train, outcome_test = temporal_split(dataset, dataset["outcome"].notna())
    outcome = _fit_outcome(
        "outcome",
        "P(provider prevails), features known when filing",
        outcome_train,
        outcome_test,
        excluded=0,
        exclusion="",
        numeric_candidates=NUMERIC_FEATURES,
        seed=seed,
        prior_strength=prior_strength,
    )
    has_ratio = dataset["prevailing_offer_ratio"] > 0
    offer = _fit_offer_ratio(
        *temporal_split(dataset, has_ratio), excluded=int((~has_ratio).sum()), seed=seed, prior_strength=prior_strength
    )
    both_offers = dataset["provider_offer_ratio"].notna() & dataset["plan_offer_ratio"].notna()
    given_offers = _fit_outcome(
        "outcome_given_offers",
        "P(provider prevails) given both offers - associations only",
        *temporal_split(dataset, both_offers),
        excluded=int((~both_offers).sum()),
        exclusion="a missing offer (usually the defaulting party's); all of 2024Q3-Q4 in the shared file",
        numeric_candidates=(*NUMERIC_FEATURES, *OFFER_FEATURES),
        seed=seed,
        prior_strength=prior_strength,
    )
    evaluations = (outcome.evaluation, offer.evaluation, given_offers.evaluation)
    y_test = outcome_test["outcome"].eq("provider").to_numpy(dtype=int)
    calibration = reliability_table(y_test, outcome.test_p)
    per_payer = _per_payer_test(outcome)
    benchmarks = payer_idr_benchmarks(dataset, prior_strength)
    associations = offer_associations(given_offers)
    return _track_run(
        dataset,
        seed,
        resolve_tracking_uri(tracking_uri),
        experiment,
        prior_strength,
        outcome,
        offer,
        evaluations,
        associations,
        calibration,
        benchmarks,
        per_payer,
    )


def _per_payer_test(fit: _OutcomeFit) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "payer_group": fit.test["payer_group"].to_numpy(),
            "won": fit.test["outcome"].eq("provider").to_numpy(dtype=float),
            "model": fit.test_p,
            "payer_baseline": fit.payer_p,
        }
    )
    table = frame.groupby("payer_group").agg(
        test_rows=("won", "size"),
        observed_win_rate=("won", "mean"),
        model_mean_p=("model", "mean"),
        payer_baseline_p=("payer_baseline", "mean"),
    )
    return table.sort_values("test_rows", ascending=False).reset_index()


def _track_run(
    dataset: pd.DataFrame,
    seed: int,
    tracking_uri: str,
    experiment: str,
    prior_strength: float,
    outcome: _OutcomeFit,
    offer: _OfferFit,
    evaluations: tuple[IdrEvaluation, ...],
    associations: pd.DataFrame,
    calibration: pd.DataFrame,
    benchmarks: pd.DataFrame,
    per_payer: pd.DataFrame,
) -> IdrTrainResult:
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        mlflow.set_experiment(experiment)
        with mlflow.start_run() as run:
            log.info("logging run %s to %s", run.info.run_id, tracking_uri)
            source = mlflow.data.from_pandas(dataset, name="idr")
            mlflow.log_input(source, context="training")
            mlflow.log_params(
                {
                    "seed": seed,
                    "prior_strength": prior_strength,
                    "dataset_rows": len(dataset),
                    "dataset_digest": source.digest,
                    **{f"classifier.{key}": value for key, value in CLASSIFIER_PARAMS.items()},
                    **{f"regressor.{key}": value for key, value in REGRESSOR_PARAMS.items()},
                }
            )
            for evaluation in evaluations:
                mlflow.log_params(
                    {
                        f"{evaluation.task}.train_quarters": ",".join(evaluation.train_quarters),
                        f"{evaluation.task}.test_quarters": ",".join(evaluation.test_quarters),
                        f"{evaluation.task}.train_rows": evaluation.train_rows,
                        f"{evaluation.task}.test_rows": evaluation.test_rows,
                        f"{evaluation.task}.features": ",".join(evaluation.features),
                    }
                )
                mlflow.log_metrics(
                    {
                        f"{evaluation.task}.{MODEL_KEYS[model]}.{metric}": value
                        for model, row in evaluation.metrics.iterrows()
                        for metric, value in row.items()
                        if not math.isnan(value)
                    }
                )
            mlflow.log_metrics(
                {
                    f"outcome_given_offers.odds_ratio_per_doubling.{row.feature}": row.odds_ratio_per_doubling
                    for row in associations.itertuples()
                }
            )
            mlflow.log_text(benchmarks.to_csv(index=False), "idr_payer_benchmarks.csv")
            mlflow.log_text(per_payer.to_csv(index=False), "idr_outcome_by_payer_test.csv")
            mlflow.log_text(calibration.to_csv(index=False), "idr_outcome_calibration.csv")
            mlflow.log_figure(_calibration_figure(calibration), "idr_outcome_calibration.png")
            model_uri = _log_model(outcome, offer)
            result = IdrTrainResult(
                run_id=run.info.run_id,
                tracking_uri=tracking_uri,
                experiment=experiment,
                model_uri=model_uri,
                dataset_rows=len(dataset),
                dataset_digest=source.digest,
                evaluations=evaluations,
                offer_associations=associations,
                calibration=calibration,
                benchmarks=benchmarks,
                per_payer_test=per_payer,
            )
            mlflow.log_text(format_idr_train_report(result), "idr_report.txt")
    finally:
        mlflow.set_tracking_uri(previous_uri)
    return result


def _calibration_figure(calibration: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(4.5, 4.5))  # no pyplot: nothing is shown, the figure goes to MLflow
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], color="grey", linewidth=1)
    axis.plot(calibration["mean_predicted"], calibration["observed_rate"], marker="o")
    axis.set(
        xlabel="mean predicted P(provider prevails)",
        ylabel="observed rate",
        xlim=(0, 1),
        ylim=(0, 1),
        title="IDR outcome model, test quarter",
    )
    return figure


def _log_model(outcome: _OutcomeFit, offer: _OfferFit) -> str:
    bundle = IdrOutcomeModel(outcome, offer)
    used = {*outcome.levels, *outcome.numeric, *offer.levels, *offer.numeric}
    columns = ["quarter", *(column for column in MODEL_INPUT_COLUMNS[1:] if column in used)]
    # Every input but the quarter may be missing: the trees route a missing value like an unseen one.
    inputs = [
        ColSpec("boolean" if column == "batched" else "string", column, required=column == "quarter")
        for column in columns
    ]
    outputs = [ColSpec("double", "p_provider_prevails"), ColSpec("double", "prevailing_offer_ratio_median")]
    signature = ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))
    example = outcome.test.loc[:, columns].head(5)
    info = mlflow.pyfunc.log_model(
        name="idr_model",
        python_model=bundle,
        signature=signature,
        input_example=example,
        pip_requirements=[
            f"lightgbm=={lgb.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
            f"mlflow=={mlflow.__version__}",
        ],
    )
    return info.model_uri
