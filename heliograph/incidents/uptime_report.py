"""A component's uptime over a date range, shaped like Statuspage's Manage API response
(GET /pages/{page_id}/components/{component_id}/uptime)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from heliograph.catalog import uptime
from heliograph.catalog.models import Component
from heliograph.catalog.status import MAJOR, PARTIAL
from heliograph.lib.errors import InputError
from heliograph.lib.timefmt import rfc3339

DEFAULT_DAYS = 90
MAX_DAYS = 184  # Statuspage allows six calendar months


def component_uptime(
    *,
    component: Component,
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Uptime, outage seconds and related incidents, computed from the status timeline."""
    if not component.showcase:
        raise InputError(f"component {component.name!r} does not showcase its uptime")
    page = component.page
    zone = page.zone
    now = now or timezone.now()
    today = now.astimezone(zone).date()
    began_at = _began(component)
    began = began_at.astimezone(zone).date()
    start, end, warnings = _range(start, end, today, began)
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    timeline = [(c.at, c.new_status) for c in component.status_changes.order_by("at", "id")]
    result = uptime.daily_uptime(
        timeline=timeline,
        since=began_at,
        now=now,
        days=days,
        zone=zone,
        policy=page.uptime_policy,
    )
    figure = uptime.overall(result)
    if figure is None:
        warnings.append("No time was observed in this range; uptime is shown as 100%.")
    range_start = datetime.combine(start, time(), zone)
    range_end = min(datetime.combine(end + timedelta(days=1), time(), zone), now)
    return {
        "id": component.pk,
        "name": component.name,
        "range_start": rfc3339(range_start, zone),
        "range_end": rfc3339(range_end, zone),
        "uptime_percentage": round((1.0 if figure is None else figure) * 100, 2),
        "major_outage": _seconds(result, MAJOR),
        "partial_outage": _seconds(result, PARTIAL),
        "warnings": warnings,
        "related_events": _related(component, range_start, range_end),
    }


def _range(
    start: date | None, end: date | None, today: date, began: date
) -> tuple[date, date, list[str]]:
    warnings = []
    if end is None or end > today:
        if end is not None:
            warnings.append(
                "End date was adjusted to today. See range_end field in response for end date used."
            )
        end = today
    if start is None:
        start = max(began, end - timedelta(days=DEFAULT_DAYS - 1))
    elif start < began:
        warnings.append(
            "Start date was adjusted to the component's start date. See range_start field in "
            "response for start date used."
        )
        start = began
    if start > end:
        raise InputError("the start date must not be after the end date")
    if (end - start).days + 1 > MAX_DAYS:
        raise InputError("the date range can be at most six months")
    return start, end, warnings


def _began(component: Component) -> datetime:
    if component.start_date:
        return datetime.combine(component.start_date, time(), component.page.zone)
    return component.created_at


def _seconds(days: list[uptime.DayUptime], status: str) -> int:
    return int(sum(d.seconds_by_status.get(status, 0.0) for d in days))


def _related(component: Component, since: datetime, until: datetime) -> list[dict[str, str]]:
    """Incidents that affected the component during the range."""
    incidents = component.incidents.incidents().filter(started_at__lt=until).order_by("started_at")
    return [{"id": i.pk} for i in incidents if i.resolved_at is None or i.resolved_at >= since]
