"""``recoup monitor``: the monitoring report over the store, printed and logged as an MLflow run.

The numbers are ``models.monitoring.monitor_store``'s (``GET /v1/monitoring`` computes the same); drift
is measured against the training data profile of the model given (default: the champion). The run, in
experiment ``recoup-monitoring``, holds the report, its tables, metrics per payer and feature, the
alerts as tags, and two plots: calibration over time (predicted vs realised success by month, overall
and for each alerting payer) and drift by feature (PSI against its threshold).
"""

from __future__ import annotations

import re
from datetime import date

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from features.store import Store
from models.monitoring import (
    MONITORED_CLAIM_COLUMNS,
    MONITORED_PREDICTION_COLUMNS,
    MonitoringReport,
    Thresholds,
    calibration,
    matured_predictions,
    monitor,
)
from training import tracking
from training.promote import load_bundle

EXPERIMENT = "recoup-monitoring"
_METRIC_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")


def run_monitor(
    store: Store,
    *,
    model_uri: str | None = None,
    thresholds: Thresholds | None = None,
    since: date | None = None,
    tracking_uri: str | None = None,
    log_run: bool = True,
) -> tuple[MonitoringReport, str | None]:
    """The report over the store for the model at ``model_uri`` (default the champion); its MLflow run id."""
    tracking.configure(tracking_uri)
    model_uri = model_uri or f"models:/{tracking.REGISTERED_MODEL}@{tracking.CHAMPION_ALIAS}"
    profile = (load_bundle(model_uri).metadata or {}).get("reference_profile")
    predictions = store.read_predictions(since, MONITORED_PREDICTION_COLUMNS, MONITORED_CLAIM_COLUMNS)
    attempts = store.read_attempts()
    report = monitor(predictions, attempts, profile, thresholds=thresholds, since=since)
    if not log_run:
        return report, None
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"monitor {date.today().isoformat()}") as run:
        _log(report, model_uri, matured_predictions(predictions, attempts))
    mlflow.set_experiment(tracking.EXPERIMENT)
    return report, run.info.run_id


def _metric(name: str) -> str:
    return _METRIC_NAME.sub("_", name)


def _log(report: MonitoringReport, model_uri: str, matured: pd.DataFrame) -> None:
    thresholds = report.thresholds
    mlflow.log_params(
        {"model_uri": model_uri, "since": report.since.isoformat() if report.since else "all"}
        | {f"threshold_{k}": v for k, v in vars(thresholds).items()}
    )
    labels = report.labels
    metrics = {
        "predictions": labels["predictions"],
        "matured": labels["matured"],
        "waiting": labels["waiting"],
        "alerts": len(report.alerts),
    }
    if len(report.overall):
        metrics |= {f"overall_{k}": v for k, v in report.overall.iloc[0].items()}
    metrics |= {_metric(f"calibration_gap.{payer}"): row["gap"] for payer, row in report.by_payer.iterrows()}
    metrics |= {_metric(f"psi.{row['feature']}"): row["psi"] for _, row in report.drift.iterrows()}
    metrics |= {f"unknown_share.{what}": share for what, share in report.unknown.items()}
    mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(float(v))})
    mlflow.set_tags(
        {
            "alerts": "; ".join(alert["message"] for alert in report.alerts)[:5000] or "none",
            "alerting_payers": ",".join(report.alerting_payers()) or "none",
        }
    )
    mlflow.log_dict(report.to_dict(), "monitoring_report.json")
    for name in ("by_level", "by_payer", "by_month"):
        frame = getattr(report, name)
        if len(frame):
            tracking.log_table(frame, f"calibration_{name}")
    if len(report.drift):
        tracking.log_table(report.drift.set_index("feature"), "drift")
    tracking.log_figure(calibration_over_time_plot(report, matured), "calibration_over_time")
    tracking.log_figure(drift_plot(report), "drift_by_feature")


def calibration_over_time_plot(report: MonitoringReport, matured: pd.DataFrame):
    """Predicted vs realised success by month of submission: all payers, and each alerting payer."""
    figure, axis = plt.subplots(figsize=(8, 5))
    months = matured.assign(month=pd.to_datetime(matured["submitted_date"]).dt.strftime("%Y-%m"))
    series = [("all payers", months)] + [
        (f"payer {payer}", months[months["payer_id"] == payer]) for payer in report.alerting_payers()
    ]
    for position, (label, frame) in enumerate(series):
        table = calibration(frame, "month")
        if not len(table):
            continue
        color = f"C{position}"
        axis.plot(table.index, table["observed"], marker="o", color=color, label=f"{label}: realised")
        axis.plot(table.index, table["predicted"], linestyle="--", color=color, label=f"{label}: predicted")
    axis.set(
        xlabel="month the attempt was submitted",
        ylabel="success rate",
        ylim=(0, 1),
        title="Calibration over time: predicted vs realised success (matured predictions)",
    )
    axis.tick_params(axis="x", rotation=45)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def drift_plot(report: MonitoringReport):
    """PSI of each feature of the scored traffic vs the training data, against the alert threshold."""
    figure, axis = plt.subplots(figsize=(7, 4))
    if len(report.drift):
        values = report.drift.set_index("feature")["psi"]
        colors = ["C3" if value > report.thresholds.psi else "C0" for value in values]
        axis.barh(values.index, values.to_numpy(), color=colors)
    axis.axvline(report.thresholds.psi, color="grey", linestyle="--", label=f"alert threshold {report.thresholds.psi}")
    axis.set(xlabel="population stability index", title="Drift by feature: scored traffic vs training data")
    axis.legend()
    figure.tight_layout()
    return figure
