"""A moment as the page shows it: every text a customer or responder reads formats times
here. English month names and AM/PM whatever the server's locale (strftime's %b and %p
follow it); the page's zone first, UTC beside it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc3339(value: datetime | None, zone: ZoneInfo | None = None) -> str | None:
    """Statuspage style: milliseconds, page offset (``2021-07-08T12:04:00.000-04:00``)."""
    if value is None:
        return None
    local = value.astimezone(zone or UTC)
    text = local.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if zone is None else text


def humanize_duration(delta: timedelta) -> str:
    """``26 min``, ``23 h 39 min``, ``1 d 5 min``: exact to the minute, never rounded away."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "under 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return " ".join(f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "min")) if n)


def short_day(day: date) -> str:
    """``Jul 08``."""
    return f"{MONTHS[day.month - 1]} {day.day:02d}"


def day_text(day: date) -> str:
    """``Jul 08, 2021``."""
    return f"{short_day(day)}, {day.year}"


def local_clock(value: datetime, zone: ZoneInfo) -> str:
    """``11:57 AM EDT``."""
    local = value.astimezone(zone)
    noon = "AM" if local.hour < 12 else "PM"
    return f"{local.hour % 12 or 12}:{local.minute:02d} {noon} {local.tzname()}"


def posted_utc(value: datetime) -> str:
    """``Jul 08, 2021 - 16:04 UTC`` as Statuspage prints update times."""
    utc = value.astimezone(UTC)
    return f"{day_text(utc.date())} - {utc:%H:%M} UTC"


def moment(value: datetime, zone: ZoneInfo) -> str:
    """``Jul 08, 2021 11:57 AM EDT (15:57 UTC)``; the UTC side names its day when it is
    another (``Jul 08, 2021 10:05 PM EDT (Jul 09 02:05 UTC)``)."""
    local, utc = value.astimezone(zone), value.astimezone(UTC)
    on = "" if utc.date() == local.date() else f"{short_day(utc.date())} "
    return f"{day_text(local.date())} {local_clock(value, zone)} ({on}{utc:%H:%M} UTC)"


def parse_time(text: str) -> datetime:
    """ISO 8601 from a user (``2021-07-08 16:04``, ``2021-07-08T12:04-04:00``); UTC if no offset."""
    from heliograph.lib.errors import InputError

    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"cannot read the time {text!r}; write it like 2021-07-08 16:04 (UTC) "
            "or 2021-07-08T12:04-04:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
