"""``recoup promote`` and ``recoup evaluate``: compare registered versions on one holdout.

The challenger's holdout (the newest attempts of its training data, logged with its run) is scored by
both the challenger and the champion. The challenger becomes ``champion`` only when it is not worse,
unless forced; the comparison is recorded as tags on the challenger's model version either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from models.bundle import RecoupBundle
from models.metrics import classification_metrics
from models.served import load_bundle
from training import tracking
from training.evaluate import settlement_metrics

#: The challenger may be this much worse in success log loss (relative) and still be "not worse":
#: run-to-run noise on the same data is of this order.
LOG_LOSS_TOLERANCE = 0.005


@dataclass
class Comparison:
    challenger_version: str
    champion_version: str | None
    table: pd.DataFrame  # metrics (rows) x challenger/champion (columns)
    promoted: bool
    reason: str

    def summary(self) -> str:
        head = (
            f"challenger v{self.challenger_version} vs champion "
            f"{'v' + self.champion_version if self.champion_version else '(none)'}"
        )
        return "\n".join([head, self.table.to_string(float_format=lambda v: f"{v:.4f}"), self.reason])


def holdout_of(client: MlflowClient, version: str) -> pd.DataFrame:
    run_id = client.get_model_version(tracking.REGISTERED_MODEL, version).run_id
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=tracking.HOLDOUT_ARTIFACT)
    return pd.read_parquet(Path(path))


def holdout_metrics(bundle: RecoupBundle, holdout: pd.DataFrame) -> dict[str, float]:
    predicted = bundle.predict_attempts(holdout)
    metrics = classification_metrics(holdout["success"], predicted["p_success"])
    return metrics | settlement_metrics(holdout, predicted)


def compare(challenger: str | None = None, tracking_uri: str | None = None) -> tuple[Comparison, MlflowClient]:
    """Score the challenger (default: the newest version) and the champion on the challenger's holdout."""
    tracking.configure(tracking_uri)
    client = MlflowClient()
    versions = client.search_model_versions(f"name='{tracking.REGISTERED_MODEL}'")
    if not versions:
        raise LookupError(f"no registered versions of model {tracking.REGISTERED_MODEL!r}: run `recoup train`")
    challenger = challenger or str(max(int(v.version) for v in versions))
    champion = tracking.champion_version()
    holdout = holdout_of(client, challenger)
    columns = {"challenger": holdout_metrics(load_bundle(_uri(challenger)), holdout)}
    if champion is not None and champion != challenger:
        columns["champion"] = holdout_metrics(load_bundle(_uri(champion)), holdout)
    table = pd.DataFrame(columns)
    if "champion" not in table:
        return Comparison(challenger, champion, table, True, "no other champion: the challenger wins"), client
    not_worse, reason = log_loss_verdict(table.at["log_loss", "challenger"], table.at["log_loss", "champion"])
    return Comparison(challenger, champion, table, not_worse, reason), client


def log_loss_verdict(challenger: float, champion: float, tolerance: float = LOG_LOSS_TOLERANCE) -> tuple[bool, str]:
    """Whether the challenger's success log loss is not worse than the champion's (within ``tolerance``,
    relative), and the comparison in words."""
    change = challenger / champion - 1
    not_worse = bool(change <= tolerance)
    if change < 0:
        how = f"{-change:.2%} better than the champion's"
    elif change == 0:
        how = "equal to the champion's"
    else:  # two decimals, so that a change just past the tolerance never reads as equal to it
        where = "within" if not_worse else "beyond"
        how = f"{change:.2%} worse than the champion's, {where} the {tolerance:.2%} tolerance"
    return (
        not_worse,
        f"success log loss {challenger:.4f} vs {champion:.4f}: {how}: {'not worse' if not_worse else 'worse'}",
    )


def promote(challenger: str | None = None, force: bool = False, tracking_uri: str | None = None) -> Comparison:
    """Set alias ``champion`` on the challenger when it is not worse (or ``force``); record why."""
    comparison, client = compare(challenger, tracking_uri)
    promoted = comparison.promoted or force
    if force and not comparison.promoted:
        comparison.reason += "; promoted anyway (--force)"
    tags = {
        "promotion.compared_with": comparison.champion_version or "none",
        "promotion.metrics": json.dumps(
            {k: {m: _finite(v) for m, v in col.items()} for k, col in comparison.table.to_dict().items()}
        ),
        "promotion.decision": "promoted" if promoted else "refused",
        "promotion.reason": comparison.reason,
    }
    for key, value in tags.items():
        client.set_model_version_tag(tracking.REGISTERED_MODEL, comparison.challenger_version, key, value)
    if promoted:
        client.set_registered_model_alias(
            tracking.REGISTERED_MODEL, tracking.CHAMPION_ALIAS, comparison.challenger_version
        )
    comparison.promoted = promoted
    return comparison


def _uri(version: str) -> str:
    return f"models:/{tracking.REGISTERED_MODEL}/{version}"


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
