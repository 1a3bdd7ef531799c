"""Monitoring with late labels, as plain functions over frames.

``GET /v1/monitoring`` and ``recoup monitor`` both call ``monitor``, so they report the same numbers.

- **Matured predictions**: an outcome arrived for a level a prediction was about, i.e. a resolved
  attempt of the claim at a level above the claim's level when scored, attempted from that level
  (``prior_level`` = the prediction's ``current_level``) on or after the prediction's ``as_of_date``. Each
  such attempt is matched to the latest prediction before it. Calibration (predicted vs realised success,
  ECE, counts) and realised vs predicted recovery are reported by level, by payer and by month.
- **Waiting for a label**: every other prediction, with how old it is (days since its ``as_of_date``) and
  whether an attempt from it is in flight (submitted, still pending).
- **Drift without labels**: the scored traffic against a profile of the training data taken when the
  model was trained (``reference_profile``): the population stability index (PSI) of payer, code
  family, denial category, billed and initial allowed amounts, and the shares of payers and codes the
  training data never saw.
- **Alerts**: a payer whose calibration gap passes the threshold (with enough matured predictions and
  beyond noise), a feature whose PSI passes its threshold, unknown payer or code shares above theirs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features import reference
from features.schema import ESCALATION_LEVELS, RESOLVED_OUTCOMES, SUCCESS_OUTCOMES, Level
from features.store import Store
from models.metrics import expected_calibration_error

CATEGORICAL_FEATURES = ("payer_id", "code_family", "denial_category")
AMOUNT_FEATURES = ("billed_amount", "initial_allowed_amount")
AMOUNT_BINS = 10
MAX_CATEGORIES = 60  # beyond this many payers (codes...) the rarest are pooled as "other"
OTHER = "(other)"
PSI_FLOOR = 1e-4  # an empty bin counts as this share, so PSI stays finite
AGE_BUCKETS = (30, 90, 180, 365)


@dataclass(frozen=True)
class Thresholds:
    """When monitoring raises an alert (each configurable: ``RECOUP_MONITOR_*``, ``recoup monitor --...``)."""

    calibration_gap: float = 0.10  # |observed - predicted success rate| of a payer's matured predictions
    min_matured: int = 30  # matured predictions a payer needs before its gap can alert
    z: float = 3.0  # ... and the gap must be this many standard errors from zero (not noise)
    psi: float = 0.2  # population stability index of a feature (0.1-0.2 moderate, > 0.2 a real shift)
    unknown_share: float = 0.05  # share of scored claims with a payer (or code) the training data never saw
    min_traffic: int = 1000  # scored claims drift needs before it can alert (PSI of a few hundred is noise)


# --- the training data's profile -------------------------------------------------------------------------


def _drift_features(claims: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "payer_id": claims["payer_id"].astype(str).to_numpy(),
            "code_family": reference.code_family(claims["cpt_code"]).astype(str).to_numpy(),
            "denial_category": reference.denial_category(claims["carc_codes"]).astype(str).to_numpy(),
            "billed_amount": pd.to_numeric(claims["billed_amount"]).to_numpy(dtype=float),
            "initial_allowed_amount": pd.to_numeric(claims["initial_allowed_amount"]).to_numpy(dtype=float),
        }
    )


def reference_profile(claims: pd.DataFrame) -> dict[str, Any]:
    """What drift is measured against: per feature the shares of its categories (or amount bins), and the
    payers and codes seen. ``claims`` holds the contract's claim columns (one row per claim)."""
    claims = claims.drop_duplicates("claim_id") if "claim_id" in claims else claims
    features = _drift_features(claims)
    profile: dict[str, Any] = {"claims": len(claims), "categorical": {}, "amounts": {}}
    for name in CATEGORICAL_FEATURES:
        shares = features[name].value_counts(normalize=True)
        kept = shares.head(MAX_CATEGORIES)
        if len(shares) > len(kept):
            kept = pd.concat([kept, pd.Series({OTHER: float(shares.iloc[MAX_CATEGORIES:].sum())})])
        profile["categorical"][name] = {str(k): float(v) for k, v in kept.items()}
    for name in AMOUNT_FEATURES:
        values = features[name].to_numpy()
        edges = np.unique(np.quantile(values, np.linspace(0, 1, AMOUNT_BINS + 1)[1:-1]))
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        profile["amounts"][name] = {"edges": edges.tolist(), "shares": (counts / max(len(values), 1)).tolist()}
    profile["payers"] = sorted(features["payer_id"].unique().tolist())
    profile["codes"] = sorted(claims["cpt_code"].astype(str).unique().tolist())
    return profile


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index: sum over bins of (actual - expected) x ln(actual / expected)."""
    expected = np.maximum(np.asarray(expected, dtype=float), PSI_FLOOR)
    actual = np.maximum(np.asarray(actual, dtype=float), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift(profile: dict[str, Any], claims: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """PSI of each feature of ``claims`` (the scored traffic) against ``profile``, and the unknown shares."""
    if not len(claims):
        return pd.DataFrame(columns=["feature", "psi", "claims"]), {"payer": float("nan"), "code": float("nan")}
    features = _drift_features(claims)
    rows = []
    for name, shares in profile["categorical"].items():
        known = [key for key in shares if key != OTHER]
        values = features[name].where(features[name].isin(known), OTHER)
        actual = values.value_counts(normalize=True)
        keys = sorted(set(shares) | set(actual.index))
        rows.append(
            {
                "feature": name,
                "psi": psi([shares.get(k, 0.0) for k in keys], [float(actual.get(k, 0.0)) for k in keys]),
                "claims": len(values),
            }
        )
    for name, bins in profile["amounts"].items():
        values = features[name].to_numpy()
        counts = np.bincount(np.searchsorted(bins["edges"], values, side="right"), minlength=len(bins["shares"]))
        rows.append({"feature": name, "psi": psi(bins["shares"], counts / len(values)), "claims": len(values)})
    unknown = {
        "payer": float((~features["payer_id"].isin(profile["payers"])).mean()),
        "code": float((~claims["cpt_code"].astype(str).isin(profile["codes"])).mean()),
    }
    return pd.DataFrame(rows), unknown


# --- late labels ------------------------------------------------------------------------------------------


def _per_level(frame: pd.DataFrame, field_name: str, levels: np.ndarray) -> np.ndarray:
    """Each row's ``{field_name}_{level}`` value for its own level (1-5)."""
    matrix = frame[[f"{field_name}_{level.name}" for level in ESCALATION_LEVELS]].to_numpy(dtype=float)
    return matrix[np.arange(len(frame)), levels.astype(int) - 1]


