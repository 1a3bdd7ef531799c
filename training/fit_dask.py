"""Fitting the outcome models on a Dask cluster with ``lightgbm.dask``: the same ``OutcomeModels`` as
``training.fit``, with the same parameters, split and calibration.

LightGBM trains data-parallel: each worker holds some of the training rows, the workers agree on every
split, and the model comes back as a local scikit-learn model (``.to_local()``), so the bundle, the
pyfunc and serving cannot tell how it was trained. Histograms are built from the workers' own rows and
bagging samples differ, so the trees are not bit-identical to one machine's: metrics agree within a
tolerance (``tests/service/test_dask.py`` states it).

Early stopping needs care. ``lightgbm.dask`` hands each worker only its own part of an ``eval_set``, so
LightGBM's ``early_stopping`` would judge each worker on different rows and let them stop at different
rounds, which hangs the collective. ``ValidationStopper`` instead scores the *whole* validation slice on
every worker: the workers hold the same model after every round, so they compute the same loss and stop
together, at the round ``lgb.early_stopping`` would pick on one machine.
"""

from __future__ import annotations

from collections.abc import Callable

import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, wait
from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

from features.transformer import ClaimFeatures
from models.estimators import SETTLEMENT_QUANTILES, OutcomeModels, model_matrix
from training.data import Split
from training.fit import EARLY_STOPPING_ROUNDS, booster_params, calibrator_for, fitted_models, sample_rows

LOG_EPSILON = 1e-15  # LightGBM's clamp in its log-loss and Poisson metrics

Loss = Callable[[np.ndarray, np.ndarray], float]  # (raw scores, labels) -> mean loss, lower is better


def binary_logloss(raw: np.ndarray, label: np.ndarray) -> float:
    p = np.clip(1.0 / (1.0 + np.exp(-raw)), LOG_EPSILON, 1.0 - LOG_EPSILON)
    return float(np.mean(-(label * np.log(p) + (1.0 - label) * np.log(1.0 - p))))


def l2(raw: np.ndarray, label: np.ndarray) -> float:
    return float(np.mean((raw - label) ** 2))


def quantile_loss(alpha: float) -> Loss:
    def loss(raw: np.ndarray, label: np.ndarray) -> float:
        error = label - raw
        return float(np.mean(np.where(error >= 0, alpha * error, (alpha - 1.0) * error)))

    return loss


def poisson_loss(raw: np.ndarray, label: np.ndarray) -> float:
    mean = np.maximum(np.exp(raw), LOG_EPSILON)
    return float(np.mean(mean - label * np.log(mean)))


class ValidationStopper:
    """An early-stopping callback that scores the whole validation slice on every worker (see above).

    Raw scores are accumulated one tree per round, so each round costs one tree's prediction.
    """

    order = 30  # LightGBM's own early stopping runs at this point of a round

    def __init__(
        self, valid_x: pd.DataFrame, valid_y: np.ndarray, loss: Loss, rounds: int = EARLY_STOPPING_ROUNDS
    ) -> None:
        self.valid_x, self.valid_y = valid_x, np.asarray(valid_y, dtype="float64")
        self.loss, self.rounds = loss, rounds
        self.before_iteration = False

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        if env.iteration == env.begin_iteration:
            self._matrix = model_matrix(self.valid_x, env.model)
            self._raw = np.zeros(len(self.valid_y))
            self._best_score, self._best_iteration = np.inf, env.iteration
        self._raw += env.model.predict(self._matrix, start_iteration=env.iteration, num_iteration=1, raw_score=True)
        score = self.loss(self._raw, self.valid_y)
        if score < self._best_score:
            self._best_score, self._best_iteration = score, env.iteration
        if env.iteration - self._best_iteration >= self.rounds or env.iteration == env.end_iteration - 1:
            raise lgb.callback.EarlyStopException(
                self._best_iteration, [("valid", "whole_slice_loss", self._best_score, False)]
            )


def _distributed(frame: pd.DataFrame | pd.Series, client: Client) -> dd.DataFrame | dd.Series:
    """One partition per worker, held in the workers' memory (LightGBM trains where the data is)."""
    workers = max(1, len(client.nthreads()))
    collection = client.persist(dd.from_pandas(frame, npartitions=min(workers, len(frame))))
    wait(collection)
    return collection


def fit_outcome_models_dask(split: Split, transformer: ClaimFeatures, client: Client, seed: int = 0) -> OutcomeModels:
    """``training.fit.fit_outcome_models`` on the workers of ``client``: the same rows (and row samples
    for the regressors), parameters and calibration."""
    train_x, valid_x = transformer.transform(split.train), transformer.transform(split.valid)

    def fit(estimator, rows: np.ndarray, label: pd.Series, valid_rows: np.ndarray, valid_label: pd.Series, loss: Loss):
        """Fit on the training rows at positions ``rows``, stopping on the validation rows ``valid_rows``."""
        stopper = ValidationStopper(valid_x.iloc[valid_rows], valid_label.iloc[valid_rows].to_numpy(), loss)
        # one fresh index for both, so that the features' and labels' partitions line up
        features, label = train_x.iloc[rows].reset_index(drop=True), label.iloc[rows].reset_index(drop=True)
        estimator.fit(_distributed(features, client), _distributed(label, client), callbacks=[stopper])
        return estimator.to_local()

    def params(**overrides) -> dict:
        return booster_params(seed, **overrides)  # lightgbm.dask replaces n_jobs by each worker's threads

    every_train, every_valid = np.arange(len(train_x)), np.arange(len(valid_x))
    success = fit(
        DaskLGBMClassifier(client=client, **params()),
        every_train,
        split.train["success"],
        every_valid,
        split.valid["success"].astype(float),
        binary_logloss,
    )
    calibrator = calibrator_for(len(split.valid))
    calibrator.fit(success.predict_proba(valid_x)[:, 1], split.valid["success"].astype(float))

    rng = np.random.default_rng(seed)  # drawn in training.fit's order, so the samples are the same rows
    won_train = sample_rows(split.train["success"].to_numpy(), rng)
    won_valid = sample_rows(split.valid["success"].to_numpy(), rng)

    def settlement_share(frame: pd.DataFrame) -> pd.Series:
        return frame["final_allowed_amount"] / frame["billed_amount"]

    def fit_settlement(loss: Loss, **objective) -> lgb.LGBMRegressor:
        return fit(
            DaskLGBMRegressor(client=client, **params(**objective)),
            won_train,
            settlement_share(split.train),
            won_valid,
            settlement_share(split.valid),
            loss,
        )

    settlement_mean = fit_settlement(l2, objective="regression")
    quantiles = {
        name: fit_settlement(quantile_loss(alpha), objective="quantile", alpha=alpha)
        for name, alpha in SETTLEMENT_QUANTILES.items()
    }
    days_train = sample_rows(np.ones(len(train_x), bool), rng)
    days_valid = sample_rows(np.ones(len(valid_x), bool), rng)
    days = fit(
        DaskLGBMRegressor(client=client, **params(objective="poisson")),
        days_train,
        split.train["days_to_resolution"],
        days_valid,
        split.valid["days_to_resolution"],
        poisson_loss,
    )
    return fitted_models(split, transformer, valid_x, won_valid, success, calibrator, settlement_mean, quantiles, days)
