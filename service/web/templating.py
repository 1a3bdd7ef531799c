"""The Jinja2 environment of the pages and the brief: autoescaped, with the number formats as filters."""

from __future__ import annotations

from fastapi.templating import Jinja2Templates

from service.web import STATIC_PREFIX, TEMPLATES_DIR
from service.web.formatting import FILTERS

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters.update(FILTERS)
templates.env.globals["static"] = STATIC_PREFIX
