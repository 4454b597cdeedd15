"""Inline SVG line charts of metric points (architecture: Wire formats, Monitors). Pure: no Django,
no clock.

Built to be light enough for the public page (which must stay under 50 KB with 20
components): one ``<path>`` per chart in whole-number relative steps (flat stretches as a
single ``h``), the points reduced to one per column (the column's worst value, so a spike
is never averaged away), no element per point. Readable without seeing it: ``role="img"``
with a summary in ``aria-label`` ("Inbound delivery time, last 24 h: median 4 s, max
9 min"), repeated in a ``<title>`` tooltip when the chart carries its own styling.

Layout: an outer ``<svg>`` as wide as its container and ``height`` pixels tall holds the
top and bottom labels of the scale (in pixels, never stretched); an inner one stretches the
plot to fit (``preserveAspectRatio="none"``, strokes kept thin by ``non-scaling-stroke``).
The line breaks where there is no data: where the time between two samples is more than
three times their usual spacing. Dashed lines mark thresholds (where "slow" begins) when
the data comes near them.

``styled=True`` (the console) puts colours and sizes on the elements; the public page
passes ``styled=False`` and includes ``CSS`` once instead, which keeps each chart small.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from typing import NamedTuple

COLUMN = 4  # plot units per column: width 600 → at most 150 points on the path
PAD = 4  # plot units kept free above and below the line
GAP_FACTOR = 3.0  # a pause longer than this many usual spacings breaks the line
HEADROOM = 1.1  # thresholds are drawn when they fall within the data's range (+10%)
LINE = "#0969da"
THRESHOLD = "#bf8700"
MUTED = "#59636e"
_LINE_ATTRS = (
    f'fill="none" stroke="{LINE}" stroke-width="1.5" stroke-linecap="round" '
    'stroke-linejoin="round" vector-effect="non-scaling-stroke"'
)
_THRESHOLD_ATTRS = f'stroke="{THRESHOLD}" stroke-dasharray="4 3" vector-effect="non-scaling-stroke"'
_TEXT_ATTRS = f'font-size="11" fill="{MUTED}" stroke="#fff" stroke-width="3" paint-order="stroke"'
# The same, once per page, for charts drawn with styled=False (no quotes: safe in <style>).
CSS = (
    ".chart{display:block;margin:.2rem 0 .4rem;background:#f6f8fa}"
    f".chart path{{fill:none;stroke:{LINE};stroke-width:1.5px;stroke-linecap:round;"
    "stroke-linejoin:round;vector-effect:non-scaling-stroke}"
    f".chart line{{stroke:{THRESHOLD};stroke-dasharray:4 3;vector-effect:non-scaling-stroke}}"
    f".chart text{{font-size:11px;fill:{MUTED};stroke:#fff;stroke-width:3px;paint-order:stroke}}"
)


class Sample(NamedTuple):
    """One stored point: its bucket's start, the mean, the lowest and highest value."""

    at: datetime
    value: float
    low: float
    high: float


Point = Sample | tuple[datetime, float]


# -- words ---------------------------------------------------------------------------------


def _number(value: float) -> str:
    """Two significant figures below 10, whole numbers above: "4", "4.2", "0.35", "120"."""
    if value == 0 or abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.2g}" if abs(value) < 1 else f"{value:.1f}".removesuffix(".0")


def spoken(value: float, unit: str) -> str:
    """A value as people read it: "4 s", "9 min", "1.5 h", "120 ms", "12 days"."""
    if unit == "ms":
        return f"{_number(value)} ms" if abs(value) < 1000 else spoken(value / 1000, "s")
    if unit == "s":
        for size, name in ((3600, "h"), (60, "min")):
            if abs(value) >= size:
                return f"{_number(value / size)} {name}"
        return f"{_number(value)} s"
    return f"{_number(value)} {unit}".strip()


def span_words(span: timedelta) -> str:
    """ "last 24 h", "last 7 days", "last 90 min"."""
    minutes = span.total_seconds() / 60
    if minutes < 120:
        return f"last {minutes:.0f} min"
    if minutes < 48 * 60:
        return f"last {minutes / 60:.0f} h"
    return f"last {minutes / 1440:.0f} days"


def summary(label: str, points: Sequence[Point], unit: str, span: timedelta) -> str:
    """The chart in one sentence: median and maximum over the span (or "no data")."""
    head = f"{label}, {span_words(span)}" if label else span_words(span).capitalize()
    if not points:
        return f"{head}: no data"
    median = statistics.median(p[1] for p in points)
    top = max(_high(p) for p in points)
    return f"{head}: median {spoken(median, unit)}, max {spoken(top, unit)}"


def _high(point: Point) -> float:
    return point.high if isinstance(point, Sample) else point[1]


# -- geometry ------------------------------------------------------------------------------


class Column(NamedTuple):
    slot: int
    first: datetime  # the first and last sample in it, to tell pauses from columns
    last: datetime
    worst: float


def columns(points: Sequence[Point], since: datetime, until: datetime, count: int) -> list[Column]:
    """The columns that have data, each with its worst (highest) value."""
    seconds = max((until - since).total_seconds(), 1.0)
    found: dict[int, Column] = {}
    for point in sorted(points, key=lambda p: p[0]):
        at, value = point[0], point[1]
        if not since <= at <= until or not math.isfinite(value):
            continue
        index = min(int((at - since).total_seconds() / seconds * count), count - 1)
        seen = found.get(index)
        if seen is None:
            found[index] = Column(index, at, at, value)
        else:
            found[index] = seen._replace(last=at, worst=max(seen.worst, value))
    return [found[index] for index in sorted(found)]


