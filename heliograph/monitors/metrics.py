"""The numbers probes measure: kept as metric points, downsampled with age, read back as
series for charts (architecture: Monitors). The arithmetic is in ``monitors.rollup``, the drawing in
``monitors.charts``; this module is the database side.

Retention (``downsample``, which a worker runs every few minutes):

- raw points (one per run) are kept 48 hours, then folded into 5-minute buckets;
- 5-minute buckets are kept 14 days, then folded into hourly buckets;
- hourly buckets are kept 90 days (the uptime bars' span), then deleted;
- ProbeResult rows (the evidence of each run) are kept 14 days.

Each bucket stores the mean, low, high and count of the samples it holds, so folding is
exact and a bucket that receives a late part is merged, never replaced. Every step runs in
its own short transaction under a lock (an advisory lock on PostgreSQL; SQLite's IMMEDIATE
transactions serialise writers), so running the job twice at once, or again after a
crash, changes nothing that was already done.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from heliograph.catalog.models import Page
from heliograph.monitors import charts, rollup
from heliograph.monitors.charts import Sample
from heliograph.monitors.models import FIVE_MINUTES, HOURLY, RAW, MetricPoint, Monitor, ProbeResult

RAW_KEPT = timedelta(hours=48)
FIVE_MINUTES_KEPT = timedelta(days=14)
HOURLY_KEPT = timedelta(days=90)
RESULTS_KEPT = timedelta(days=14)
# How much time one transaction folds: small enough to keep each one short with thousands
# of monitors, large enough that catching up after days off takes few of them.
SLICE = {FIVE_MINUTES: timedelta(minutes=15), HOURLY: timedelta(hours=1)}
CHUNK = 500  # rows per DELETE … WHERE id IN (…)
LOCK_KEY = 0x48_656C_6D74  # "Helmt": one downsampler at a time across PostgreSQL nodes
PUBLIC_HOURS = 24
# 48 columns of 30 minutes, 48 px tall: about half a kilobyte a chart on the public page.
PUBLIC_WIDTH, PUBLIC_HEIGHT = 48 * charts.COLUMN, 48

Series = tuple[str, str]  # (monitor id, value name)


# -- what each kind charts -----------------------------------------------------------------


@dataclass(frozen=True)
class Main:
    """The value a kind is charted and exported by, and where its "slow" line comes from."""

    name: str
    what: str  # "delivery time"
    unit: str  # "s", "ms", "days" or ""
    slow_key: str = ""  # the config key of the slow threshold (defaults: the probes')
    slow_default: float | None = None


MAIN: dict[str, Main] = {
    "mail_roundtrip": Main("delivery_seconds", "delivery time", "s", "slow_seconds", 120.0),
    "http": Main("latency_ms", "response time", "ms", "slow_ms", 2000.0),
    "tcp": Main("latency_ms", "connect time", "ms", "slow_ms", 1000.0),
    "smtp": Main("latency_ms", "SMTP response time", "ms", "slow_ms", 5000.0),
    "dns": Main("latency_ms", "DNS response time", "ms", "slow_ms", 1000.0),
    "tls_certificate": Main("days_left", "days until the certificate expires", "days"),
    "rspamd": Main("scan_time_ms", "scan time", "ms", "scan_slow_ms"),
    "prometheus": Main("value", "query result", ""),
}
FALLBACK = Main("latency_ms", "latency", "ms")


def main_of(monitor: Monitor) -> Main:
    return MAIN.get(monitor.kind, FALLBACK)


def thresholds(monitor: Monitor) -> list[float]:
    """Where "slow" begins for the monitor's main value (none when the kind has no such)."""
    main = main_of(monitor)
    config = monitor.config if isinstance(monitor.config, dict) else {}
    value = config.get(main.slow_key, main.slow_default) if main.slow_key else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return []
    return [float(value)]


# -- writing -------------------------------------------------------------------------------


def finite(values: Mapping[str, Any] | None) -> dict[str, float]:
    """The numbers worth keeping, by name (at most 64 characters): NaN, infinities, booleans
    and anything not a number are left out."""
    kept: dict[str, float] = {}
    for name, value in dict(values or {}).items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and math.isfinite(value):
            kept[str(name)[:64]] = float(value)
    return kept


def record_points(monitor: Monitor, at: datetime, values: Mapping[str, Any]) -> list[MetricPoint]:
    """One raw point per number measured at ``at`` (one INSERT for all of them)."""
    return MetricPoint.objects.bulk_create(
        MetricPoint(
            monitor=monitor,
            name=name,
            resolution=RAW,
            at=at,
            value=value,
            low=value,
            high=value,
            count=1,
        )
        for name, value in finite(values).items()
    )


