"""``recoup retrain``: train on the store's history, promote through the usual gate, say what changed.

The history is every attempt the store holds (or those submitted since a date, to train on the newest
behaviour only). ``training.pipeline.train`` splits it by time, so the challenger's holdout is the newest
matured outcomes; ``training.promote.promote`` scores challenger and champion on that holdout and moves
``champion`` only when the challenger is not worse. What changed is reported by payer: on the holdout,
each model's mean predicted success beside the realised rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from mlflow import MlflowClient

from features.store import Store
from training import tracking
from training.pipeline import TrainResult, train
from training.promote import Comparison, holdout_of, load_bundle, promote


@dataclass
class RetrainResult:
    training: TrainResult
    comparison: Comparison
    by_payer: pd.DataFrame  # holdout attempts, realised success and each model's prediction, by payer

    def summary(self) -> str:
        lines = [
            f"trained v{self.training.model_version} on the store's history",
            self.comparison.summary(),
            "promoted to champion" if self.comparison.promoted else "refused: the champion stays",
            "",
            "by payer on the newest matured outcomes (mean predicted success vs realised):",
            self.by_payer.to_string(float_format=lambda v: f"{v:.3f}"),
        ]
        return "\n".join(lines)


def payer_changes(holdout: pd.DataFrame, models: dict[str, object]) -> pd.DataFrame:
    """Per payer on ``holdout``: attempts, realised success rate and each model's mean predicted success
    and gap (realised - predicted)."""
    table = holdout.groupby("payer_id", observed=True).agg(attempts=("success", "size"), realised=("success", "mean"))
    for name, bundle in models.items():
        predicted = bundle.predict_attempts(holdout)["p_success"]
        by_payer = (
            pd.Series(predicted.to_numpy(), index=holdout.index).groupby(holdout["payer_id"], observed=True).mean()
        )
        table[f"{name}_predicted"] = by_payer
        table[f"{name}_gap"] = table["realised"] - by_payer
    return table.sort_values("attempts", ascending=False)


def retrain(
    store: Store,
    *,
    since: date | None = None,
    seed: int = 0,
    tracking_uri: str | None = None,
    force: bool = False,
) -> RetrainResult:
    """Train from the store (attempts submitted on or after ``since``), register, and promote when not worse."""
    history = store.read_history(since)
    if not len(history):
        raise LookupError("the store holds no outcomes" + (f" submitted since {since}" if since else ""))
    tracking.configure(tracking_uri)
    champion = tracking.champion_version()
    training = train(history, seed=seed, tracking_uri=tracking_uri, register=True)
    comparison = promote(training.model_version, force=force, tracking_uri=tracking_uri)
    holdout = holdout_of(MlflowClient(), training.model_version)
    models = {"challenger": load_bundle(f"models:/{tracking.REGISTERED_MODEL}/{training.model_version}")}
    if champion is not None and champion != training.model_version:
        models = {"champion": load_bundle(f"models:/{tracking.REGISTERED_MODEL}/{champion}")} | models
    return RetrainResult(training, comparison, payer_changes(holdout, models))
