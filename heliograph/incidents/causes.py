"""Which earlier changes and maintenances may have caused an incident, and how to say so.

Plain module, no Django: a cause is related when it began in the hours before the incident
did (or, for a maintenance, was still running then).
"""

from __future__ import annotations

from datetime import datetime, timedelta


def is_related(
    cause_start: datetime, cause_end: datetime | None, incident_start: datetime, hours: float
) -> bool:
    """Began no later than the incident and within ``hours`` before it, or still running."""
    if cause_start > incident_start:
        return False
    since = incident_start - timedelta(hours=hours)
    return cause_start >= since or (cause_end is not None and cause_end >= since)


def spoken(delta: timedelta) -> str:
    """``3 minutes``, ``1 hour 5 minutes``, ``2 days 1 hour``: whole minutes, in words."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (mins, "minute")]
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n)


def relation(what: str, cause_start: datetime, incident_start: datetime) -> str:
    """``began 3 minutes after maintenance "Rspam upgrade" started``."""
    delta = incident_start - cause_start
    if delta < timedelta(minutes=1):
        return f"began within a minute of {what}"
    return f"began {spoken(delta)} after {what}"
