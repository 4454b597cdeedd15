"""Time formatting shared by every public artifact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


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


def local_clock(value: datetime, zone: ZoneInfo) -> str:
    """``11:57 AM EDT``."""
    local = value.astimezone(zone)
    return local.strftime("%I:%M %p %Z").lstrip("0")


def posted_utc(value: datetime) -> str:
    """``Jul 08, 2021 - 16:04 UTC`` as Statuspage prints update times."""
    return value.astimezone(UTC).strftime("%b %d, %Y - %H:%M UTC")


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
