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


Timeline = tuple[tuple[datetime, str], ...]  # (moment, new status), oldest first
# A component's column of days: its timeline, when it began, the status it began in.
Column = tuple[Timeline, datetime, str]


def merged_daily_uptime(
    *,
    columns: Sequence[Column],
    now: datetime,
    days: Sequence[date],
    zone: ZoneInfo,
    policy: UptimePolicy,
) -> list[DayUptime]:
    """Several components' days added together (a group's bars), as ``merge_days`` of
    each one's ``daily_uptime``; days already over worked out once per set of timelines."""
    over = tuple(day for day in days if _bounds(day, zone)[1] <= now)
    known = dict(zip(over, _merged_over(tuple(columns), over, zone, policy), strict=True))
    rest = [day for day in days if day not in known]
    fresh = merge_days(
        [
            [_day(day, _segments(t, since, now, first), zone, policy) for day in rest]
            for t, since, first in columns
        ]
    )
    known.update(zip(rest, fresh, strict=True))
    return [known[day] for day in days]


def overall_uptime(
    *, column: Column, now: datetime, days: Sequence[date], zone: ZoneInfo, policy: UptimePolicy
) -> float | None:
    """``overall`` of the column's ``daily_uptime``, the days already over summed once."""
    timeline, since, first = column
    over = tuple(day for day in days if _bounds(day, zone)[1] <= now)
    observed, up = _totals_over(timeline, since, over, zone, policy, first)
    segments = _segments(timeline, since, now, first)
    for day in set(days) - set(over):
        result = _day(day, segments, zone, policy)
        if result.uptime is not None:
            observed += result.observed.total_seconds()
            up += result.observed.total_seconds() * result.uptime
    return up / observed if observed else None


@lru_cache(maxsize=1024)
def _totals_over(
    timeline: Timeline,
    since: datetime,
    days: tuple[date, ...],
    zone: ZoneInfo,
    policy: UptimePolicy,
    first: str,
) -> tuple[float, float]:
    """Seconds observed, and seconds up, over these days."""
    finished = _days_over(timeline, since, days, zone, policy, first)
    counted = [(d.observed.total_seconds(), d.uptime) for d in finished if d.uptime is not None]
    return sum(s for s, _ in counted), sum(s * up for s, up in counted)


@lru_cache(maxsize=256)
def _merged_over(
    columns: tuple[Column, ...], days: tuple[date, ...], zone: ZoneInfo, policy: UptimePolicy
) -> list[DayUptime]:
    return merge_days(
        [_days_over(t, since, days, zone, policy, first) for t, since, first in columns]
    )


def merge_days(columns: Sequence[Sequence[DayUptime]]) -> list[DayUptime]:
    """Each day of several columns as one: observed time and status seconds added."""
    merged = []
    for same_day in zip(*columns, strict=True):
        result = DayUptime(same_day[0].day)
        up = 0.0
        for member in same_day:
            if member.uptime is None:
                continue
            result.observed += member.observed
            up += member.observed.total_seconds() * member.uptime
            for status, secs in member.seconds_by_status.items():
                result.seconds_by_status[status] = result.seconds_by_status.get(status, 0) + secs
        if result.observed:
            result.uptime = up / result.observed.total_seconds()
        merged.append(result)
    return merged


@lru_cache(maxsize=1024)
def _days_over(
    timeline: tuple[tuple[datetime, str], ...],
    since: datetime,
    days: tuple[date, ...],
    zone: ZoneInfo,
    policy: UptimePolicy,
    initial_status: str,
) -> list[DayUptime]:
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
