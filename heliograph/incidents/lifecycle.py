"""Incident rules: impact, status, impact windows and the duration they add up to.

Plain module, no Django: everything here is a function of the recorded timeline, so
durations are computed, never typed by hand. The vocabulary (kinds, statuses and their
labels) is spelled out here once; the models, forms, API and pages use it from here. It is
a plain ``StrEnum`` with ``label`` and ``choices`` as Django's ``TextChoices`` has them,
because the rules import no Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from heliograph.catalog.status import DEGRADED, MAJOR, OPERATIONAL, PARTIAL
from heliograph.lib.timefmt import humanize_duration


class _Words(StrEnum):
    @property
    def label(self) -> str:
        """As the page writes it: ``in_progress`` → ``In progress``."""
        return self.value.replace("_", " ").capitalize()

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.label) for member in cls]


class Kind(_Words):
    INCIDENT = "incident"
    MAINTENANCE = "maintenance"


class Status(_Words):
    """An incident's or a maintenance's status."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"


S = Status
INCIDENT_STATUSES = (S.INVESTIGATING, S.IDENTIFIED, S.MONITORING, S.RESOLVED, S.POSTMORTEM)
MAINTENANCE_STATUSES = (S.SCHEDULED, S.IN_PROGRESS, S.VERIFYING, S.COMPLETED)
UNRESOLVED = (S.INVESTIGATING, S.IDENTIFIED, S.MONITORING)
RESOLVED = (S.RESOLVED, S.POSTMORTEM)  # shown as postmortem once one is published
ACTIVE_MAINTENANCE = (S.IN_PROGRESS, S.VERIFYING)  # components are under maintenance
OPEN_MAINTENANCE = (S.SCHEDULED, *ACTIVE_MAINTENANCE)  # not over yet
# Still has updates to come, so a reader may subscribe to just this event.
FOLLOWABLE = (*UNRESOLVED, *OPEN_MAINTENANCE)
IMPACTS = ("none", "minor", "major", "critical")
STATUS_LABELS: dict[str, str] = dict(Status.choices())

_IMPACT_OF_STATUS = {DEGRADED: "minor", PARTIAL: "major", MAJOR: "critical"}


def impact_of(component_statuses: Iterable[str], override: str | None = None) -> str:
    """Worst impact among affected component statuses, unless a responder overrode it."""
    if override:
        return override
    ranks = [IMPACTS.index(_IMPACT_OF_STATUS.get(s, "none")) for s in component_statuses]
    return IMPACTS[max(ranks, default=0)]


def current_status(update_statuses: Sequence[str], postmortem_published: bool = False) -> str:
    """The incident's status: its latest update's, shown as ``postmortem`` once one is out.

    ``update_statuses`` is ordered oldest first (by display time).
    """
    if not update_statuses:
        return S.INVESTIGATING
    latest = update_statuses[-1]
    if postmortem_published and latest == S.RESOLVED:
        return S.POSTMORTEM
    return latest


@dataclass(frozen=True)
class StatusStep:
    """One row of a component's status timeline."""

    component: str
    at: datetime
    new_status: str


@dataclass(frozen=True)
class Window:
    """A span during which one component was not operational; ``end`` None = still open."""

    component: str
    start: datetime
    end: datetime | None
    worst_status: str

    def duration(self, now: datetime) -> timedelta:
        return (self.end or now) - self.start


def impact_windows(changes: Iterable[StatusStep]) -> list[Window]:
    """Windows per component from its status changes, ordered by start."""
    windows: list[Window] = []
    open_since: dict[str, tuple[datetime, str]] = {}
    for change in sorted(changes, key=lambda c: c.at):
        started = open_since.get(change.component)
        if change.new_status == OPERATIONAL:
            if started:
                windows.append(Window(change.component, started[0], change.at, started[1]))
                del open_since[change.component]
        elif started:
            open_since[change.component] = (started[0], _worse(started[1], change.new_status))
        else:
            open_since[change.component] = (change.at, change.new_status)
    windows += [Window(c, start, None, worst) for c, (start, worst) in open_since.items()]
    return sorted(windows, key=lambda w: (w.start, w.component))


def _worse(a: str, b: str) -> str:
    order = (OPERATIONAL, "under_maintenance", DEGRADED, PARTIAL, MAJOR)
    return max(a, b, key=order.index)


def total_duration(windows: Iterable[Window], now: datetime) -> timedelta:
    """Time during which anything was impaired: overlapping windows count once."""
    spans = sorted((w.start, w.end or now) for w in windows)
    total = timedelta()
    cursor: datetime | None = None
    for start, end in spans:
        if cursor is not None and start < cursor:
            start = cursor
        if end > start:
            total += end - start
        cursor = end if cursor is None else max(cursor, end)
    return total


_UNIT = r"(?:d(?:ays?)?|h(?:(?:ou)?rs?)?|m(?:in(?:ute)?s?)?)\b"
_AMOUNT = rf"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>{_UNIT})"
# "Total Duration: 26 minutes", "Duration - 1 hour 30 minutes", "Duration: 24 h 5 min"
_DURATION_CLAIM = re.compile(
    rf"duration\s*[:=-]?\s*(?P<parts>(?:\d+(?:\.\d+)?\s*{_UNIT}[\s,]*(?:and\s+)?)+)",
    re.IGNORECASE,
)
_PART = re.compile(_AMOUNT, re.IGNORECASE)
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 24 * 60}


def claimed_duration(text: str) -> timedelta | None:
    """A duration an update's text states (``Total Duration: 26 minutes``), if any."""
    match = _DURATION_CLAIM.search(text)
    if not match:
        return None
    minutes = sum(
        float(part["amount"]) * _UNIT_MINUTES[part["unit"][0].lower()]
        for part in _PART.finditer(match["parts"])
    )
    return timedelta(minutes=minutes)


def contradicts(claim: timedelta, recorded: timedelta) -> bool:
    """A claim more than a minute (or 5 %) off the recorded timeline is worth flagging."""
    tolerance = max(timedelta(minutes=1), recorded * 0.05)
    return abs(claim - recorded) > tolerance


def differs_note(text: str, windows: Sequence[Window], now: datetime) -> str:
    """What the record says, for an update whose text states a different duration."""
    claim = claimed_duration(text)
    if claim is None or not windows:
        return ""
    recorded = total_duration(windows, now)
    if not contradicts(claim, recorded):
        return ""
    ongoing = any(w.end is None for w in windows)
    total = humanize_duration(recorded) + (" so far, and impact is ongoing" if ongoing else "")
    return (
        f"This update states a duration of {humanize_duration(claim)}; "
        f"the recorded impact windows add up to {total}."
    )


def reopens(previous_status: str | None, new_status: str) -> bool:
    """Whether an update with ``new_status`` after ``previous_status`` is a recurrence."""
    return previous_status in RESOLVED and new_status in UNRESOLVED


def status_before(updates: Sequence[tuple[datetime, str]], at: datetime) -> str | None:
    """The status of the latest update displayed at or before ``at`` (oldest first input)."""
    earlier = [status for shown, status in updates if shown <= at]
    return earlier[-1] if earlier else None