# -- downsampling --------------------------------------------------------------------------


@dataclass
class Report:
    """What one ``downsample`` pass did (for the worker's log and for tests)."""

    folded: dict[int, int] = field(default_factory=dict)  # source resolution -> rows folded
    expired: int = 0  # points older than the hourly retention
    results: int = 0  # ProbeResult rows pruned

    def __str__(self) -> str:
        raw, five = self.folded.get(RAW, 0), self.folded.get(FIVE_MINUTES, 0)
        return (
            f"{raw} raw and {five} 5-minute points folded, {self.expired} expired, "
            f"{self.results} probe results pruned"
        )


def downsample(now: datetime) -> Report:
    """Fold aged points into coarser buckets and delete what is past retention."""
    report = Report()
    report.folded[RAW] = fold(RAW, FIVE_MINUTES, now - RAW_KEPT)
    report.folded[FIVE_MINUTES] = fold(FIVE_MINUTES, HOURLY, now - FIVE_MINUTES_KEPT)
    with transaction.atomic():
        _lock()
        for resolution in (RAW, FIVE_MINUTES, HOURLY):  # one by one: the point_age index
            aged = MetricPoint.objects.filter(resolution=resolution, at__lt=now - HOURLY_KEPT)
            report.expired += aged.delete()[0]
    report.results = _prune_results(now - RESULTS_KEPT)
    return report


def fold(source: int, target: int, before: datetime) -> int:
    """Fold every ``source`` point of a bucket that ends by ``before`` into ``target``
    buckets, one slice per transaction; returns how many source rows were folded."""
    cutoff = rollup.bucket_start(before, target)
    total = 0
    while (done := _fold_slice(source, target, cutoff)) is not None:
        total += done
    return total


def _fold_slice(source: int, target: int, cutoff: datetime) -> int | None:
    """Fold the oldest slice left before ``cutoff``; None when nothing is left."""
    with transaction.atomic():
        _lock()
        aged = MetricPoint.objects.filter(resolution=source, at__lt=cutoff)
        oldest = aged.aggregate(oldest=Min("at"))["oldest"]
        if oldest is None:
            return None
        start = rollup.bucket_start(oldest, target)
        end = min(cutoff, start + SLICE[target])
        rows = list(
            aged.filter(at__gte=start, at__lt=end).values_list(
                "id", "monitor_id", "name", "at", "value", "low", "high", "count"
            )
        )
        fresh = rollup.rollup(
            (((m, n), at, rollup.Aggregate(v, lo, hi, c)) for _, m, n, at, v, lo, hi, c in rows),
            target,
        )
        _store(target, start, end, fresh)
        _delete_ids([row[0] for row in rows])
        return len(rows)


def _store(
    target: int, start: datetime, end: datetime, fresh: dict[tuple[Series, datetime], Any]
) -> None:
    """Write ``fresh`` buckets, merged into the ones already stored for the same time."""
    stored = {
        ((p.monitor_id, p.name), p.at): p
        for p in MetricPoint.objects.filter(resolution=target, at__gte=start, at__lt=end)
    }
    merged = rollup.merge({k: _aggregate(p) for k, p in stored.items()}, fresh)
    changed: list[MetricPoint] = []
    created: list[MetricPoint] = []
    for ((monitor_id, name), at), part in merged.items():
        point = stored.get(((monitor_id, name), at)) or MetricPoint(
            monitor_id=monitor_id, name=name, resolution=target, at=at
        )
        point.value, point.low, point.high, point.count = part.mean, part.low, part.high, part.count
        (changed if point.pk else created).append(point)
    MetricPoint.objects.bulk_update(changed, ["value", "low", "high", "count"], batch_size=CHUNK)
    MetricPoint.objects.bulk_create(created, batch_size=CHUNK)


def _aggregate(point: MetricPoint) -> rollup.Aggregate:
    return rollup.Aggregate(point.value, point.low, point.high, max(point.count, 1))


def _delete_ids(ids: Sequence[int]) -> None:
    for n in range(0, len(ids), CHUNK):
        MetricPoint.objects.filter(pk__in=ids[n : n + CHUNK]).delete()


def _prune_results(before: datetime) -> int:
    """Delete ProbeResult rows older than ``before``, monitor by monitor (each delete uses
    the monitor's recent-results index, and holds a write lock only briefly)."""
    total = 0
    for monitor_id in Monitor.objects.values_list("pk", flat=True):
        total += ProbeResult.objects.filter(monitor_id=monitor_id, at__lt=before).delete()[0]
    return total


