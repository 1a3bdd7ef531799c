"""Charts as inline SVG, drawn on the server: no chart library, nothing for the browser to fetch.

Each chart is an ``<svg role="img">`` with a title naming what it shows; the pages print the same numbers
in a table beside it, so the chart is never the only way to read them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from service.web.formatting import dollars, level_words

BAR = "#0b4f8a"
NEGATIVE = "#a32020"
INTERVAL = "#1a1a1a"
GRID = "#8a8a8a"
ROW = 26


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    note: str = ""


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def bars(
    items: Sequence[Bar],
    title: str,
    formatter: Callable[[float], str],
    *,
    lower: float | None = None,
    upper: float | None = None,
) -> Markup:
    """Horizontal bars (with an interval where an item has one), labelled with their values."""
    label_width, plot, width = 190, 330, 640
    numbers = [v for item in items for v in (item.value, item.low, item.high) if _finite(v)]
    low = min([0.0, *numbers]) if lower is None else lower
    high = max([0.0, *numbers]) if upper is None else upper
    high = high if high > low else low + 1
    scale = plot / (high - low)

    def x(value: float) -> float:
        return label_width + (min(max(value, low), high) - low) * scale

    body = [f'<line x1="{x(0):.1f}" y1="4" x2="{x(0):.1f}" y2="{ROW * len(items) + 4}" stroke="{GRID}"/>']
    for row, item in enumerate(items):
        top = 6 + row * ROW
        body.append(f'<text x="{label_width - 8}" y="{top + 14}" text-anchor="end">{escape(item.label)}</text>')
        if _finite(item.value):
            start, end = sorted((x(0), x(item.value)))
            color = NEGATIVE if item.value < 0 else BAR
            body.append(
                f'<rect x="{start:.1f}" y="{top + 3}" width="{max(end - start, 1):.1f}" height="14" fill="{color}"/>'
            )
        if _finite(item.low) and _finite(item.high):
            middle, left, right = top + 10, x(item.low), x(item.high)
            body.append(
                f'<line x1="{left:.1f}" y1="{middle}" x2="{right:.1f}" y2="{middle}" '
                f'stroke="{INTERVAL}" stroke-width="2"/>'
                + "".join(
                    f'<line x1="{end:.1f}" y1="{middle - 5}" x2="{end:.1f}" y2="{middle + 5}" stroke="{INTERVAL}"/>'
                    for end in (left, right)
                )
            )
        shown = formatter(item.value) if _finite(item.value) else "n/a"
        body.append(f'<text x="{label_width + plot + 10}" y="{top + 14}">{escape(shown + item.note)}</text>')
    return _svg(width, ROW * len(items) + 10, title, body)


def ladder(steps: Sequence[dict], current_allowed: float) -> Markup:
    """The ladder: each level's net value (bar) and, beside it, the P10-P90 settlement interval of the
    allowed amount given success (line, with the expected amount as a dot and today's allowed as a mark)."""
    shown = [step for step in steps if step["level"] != "none"]
    label_width, panel, gap = 190, 230, 40
    width = label_width + 2 * panel + gap + 20
    height = 30 + ROW * len(shown)
    values = [s["net_value"] for s in shown if _finite(s["net_value"])]
    v_low, v_high = min([0.0, *values]), max([0.0, *values])
    v_high = v_high if v_high > v_low else v_low + 1
    amounts = [current_allowed] + [
        v for s in shown for v in (s["allowed_p10"], s["allowed_p90"], s["expected_allowed"]) if _finite(v)
    ]
    a_low, a_high = 0.0, max(amounts) * 1.05 or 1.0

    def vx(value: float) -> float:
        return label_width + (value - v_low) / (v_high - v_low) * panel

    def ax(value: float) -> float:
        return label_width + panel + gap + (value - a_low) / (a_high - a_low) * panel

    body = [
        f'<text x="{label_width}" y="14">Net value of trying it now</text>',
        f'<text x="{label_width + panel + gap}" y="14">Allowed if it succeeds (P10-P90)</text>',
        f'<line x1="{vx(0):.1f}" y1="20" x2="{vx(0):.1f}" y2="{height}" stroke="{GRID}"/>',
        f'<line x1="{ax(current_allowed):.1f}" y1="20" x2="{ax(current_allowed):.1f}" y2="{height}" stroke="{GRID}" '
        'stroke-dasharray="4 3"/>',
    ]
    for row, step in enumerate(shown):
        top = 22 + row * ROW
        name = level_words(step["level"]) + ("" if step["eligible"] else " (closed)")
        body.append(f'<text x="{label_width - 8}" y="{top + 14}" text-anchor="end">{escape(name)}</text>')
        if _finite(step["net_value"]):
            start, end = sorted((vx(0), vx(step["net_value"])))
            color = NEGATIVE if step["net_value"] < 0 else BAR
            body.append(
                f'<rect x="{start:.1f}" y="{top + 3}" width="{max(end - start, 1):.1f}" height="14" fill="{color}"/>'
            )
        if _finite(step["allowed_p10"]) and _finite(step["allowed_p90"]):
            middle = top + 10
            body.append(
                f'<line x1="{ax(step["allowed_p10"]):.1f}" y1="{middle}" x2="{ax(step["allowed_p90"]):.1f}" '
                f'y2="{middle}" stroke="{INTERVAL}" stroke-width="3"/>'
            )
        if _finite(step["expected_allowed"]):
            body.append(f'<circle cx="{ax(step["expected_allowed"]):.1f}" cy="{top + 10}" r="4" fill="{BAR}"/>')
    title = (
        "Ladder: net value per level and the P10-P90 allowed amount if it succeeds; the dashed line is today's "
        f"allowed amount ({dollars(current_allowed)})"
    )
    return _svg(width, height + 4, title, body)


def calibration(points: Sequence[dict]) -> Markup:
    """Predicted against observed success rate per bin, on the diagonal when calibrated; dot size by count."""
    size, margin = 260, 40
    biggest = max([point["count"] for point in points] or [1])

    def xy(predicted: float, observed: float) -> tuple[float, float]:
        return margin + predicted * size, margin + size - observed * size

    body = [
        f'<rect x="{margin}" y="{margin}" width="{size}" height="{size}" fill="none" stroke="{GRID}"/>',
        f'<line x1="{margin}" y1="{margin + size}" x2="{margin + size}" y2="{margin}" stroke="{GRID}" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{margin + size / 2}" y="{margin + size + 30}" text-anchor="middle">predicted success rate</text>',
        f'<text x="12" y="{margin + size / 2}" transform="rotate(-90 12 {margin + size / 2})" text-anchor="middle">'
        "observed success rate</text>",
    ]
    for tick in (0, 0.5, 1):
        body.append(f'<text x="{margin + tick * size}" y="{margin + size + 14}" text-anchor="middle">{tick:g}</text>')
        body.append(f'<text x="{margin - 6}" y="{margin + size - tick * size + 4}" text-anchor="end">{tick:g}</text>')
    for point in points:
        cx, cy = xy(point["predicted"], point["observed"])
        radius = 3 + 6 * math.sqrt(point["count"] / biggest)
        body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" fill="{BAR}" fill-opacity="0.75"/>')
    title = "Calibration on the test attempts: observed against predicted success rate (diagonal = calibrated)"
    return _svg(size + 2 * margin, size + 2 * margin, title, body)


def wilson(successes: float, attempts: float, z: float = 1.96) -> tuple[float | None, float | None]:
    """The Wilson score interval of a rate (95%)."""
    if not attempts:
        return None, None
    rate = successes / attempts
    centre = (rate + z * z / (2 * attempts)) / (1 + z * z / attempts)
    half = z * math.sqrt(rate * (1 - rate) / attempts + z * z / (4 * attempts * attempts)) / (1 + z * z / attempts)
    return max(0.0, centre - half), min(1.0, centre + half)