def matured_predictions(predictions: pd.DataFrame, attempts: pd.DataFrame) -> pd.DataFrame:
    """One row per resolved attempt a prediction was about, with what was predicted and what happened.

    ``predictions`` as ``features.store.Store.read_predictions`` gives them (with an ``id`` column or in
    order made); ``attempts`` as ``features.history.derive_attempts`` gives them (``prior_level`` filled).
    """
    resolved = attempts[attempts["outcome"].isin(RESOLVED_OUTCOMES)]
    resolved = resolved[["claim_id", "level", "prior_level", "submitted_date", "outcome", "final_allowed_amount"]]
    made = predictions.reset_index(drop=True).assign(prediction=lambda frame: np.arange(len(frame)))
    keep = [
        "prediction", "claim_id", "payer_id", "model_version", "as_of_date", "current_level",
        "current_allowed_amount",
        *(f"{name}_{level.name}" for name in ("p_success", "expected_recovery") for level in ESCALATION_LEVELS),
    ]  # fmt: skip
    joined = resolved.merge(made[keep], on="claim_id")
    joined = joined[
        (joined["level"] > joined["current_level"])
        & (joined["prior_level"] == joined["current_level"])
        & (joined["submitted_date"] >= joined["as_of_date"])
    ]
    # the latest prediction before each attempt (predictions are in the order they were made)
    joined = joined.sort_values(["as_of_date", "prediction"]).drop_duplicates(["claim_id", "level"], keep="last")
    levels = joined["level"].to_numpy()
    success = joined["outcome"].isin(SUCCESS_OUTCOMES).to_numpy() & (
        joined["final_allowed_amount"].to_numpy(dtype=float) > joined["current_allowed_amount"].to_numpy(dtype=float)
    )
    realised = np.where(
        success, joined["final_allowed_amount"].to_numpy(dtype=float) - joined["current_allowed_amount"], 0.0
    )
    matured = pd.DataFrame(
        {
            "prediction": joined["prediction"].to_numpy(),
            "claim_id": joined["claim_id"].to_numpy(),
            "payer_id": joined["payer_id"].astype(str).to_numpy(),
            "model_version": joined["model_version"].to_numpy(),
            "level": [Level(int(level)).name for level in levels],
            "as_of_date": joined["as_of_date"].to_numpy(),
            "submitted_date": joined["submitted_date"].to_numpy(),
            "predicted": _per_level(joined, "p_success", levels),
            "success": success.astype(float),
            "predicted_recovery": _per_level(joined, "expected_recovery", levels),
            "realised_recovery": realised,
        }
    )
    return matured[np.isfinite(matured["predicted"].to_numpy())].reset_index(drop=True)


