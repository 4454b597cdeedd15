"""Uptime per component per day, from its status timeline.

Plain module, no Django. A day is a calendar day in the page's time zone; time before the
component existed, or in the future, is not counted at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from heliograph.catalog.status import DEGRADED, MAINTENANCE, MAJOR, OPERATIONAL, PARTIAL


@dataclass(frozen=True)
class UptimePolicy:
    """How much of each status counts as downtime (Statuspage's defaults)."""

    major_weight: float = 1.0
    partial_weight: float = 0.3
    degraded_weight: float = 0.0
    maintenance_counts: bool = False

    def weight(self, status: str) -> float:
        return {
            MAJOR: self.major_weight,
            PARTIAL: self.partial_weight,
            DEGRADED: self.degraded_weight,
            MAINTENANCE: 1.0 if self.maintenance_counts else 0.0,
        }.get(status, 0.0)


@dataclass
class DayUptime:
    day: date
    observed: timedelta = timedelta()
    seconds_by_status: dict[str, float] = field(default_factory=dict)
    uptime: float | None = None  # None: no observed time that day

    @property
    def worst_status(self) -> str:
        order = (OPERATIONAL, MAINTENANCE, DEGRADED, PARTIAL, MAJOR)
        seen = [s for s, secs in self.seconds_by_status.items() if secs > 0]
        return max(seen, key=order.index, default=OPERATIONAL)


def daily_uptime(
    *,
    timeline: Sequence[tuple[datetime, str]],
    since: datetime,
    now: datetime,
    days: Sequence[date],
    zone: ZoneInfo,
    policy: UptimePolicy,
    initial_status: str = OPERATIONAL,
) -> list[DayUptime]:
    """``timeline`` is (at, new_status) oldest first; ``since`` is when the component began."""
    # Days already over do not change with the clock: worked out once per timeline.
    over = tuple(day for day in days if _bounds(day, zone)[1] <= now)
    finished = _days_over(tuple(timeline), since, over, zone, policy, initial_status)
    known = dict(zip(over, finished, strict=True))
    segments = _segments(timeline, since, now, initial_status)
    return [known[day] if day in known else _day(day, segments, zone, policy) for day in days]


@lru_cache(maxsize=1024)
def _days_over(
    timeline: tuple[tuple[datetime, str], ...], since: datetime, days: tuple[date, ...],
    zone: ZoneInfo, policy: UptimePolicy, initial_status: str,
) -> list[DayUptime]:  # fmt: skip
    if not days:
        return []
    end = max(_bounds(day, zone)[1] for day in days)  # any moment after them gives the same
    segments = _segments(timeline, since, end, initial_status)
    return [_day(day, segments, zone, policy) for day in days]


def _segments(
    timeline: Sequence[tuple[datetime, str]], since: datetime, now: datetime, initial: str
) -> list[tuple[datetime, datetime, str]]:
    # All in UTC: subtracting two datetimes that share a zone gives wall-clock time,
    # which is an hour off across a DST change.
    since, now = since.astimezone(UTC), now.astimezone(UTC)
    if since >= now:
        return []  # not begun yet (a future start date): nothing observed
    points = [(since, initial)] + [(at.astimezone(UTC), s) for at, s in timeline if at > since]
    points = [(at, s) for at, s in points if at < now]
    ends = [at for at, _ in points[1:]] + [now]
    return [(start, end, status) for (start, status), end in zip(points, ends, strict=True)]


@lru_cache(maxsize=1024)
def _bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The day's start and end in UTC, so a DST day is observed for its real 23 or 25
    hours (the same 90 days for every component: worked out once)."""
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    return start, datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)


def _day(
    day: date, segments: list[tuple[datetime, datetime, str]], zone: ZoneInfo, policy: UptimePolicy
) -> DayUptime:
    day_start, day_end = _bounds(day, zone)
    result = DayUptime(day)
    lost = 0.0
    for start, end, status in segments:
        overlap = (min(end, day_end) - max(start, day_start)).total_seconds()
        if overlap <= 0:
            continue
        result.observed += timedelta(seconds=overlap)
        result.seconds_by_status[status] = result.seconds_by_status.get(status, 0.0) + overlap
        lost += overlap * policy.weight(status)
    if result.observed:
        result.uptime = 1.0 - lost / result.observed.total_seconds()
    return result


def overall(days: Sequence[DayUptime]) -> float | None:
    """Uptime over several days, weighted by observed time."""
    observed = sum(d.observed.total_seconds() for d in days if d.uptime is not None)
    if not observed:
        return None
    up = sum(d.observed.total_seconds() * (d.uptime or 0.0) for d in days if d.uptime is not None)
    return up / observed