def gap_limit(points: Sequence[Point]) -> timedelta:
    """How long a pause between samples may be and still be drawn as a line."""
    times = sorted(p[0] for p in points)
    steps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    usual = statistics.median([s for s in steps if s > 0] or [60.0])
    return timedelta(seconds=usual * GAP_FACTOR)


def path_data(cols: Sequence[Column], limit: timedelta, step: float, scale: Scale) -> str:
    """The line through the columns (``step`` plot units apart), in relative whole-number
    steps; a pause between samples longer than ``limit`` starts a new line (``M``). A lone
    point is drawn as a dot: a zero-length line with round caps."""
    runs: list[list[tuple[int, int]]] = []
    previous: Column | None = None
    for col in cols:
        xy = (int((col.slot + 0.5) * step), scale(col.worst))
        if previous is None or col.first - previous.last > limit:
            runs.append([xy])
        else:
            runs[-1].append(xy)
        previous = col
    return "".join(_run(run) for run in runs)


def _run(run: Sequence[tuple[int, int]]) -> str:
    """``M x y`` then relative steps, ``l dx dy …``, with flat stretches merged into ``h``."""
    (x, y), rest = run[0], run[1:]
    out = f"M{x} {y}"
    if not rest:
        return out + "h0"
    drawing, flat = False, 0  # in an "l" command; the flat stretch not written yet
    for nx, ny in rest:
        if ny == y:
            flat += nx - x
        else:
            if flat:
                out, drawing, flat = out + f"h{flat}", False, 0
            pair = f"{nx - x} {ny - y}".replace(" -", "-")
            out += f" {pair}" if drawing else f"l{pair}"
            drawing = True
        x, y = nx, ny
    return out + (f"h{flat}" if flat else "")


class Scale:
    """Values to plot units, top to bottom: ``high`` at ``PAD``, ``low`` at height - PAD."""

    def __init__(self, low: float, high: float, height: int) -> None:
        self.low, self.high, self.height = low, high if high > low else low + 1.0, height

    def __call__(self, value: float) -> int:
        share = (value - self.low) / (self.high - self.low)
        return round(self.height - PAD - share * (self.height - 2 * PAD))


# -- the chart -----------------------------------------------------------------------------


def line_chart(
    points: Sequence[Point],
    width: int = 600,
    height: int = 64,
    unit: str = "",
    thresholds: Sequence[float] | None = None,
    label: str = "",
    span: tuple[datetime, datetime] | None = None,
    *,
    styled: bool = True,
) -> str:
    """An SVG line chart of ``(at, value)`` points (or Samples) over ``span`` (default: the
    points' own first to last time). ``width`` is in plot units (a point per ``COLUMN``),
    ``height`` in pixels; ``thresholds`` are dashed lines (e.g. where "slow" begins)."""
    times = [p[0] for p in points]
    since, until = span or (min(times, default=_ZERO), max(times, default=_ZERO))
    said = escape(summary(label, _within(points, since, until), unit, until - since))
    head = f'<svg class="chart" width="100%" height="{height}" role="img" aria-label="{said}">'
    head += f"<title>{said}</title>" if styled else ""
    count = max(width // COLUMN, 1)
    cols = columns(points, since, until, count)
    if not cols:
        empty = f'<text x="50%" y="55%" text-anchor="middle"{_attrs(styled, _TEXT_ATTRS)}>'
        return f"{head}{empty}No data</text></svg>"
    values = [c.worst for c in cols]
    low, high = min(0.0, min(values)), max(values)
    drawn = [t for t in thresholds or () if low < t <= max(high, low) * HEADROOM]
    scale = Scale(low, max([high, *drawn]), height)
    lines = "".join(
        f'<line x2="{width}" y1="{scale(t)}" y2="{scale(t)}"{_attrs(styled, _THRESHOLD_ATTRS)}/>'
        for t in drawn
    )
    d = path_data(cols, gap_limit(points), width / count, scale)
    plot = (
        f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none">{lines}'
        f'<path d="{d}"{_attrs(styled, _LINE_ATTRS)}/></svg>'
    )
    return head + plot + _labels(scale, unit, height, styled) + "</svg>"


def _attrs(styled: bool, attrs: str) -> str:
    return f" {attrs}" if styled else ""


def _labels(scale: Scale, unit: str, height: int, styled: bool) -> str:
    """The top and bottom of the scale, at the left edge, haloed so the line stays legible."""
    style = _attrs(styled, _TEXT_ATTRS)
    top, bottom = escape(spoken(scale.high, unit)), escape(spoken(scale.low, unit))
    return (
        f'<text x="2" y="11"{style}>{top}</text><text x="2" y="{height - 2}"{style}>{bottom}</text>'
    )


def _within(points: Sequence[Point], since: datetime, until: datetime) -> list[Point]:
    return [p for p in points if since <= p[0] <= until and math.isfinite(p[1])]


_ZERO = datetime.fromtimestamp(0, UTC)
