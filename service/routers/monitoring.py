"""``GET /v1/monitoring``: calibration with late labels and drift, as ``recoup monitor`` reports them.

The numbers come from ``models.monitoring.monitor_store`` (the command calls the same function); drift is
measured against the training data profile of the model being served. Each call also sets the
``recoup_monitor_*`` Prometheus gauges; with ``RECOUP_MONITOR_REFRESH_SECONDS`` set, ``refresh_gauges``
(started in the app's lifespan) recomputes them on that interval, so a scrape sees them current without
anyone calling the endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query

from models.monitoring import MonitoringReport, monitor_store
from service.dependencies import MetricsDep, ModelDep, SettingsDep, StoreDep
from service.model_holder import LoadedModel, ModelHolder
from service.observability import Metrics, describe_exception
from service.recording import StoreHolder
from service.schemas import MODEL_ROUTE_ERRORS, ErrorResponse, ValidationErrorResponse
from service.settings import Settings
from service.store_schemas import MonitoringResponse

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])
logger = logging.getLogger(__name__)


def report_for(store: Any, model: LoadedModel, settings: Settings, since: date | None = None) -> MonitoringReport:
    """The monitoring report of the store's predictions, drift against ``model``'s training profile."""
    profile = (model.bundle.metadata or {}).get("reference_profile")
    return monitor_store(store, profile, thresholds=settings.monitoring_thresholds(), since=since)


def _stored_report(store: StoreHolder, model: LoadedModel, settings: Settings) -> MonitoringReport:
    return report_for(store.get(), model, settings)


async def refresh_gauges(holder: ModelHolder, store: StoreHolder, settings: Settings, metrics: Metrics) -> None:
    """Recompute the gauges every ``monitor_refresh_seconds`` while a model is served; a failure (the
    store is down) is logged and the gauges keep their last values until the next round."""
    while True:
        await asyncio.sleep(settings.monitor_refresh_seconds)
        model = holder.current
        if model is None:
            continue
        try:
            report = await anyio.to_thread.run_sync(_stored_report, store, model, settings)
        except Exception as failure:
            logger.error("refreshing the monitoring gauges failed", extra=describe_exception(failure))
            continue
        set_gauges(metrics, report)


def set_gauges(metrics: Metrics, report: MonitoringReport) -> None:
    """The report as gauges (replacing the previous report's)."""
    metrics.monitor_calibration_gap.clear()
    for payer, row in report.by_payer.iterrows():
        metrics.monitor_calibration_gap.labels(payer_id=str(payer)).set(float(row["gap"]))
    metrics.monitor_drift.clear()
    for _, row in report.drift.iterrows():
        metrics.monitor_drift.labels(feature=str(row["feature"])).set(float(row["psi"]))
    for what, share in report.unknown.items():
        metrics.monitor_unknown_share.labels(what=what).set(share)
    metrics.monitor_pending.set(report.labels["waiting"])
    metrics.monitor_alerts.clear()
    for kind in ("calibration", "drift", "unknown_payer", "unknown_code"):
        metrics.monitor_alerts.labels(kind=kind).set(sum(1 for alert in report.alerts if alert["kind"] == kind))


@router.get(
    "",
    response_model=MonitoringResponse,
    responses={
        **MODEL_ROUTE_ERRORS,
        422: {"model": ValidationErrorResponse, "description": "since is not an ISO date."},
        503: {"model": ErrorResponse, "description": "No model is loaded, or the store is unavailable."},
    },
)
async def get_monitoring(
    store: StoreDep,
    model: ModelDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    since: Annotated[date | None, Query(description="Only predictions with an as_of_date on or after this.")] = None,
) -> Any:
    """Matured predictions' calibration by level, payer and month; labels still awaited; drift; alerts."""
    report = await anyio.to_thread.run_sync(lambda: report_for(store, model, settings, since))
    set_gauges(metrics, report)
    return report.to_dict() | {"model": f"{model.name} v{model.version}"}
