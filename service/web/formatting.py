"""How numbers read on the pages and in the brief (one place for every format)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from models.brief import FAMILY_WORDS


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def dollars(value: Any, missing: str = "n/a") -> str:
    number = _number(value)
    if number is None:
        return missing
    return f"-${-number:,.0f}" if number < 0 else f"${number:,.0f}"


def percent(value: Any, missing: str = "n/a") -> str:
    number = _number(value)
    return missing if number is None else f"{number * 100:.0f}%"


def multiple(value: Any, missing: str = "n/a") -> str:
    number = _number(value)
    return missing if number is None else f"{number:.2f}x"


def days(value: Any, missing: str = "n/a") -> str:
    number = _number(value)
    return missing if number is None else f"{number:,.0f} days"


def count(value: Any, missing: str = "n/a") -> str:
    number = _number(value)
    return missing if number is None else f"{number:,.0f}"


def figure_value(figure: dict[str, Any]) -> str:
    """A brief figure's value in its unit."""
    unit, value = figure["unit"], figure["value"]
    if unit == "date":
        return value or "n/a"
    return {"dollars": dollars, "%": percent, "x": multiple, "days": days, "count": count}[unit](value)


def timestamp(value: Any, missing: str = "") -> str:
    """A Unix time as UTC date and minute."""
    number = _number(value)
    if number is None:
        return missing
    return datetime.fromtimestamp(number, UTC).strftime("%Y-%m-%d %H:%M")


def level_words(level: Any) -> str:
    return str(level).replace("_", " ")


def family_words(family: Any) -> str:
    return FAMILY_WORDS.get(str(family), str(family).replace("_", " "))


FILTERS = {
    "family_words": family_words,
    "dollars": dollars,
    "percent": percent,
    "multiple": multiple,
    "days": days,
    "count": count,
    "figure_value": figure_value,
    "level_words": level_words,
    "timestamp": timestamp,
}