def _lock() -> None:
    """Serialise downsamplers (inside a transaction; released when it ends)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


# -- reading -------------------------------------------------------------------------------


def series(monitor: Monitor | str, name: str, since: datetime, until: datetime) -> list[Sample]:
    """``name``'s points from ``since`` to ``until``, oldest first, at the finest resolution
    there is for each stretch (raw where raw is kept, then 5-minute, then hourly)."""
    monitor_id = monitor.pk if isinstance(monitor, Monitor) else monitor
    rows = MetricPoint.objects.filter(
        monitor_id=monitor_id, name=name, at__gte=since, at__lte=until
    ).values_list("resolution", "at", "value", "low", "high")
    return finest((r, Sample(at, v, lo, hi)) for r, at, v, lo, hi in rows)


def finest(points: Iterable[tuple[int, Sample]]) -> list[Sample]:
    """Each resolution only before the first point of a finer one: where raw points begin,
    the 5-minute buckets that hold them are not shown again (and so on)."""
    by_resolution: dict[int, list[Sample]] = {}
    for resolution, sample in points:
        by_resolution.setdefault(resolution, []).append(sample)
    kept: list[Sample] = []
    finer_from: datetime | None = None
    for resolution in sorted(by_resolution):  # raw (0) first, then coarser
        found = sorted(by_resolution[resolution])
        kept += [s for s in found if finer_from is None or s.at < finer_from]
        if found:
            finer_from = found[0].at if finer_from is None else min(finer_from, found[0].at)
    return sorted(kept)


def monitor_chart_svg(
    monitor: Monitor,
    name: str | None = None,
    hours: float = 24,
    *,
    now: datetime | None = None,
    width: int = 600,
    height: int = 120,
) -> SafeString:
    """The console's chart of one of the monitor's values (its main one by default) over the
    last ``hours``: an accessible inline SVG, safe to put in a template as it is."""
    main = main_of(monitor)
    until = now or timezone.now()
    since = until - timedelta(hours=hours)
    name = name or main.name
    unit = main.unit if name == main.name else _unit_of(name)
    label = f"{monitor.name}: {main.what if name == main.name else name.replace('_', ' ')}"
    limits = thresholds(monitor) if name == main.name else []
    points = series(monitor, name, since, until)
    svg = charts.line_chart(points, width, height, unit, limits, label, (since, until))
    return mark_safe(svg)  # built by charts.line_chart: every text in it is escaped


def _unit_of(name: str) -> str:
    """A value's unit from its name: ``…_ms``, ``…_seconds``, ``days_…``."""
    if name.endswith("_ms"):
        return "ms"
    if name.endswith("_seconds"):
        return "s"
    return "days" if name.startswith("days_") else ""


# -- the public page -----------------------------------------------------------------------


@dataclass(frozen=True)
class PublicChart:
    """A public monitor's main value over the last day, as the public page draws it."""

    title: str  # the monitor's name
    what: str  # "delivery time"
    unit: str
    points: list[Sample]
    thresholds: list[float]
    since: datetime
    until: datetime

    def svg(self, width: int = PUBLIC_WIDTH, height: int = PUBLIC_HEIGHT) -> str:
        """Unstyled (the page includes ``charts.CSS`` once): a light chart for every reader."""
        label, span = f"{self.title}, {self.what}", (self.since, self.until)
        return charts.line_chart(
            self.points, width, height, self.unit, self.thresholds, label, span, styled=False
        )


def public_charts(page: Page, now: datetime) -> dict[str, list[PublicChart]]:
    """Component id -> the charts of its public monitors (by name), in two queries."""
    monitors = list(
        Monitor.objects.filter(page=page, public=True, component__isnull=False).order_by("name")
    )
    since = now - timedelta(hours=PUBLIC_HOURS)
    wanted = {(m.pk, main_of(m).name) for m in monitors}
    rows = MetricPoint.objects.filter(
        monitor__in=monitors, at__gte=since, at__lte=now, name__in={n for _, n in wanted}
    ).values_list("monitor_id", "name", "resolution", "at", "value", "low", "high")
    found: dict[Series, list[tuple[int, Sample]]] = {}
    for monitor_id, name, resolution, at, v, lo, hi in rows:
        found.setdefault((monitor_id, name), []).append((resolution, Sample(at, v, lo, hi)))
    result: dict[str, list[PublicChart]] = {}
    for m in monitors:
        main = main_of(m)
        points = finest(found.get((m.pk, main.name), []))
        chart = PublicChart(m.name, main.what, main.unit, points, thresholds(m), since, now)
        result.setdefault(str(m.component_id), []).append(chart)
    return result


def housekeeping(now: datetime) -> Report:
    """What the worker runs every few minutes (the publisher moves the charts' window:
    ``publish.publisher.refresh_public_charts``)."""
    return downsample(now)
