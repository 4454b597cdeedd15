"""Readable labels for stored status codes, and moments in the page's zone with UTC beside."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template

from heliograph.catalog.status import COMPONENT_STATUS_LABELS
from heliograph.incidents.lifecycle import STATUS_LABELS

register = template.Library()
LABELS = {**STATUS_LABELS, **COMPONENT_STATUS_LABELS}


@register.filter
def label(code: str) -> str:
    """``degraded_performance`` → ``Degraded Performance``; unknown codes unchanged."""
    return LABELS.get(code, code)


@register.filter
def both(value: datetime | None, zone: str) -> str:
    """``2021-07-08 11:57 EDT (15:57 UTC)``: the page's zone first, as on the public page."""
    if not isinstance(value, datetime):
        return ""
    try:
        local = value.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        local = value.astimezone(UTC)
    utc = value.astimezone(UTC)
    on = "" if utc.date() == local.date() else f"{utc:%m-%d} "
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({on}{utc:%H:%M} UTC)"