def calibration(matured: pd.DataFrame, by: str | list[str] | None) -> pd.DataFrame:
    """Per group: matured count, mean predicted and observed success, gap (observed - predicted), its
    standard error, ECE, and predicted vs realised recovery per claim."""

    def summary(group: pd.DataFrame) -> pd.Series:
        p, y = group["predicted"].to_numpy(), group["success"].to_numpy()
        predicted = float(p.mean())
        return pd.Series(
            {
                "n": float(len(group)),
                "predicted": predicted,
                "observed": float(y.mean()),
                "gap": float(y.mean() - predicted),
                "se": math.sqrt(max(predicted * (1 - predicted), 1e-6) / len(group)),
                "ece": expected_calibration_error(y, p),
                "predicted_recovery": float(group["predicted_recovery"].mean()),
                "realised_recovery": float(group["realised_recovery"].mean()),
            }
        )

    columns = ["n", "predicted", "observed", "gap", "se", "ece", "predicted_recovery", "realised_recovery"]
    if not len(matured):
        return pd.DataFrame(columns=columns)
    if by is None:
        return summary(matured).to_frame("all").T
    table = matured.groupby(by, sort=True)[matured.columns.tolist()].apply(summary)
    table["n"] = table["n"].astype(int)
    return table


def waiting_for_labels(predictions: pd.DataFrame, matured: pd.DataFrame, attempts: pd.DataFrame, today: date):
    """Predictions without a matured outcome: how many, how old (days since as_of_date), how many have an
    attempt in flight (a pending attempt from the predicted level)."""
    made = predictions.reset_index(drop=True)
    waiting = made.drop(index=matured["prediction"].unique())
    ages = (pd.Timestamp(today) - waiting["as_of_date"]).dt.days.to_numpy(dtype=float)
    pending = attempts[attempts["outcome"].eq("pending")][["claim_id", "prior_level"]]
    in_flight = waiting[["claim_id", "current_level"]].merge(
        pending, left_on=["claim_id", "current_level"], right_on=["claim_id", "prior_level"]
    )
    buckets: dict[str, int] = {}
    lower = 0
    for upper in AGE_BUCKETS:
        buckets[f"{lower}-{upper}"] = int(((ages >= lower) & (ages < upper)).sum())
        lower = upper
    buckets[f"{lower}+"] = int((ages >= lower).sum())
    return {
        "predictions": len(made),
        "matured": int(matured["prediction"].nunique()),
        "waiting": len(waiting),
        "in_flight": int(in_flight["claim_id"].nunique()),
        "median_age_days": float(np.median(ages)) if len(ages) else None,
        "p90_age_days": float(np.quantile(ages, 0.9)) if len(ages) else None,
        "oldest_age_days": float(ages.max()) if len(ages) else None,
        "age_days": buckets,
    }


# --- the report -------------------------------------------------------------------------------------------


@dataclass
class MonitoringReport:
    since: date | None
    thresholds: Thresholds
    labels: dict[str, Any]
    overall: pd.DataFrame
    by_level: pd.DataFrame
    by_payer: pd.DataFrame
    by_month: pd.DataFrame
    drift: pd.DataFrame
    unknown: dict[str, float]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def alerting_payers(self) -> list[str]:
        return [alert["key"] for alert in self.alerts if alert["kind"] == "calibration"]

    def to_dict(self) -> dict[str, Any]:
        def rows(frame: pd.DataFrame, key: str | None) -> list[dict[str, Any]]:
            out = frame.reset_index(names=key) if key else frame
            return [{k: _plain(v) for k, v in row.items()} for row in out.to_dict("records")]

        overall = rows(self.overall, None)
        return {
            "since": self.since.isoformat() if self.since else None,
            "thresholds": asdict(self.thresholds),
            "labels": self.labels,
            "calibration": {
                "overall": overall[0] if overall else None,
                "by_level": rows(self.by_level, "level"),
                "by_payer": rows(self.by_payer, "payer_id"),
                "by_month": rows(self.by_month, "month"),
            },
            "drift": {
                "features": rows(self.drift, None),
                "unknown_share": {k: _plain(v) for k, v in self.unknown.items()},
            },
            "alerts": self.alerts,
            "notes": self.notes,
        }

    def to_text(self) -> str:
        labels = self.labels
        lines = [
            f"predictions {labels['predictions']:,}  matured {labels['matured']:,}  waiting for a label "
            f"{labels['waiting']:,} (in flight {labels['in_flight']:,}; median age {labels['median_age_days']} days)",
            "",
            "calibration by level (matured predictions):",
            _table(self.by_level),
            "",
            "calibration by payer:",
            _table(self.by_payer),
            "",
            "drift vs the training data (PSI):",
            _table(self.drift.set_index("feature")) if len(self.drift) else "  (no profile or no traffic)",
            "unknown shares: " + ", ".join(f"{k} {v:.3f}" for k, v in self.unknown.items()),
            "",
        ]
        lines += [f"ALERT {alert['message']}" for alert in self.alerts] or ["no alerts"]
        return "\n".join(lines + self.notes)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(float_format=lambda v: f"{v:.3f}") if len(frame) else "  (none)"


