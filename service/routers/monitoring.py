"""``GET /v1/monitoring``: placeholder replaced below."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])
