"""History pages by calendar quarter: each page bounded, old ones never re-rendered.

A quarter is named ``2021-q3`` (sortable as text); an incident belongs to the quarter it
started in, in the page's time zone. Pure rules, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def quarter_of(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.year:04d}-q{(local.month - 1) // 3 + 1}"


def label(key: str) -> str:
    """``July – September 2021``."""
    year, quarter = key.split("-q")
    first = (int(quarter) - 1) * 3
    return f"{MONTH_NAMES[first]} – {MONTH_NAMES[first + 2]} {year}"


def path(key: str) -> str:
    return f"/history/{key}"


def neighbours(keys: Iterable[str], key: str) -> tuple[str | None, str | None]:
    """The nearest quarter with incidents before ``key`` and after it."""
    ordered = sorted(set(keys))
    older = [k for k in ordered if k < key]
    newer = [k for k in ordered if k > key]
    return (older[-1] if older else None, newer[0] if newer else None)


def latest(keys: Iterable[str], current: str) -> str:
    """The quarter ``/history`` shows: the newest up to the current one that had incidents
    (the current one when none had)."""
    return max((k for k in keys if k <= current), default=current)


def changed_neighbours(before: Iterable[str], after: Iterable[str]) -> set[str]:
    """Quarters (of ``after``) whose older/newer links differ between the two sets."""
    old, new = set(before), set(after)
    return {k for k in new if k not in old or neighbours(old, k) != neighbours(new, k)}