def find_alerts(
    by_payer: pd.DataFrame, drift_table: pd.DataFrame, unknown: dict[str, float], thresholds: Thresholds
) -> list[dict[str, Any]]:
    alerts = []
    for payer, row in by_payer.iterrows():
        beyond_noise = abs(row["gap"]) >= thresholds.z * row["se"]
        if row["n"] >= thresholds.min_matured and abs(row["gap"]) > thresholds.calibration_gap and beyond_noise:
            direction = "fewer" if row["gap"] < 0 else "more"
            alerts.append(
                {
                    "kind": "calibration",
                    "key": str(payer),
                    "value": float(row["gap"]),
                    "threshold": thresholds.calibration_gap,
                    "n": int(row["n"]),
                    "message": f"payer {payer}: {row['observed']:.1%} of {int(row['n'])} matured attempts "
                    f"succeeded where {row['predicted']:.1%} was predicted ({direction} than predicted; gap "
                    f"{row['gap']:+.3f}, threshold {thresholds.calibration_gap:.3f})",
                }
            )
    for _, row in drift_table.iterrows():
        if row["psi"] > thresholds.psi and row["claims"] >= thresholds.min_traffic:
            alerts.append(
                {
                    "kind": "drift",
                    "key": row["feature"],
                    "value": float(row["psi"]),
                    "threshold": thresholds.psi,
                    "n": int(row["claims"]),
                    "message": f"{row['feature']} drifted from the training data: PSI {row['psi']:.3f} "
                    f"(threshold {thresholds.psi:.3f})",
                }
            )
    traffic = int(drift_table["claims"].max()) if len(drift_table) else 0
    for what, share in unknown.items():
        if traffic >= thresholds.min_traffic and np.isfinite(share) and share > thresholds.unknown_share:
            alerts.append(
                {
                    "kind": f"unknown_{what}",
                    "key": what,
                    "value": share,
                    "threshold": thresholds.unknown_share,
                    "n": None,
                    "message": f"{share:.1%} of scored claims have a {what} the training data never saw "
                    f"(threshold {thresholds.unknown_share:.1%})",
                }
            )
    return alerts


MONITORED_PREDICTION_COLUMNS = (
    "claim_id", "model_version", "as_of_date", "current_level", "current_allowed_amount",
    *(f"{name}_{level.name}" for name in ("p_success", "expected_recovery") for level in ESCALATION_LEVELS),
)  # fmt: skip
MONITORED_CLAIM_COLUMNS = ("payer_id", "cpt_code", "carc_codes", "billed_amount", "initial_allowed_amount")


def monitor_store(
    store: Store,
    profile: dict[str, Any] | None,
    *,
    thresholds: Thresholds | None = None,
    since: date | None = None,
    today: date | None = None,
) -> MonitoringReport:
    """``monitor`` over the store's predictions (since ``since``) and every outcome it holds."""
    predictions = store.read_predictions(since, MONITORED_PREDICTION_COLUMNS, MONITORED_CLAIM_COLUMNS)
    return monitor(predictions, store.read_attempts(), profile, thresholds=thresholds, today=today, since=since)


def monitor(
    predictions: pd.DataFrame,
    attempts: pd.DataFrame,
    profile: dict[str, Any] | None,
    *,
    thresholds: Thresholds | None = None,
    today: date | None = None,
    since: date | None = None,
) -> MonitoringReport:
    """The monitoring report over ``predictions`` (already limited to ``since``) and the stored ``attempts``
    (``derive_attempts`` output), against the served model's training ``profile``."""
    thresholds = thresholds or Thresholds()
    today = today or date.today()
    matured = matured_predictions(predictions, attempts)
    by_month = matured.assign(month=pd.to_datetime(matured["submitted_date"]).dt.strftime("%Y-%m"))
    notes = []
    if profile is None:
        drift_table, unknown = pd.DataFrame(columns=["feature", "psi", "claims"]), {}
        notes.append("the model carries no training data profile: drift is not measured (retrain to add one)")
    else:
        drift_table, unknown = drift(profile, predictions)
    by_payer = calibration(matured, "payer_id")
    return MonitoringReport(
        since=since,
        thresholds=thresholds,
        labels=waiting_for_labels(predictions, matured, attempts, today),
        overall=calibration(matured, None),
        by_level=calibration(matured, "level"),
        by_payer=by_payer,
        by_month=calibration(by_month, "month"),
        drift=drift_table,
        unknown=unknown,
        alerts=find_alerts(by_payer, drift_table, unknown, thresholds),
        notes=notes,
    )
