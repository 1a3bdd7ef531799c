"""A JSON response rendered by pydantic-core's serializer (Rust): the same compact bytes as Starlette's
``JSONResponse`` (UTF-8, no spaces) in about a sixth of the time, which the single-claim route, with
about half a millisecond to spend per request, notices."""

from __future__ import annotations

from typing import Any

import pydantic_core
from fastapi.responses import JSONResponse


class CompactJSONResponse(JSONResponse):
    """``JSONResponse`` with pydantic-core's ``to_json``. The bodies sent are built from the structured
    result, whose missing numbers are already ``None``; a non-finite float, which JSON cannot hold, is
    sent as ``null`` rather than as Python's invalid ``NaN``."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content, inf_nan_mode="null")
