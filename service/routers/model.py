"""``/v1/model``: which model version is served, its training window and metrics."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
from fastapi import APIRouter

from service.dependencies import ModelDep
from service.schemas import MODEL_ROUTE_ERRORS, ModelInfo

router = APIRouter(prefix="/v1/model", tags=["model"])


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _window(value: Any) -> list[str] | None:
    return [str(part) for part in value] if isinstance(value, (list, tuple)) else None


@router.get("", response_model=ModelInfo, responses=MODEL_ROUTE_ERRORS)
async def model_info(model: ModelDep) -> ModelInfo:
    """Describe the served model: version, training and test windows, test metrics and the policy."""
    metadata = model.bundle.metadata or {}
    return ModelInfo(
        name=model.name,
        version=model.version,
        uri=model.target.uri,
        run_id=metadata.get("run_id") or model.target.run_id,
        loaded_at=model.loaded_at,
        training_window=_window(metadata.get("training_window")),
        test_window=_window(metadata.get("test_window")),
        metrics={str(name): _finite(value) for name, value in (metadata.get("metrics") or {}).items()},
        policy=model.policy.model_dump(),
        rules_in_force=[_rule(row) for row in model.policy.rules_in_force(np.datetime64(datetime.now(UTC).date()))],
    )


def _rule(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the rules table as JSON: blank cells (no range, no end date) as null."""
    return {name: None if _blank(value) else value for name, value in row.items()}


def _blank(value: Any) -> bool:
    return value == "" or (isinstance(value, float) and not math.isfinite(value))
