"""What a run of samples means: per-path hysteresis, the component blend, incident rules.

Plain module, no Django (architecture: Pure rules, Monitors): everything here is a function of the
verdicts seen and of a clock passed in, tested directly with hypothesis. ``monitors.automation``
applies the answers to the database.

A *path* is what one monitor watches (one MX of a cluster, one mailbox route). Its state
holds the status it vouches for and the streaks that move it:

- ``slow`` and ``fail`` are *bad*. Two bad samples in a row: ``degraded``. Three ``fail``
  samples in a row: ``down``. A down path whose failures turn into two ``slow`` samples in
  a row steps back to ``degraded`` (mail flows again, slowly).
- Only three ``ok`` samples in a row bring a path back to ``operational``.
- ``hold`` (between the recovery and alarm thresholds: not healthy, not alarming) breaks an
  ok streak and is transparent to bad streaks: it neither adds to them nor resets them, so
  ``slow, hold, slow`` is two bad samples in a row. It never changes the status itself.
- ``unknown`` (the prober's own fault) changes nothing — no status, no streak — and raises
  the operator alert flag, which the next known verdict clears.

A component fed by several paths blends them: no opinion while it is under maintenance,
``major_outage`` when every path is down, ``partial_outage`` when some are,
``degraded_performance`` when any is degraded, else ``operational``.

Not every monitor watches a path. A *signal* (a loop detector, a Prometheus query) says
something about the paths without being one customers' traffic can take, so it never
counts as a working path: a signal that is degraded or down raises the component to the
signal's severity (``degraded_performance`` unless configured worse) and otherwise says
nothing. Signals only ever make the blend worse; with every path down it is
``major_outage`` whatever the signals say.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from heliograph.catalog.status import DEGRADED, MAJOR, OPERATIONAL, PARTIAL
from heliograph.incidents.lifecycle import RESOLVED, Status
from heliograph.monitors.probes.base import FAIL, HOLD, OK, SLOW, UNKNOWN, VERDICTS

# A path's own statuses.
UP, DEGRADED_PATH, DOWN = "operational", "degraded", "down"
PATH_STATUSES = (UP, DEGRADED_PATH, DOWN)

# Component statuses, least to most severe (``under_maintenance`` is never the probes' to set).
SEVERITY = (OPERATIONAL, DEGRADED, PARTIAL, MAJOR)

STREAK_CAP = 1000  # streaks stop counting here: the thresholds are far below

# Incident statuses the rules care about.
MONITORING = Status.MONITORING
QUIET_PERIOD = timedelta(minutes=15)
REOPEN_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class Thresholds:
    degrade_after: int = 2  # bad (slow or fail) samples in a row
    down_after: int = 3  # fail samples in a row
    recover_after: int = 3  # ok samples in a row
    ease_after: int = 2  # slow samples in a row that take a down path back to degraded


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class PathState:
    """One path's memory: the status it vouches for and its streaks."""

    status: str = UP
    bad: int = 0  # slow or fail in a row (hold is transparent)
    fails: int = 0  # fail in a row (hold is transparent)
    slows: int = 0  # slow in a row (hold is transparent)
    oks: int = 0  # ok in a row
    alert: bool = False  # the latest sample was ``unknown``: operators should look
    known: bool = False  # a known verdict (not ``unknown``) has been seen at all

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> PathState:
        """The state stored on a monitor row; missing or odd fields fall back to defaults."""
        data = data or {}
        status = data.get("status")
        counts = {k: _count(data.get(k)) for k in ("bad", "fails", "slows", "oks")}
        return cls(
            status=status if status in PATH_STATUSES else UP,
            alert=bool(data.get("alert", False)),
            known=bool(data.get("known", False)),
            **counts,
        )


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, min(value, STREAK_CAP))


def _inc(n: int) -> int:
    return min(n + 1, STREAK_CAP)


def step(state: PathState, verdict: str, rules: Thresholds = DEFAULT_THRESHOLDS) -> PathState:
    """The path's state after one more sample."""
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    if verdict == UNKNOWN:
        return replace(state, alert=True)
    seen = replace(state, alert=False, known=True)
    if verdict == HOLD:
        return replace(seen, oks=0)
    if verdict == OK:
        oks = _inc(state.oks)
        status = UP if oks >= rules.recover_after else state.status
        return replace(seen, status=status, oks=oks, bad=0, fails=0, slows=0)
    bad = _inc(state.bad)
    fails = _inc(state.fails) if verdict == FAIL else 0
    slows = _inc(state.slows) if verdict == SLOW else 0
    after = replace(seen, oks=0, bad=bad, fails=fails, slows=slows)
    return replace(after, status=_bad_status(after, rules))


def _bad_status(state: PathState, rules: Thresholds) -> str:
    """The status after a bad sample, from the streaks it left."""
    if state.fails >= rules.down_after:
        return DOWN
    if state.status == DOWN:
        return DEGRADED_PATH if state.slows >= rules.ease_after else DOWN
    if state.bad >= rules.degrade_after:
        return DEGRADED_PATH
    return state.status


def run(
    verdicts: Iterable[str], state: PathState | None = None, rules: Thresholds = DEFAULT_THRESHOLDS
) -> PathState:
    """The state after a series of samples (from a fresh path unless ``state`` is given)."""
    state = state or PathState()
    for verdict in verdicts:
        state = step(state, verdict, rules)
    return state


# --- the component -------------------------------------------------------------------------


# What a monitor is to the component it feeds (see the module doc).
PATH, SIGNAL = "path", "signal"
ROLES = (PATH, SIGNAL)
# How bad a signal in trouble may make its component.
SIGNAL_SEVERITIES = (DEGRADED, PARTIAL, MAJOR)


@dataclass(frozen=True)
class Signal:
    """A detector's own path state, and the component status it stands for when impaired."""

    status: str
    severity: str = DEGRADED

    def __post_init__(self) -> None:
        if self.status not in PATH_STATUSES:
            raise ValueError(f"unknown path status {self.status!r}")
        if self.severity not in SIGNAL_SEVERITIES:
            raise ValueError(f"a signal's severity is one of {', '.join(SIGNAL_SEVERITIES)}")

    @property
    def raises(self) -> str:
        """The least the component shows because of this signal."""
        return OPERATIONAL if self.status == UP else self.severity


def component_status(
    path_statuses: Iterable[str], under_maintenance: bool, signals: Iterable[Signal] = ()
) -> str | None:
    """The component status its paths and signals vouch for; None = no opinion (maintenance,
    or nothing known)."""
    statuses, raised = list(path_statuses), [s.raises for s in signals]
    if under_maintenance or not (statuses or raised):
        return None
    return max([_paths_status(statuses), *raised], key=rank)


def _paths_status(statuses: list[str]) -> str:
    """The paths alone (none: nothing against operational, since a signal spoke)."""
    down = statuses.count(DOWN)
    if down and down == len(statuses):
        return MAJOR
    if down:
        return PARTIAL
    if DEGRADED_PATH in statuses:
        return DEGRADED
    return OPERATIONAL


def rank(status: str | None) -> int:
    """How bad a component status is (no opinion and maintenance rank as operational)."""
    return SEVERITY.index(status) if status in SEVERITY else 0


def worse(new: str | None, old: str | None) -> bool:
    return rank(new) > rank(old)


def impaired(status: str | None) -> bool:
    return rank(status) > 0


# --- the incident lifecycle ----------------------------------------------------------------


class Action(enum.StrEnum):
    NONE = "none"
    OPEN = "open"  # a new incident
    ESCALATE = "escalate"  # worse than before (or trouble back while monitoring)
    MONITOR = "monitor"  # operational again: post ``monitoring``
    RESOLVE = "resolve"  # quiet for the quiet period: post ``resolved``
    REOPEN = "reopen"  # trouble back soon after the resolution: the same incident recurs


@dataclass(frozen=True)
class Tracked:
    """The incident automation last opened or fed for a component, as the rules see it."""

    status: str
    monitoring_since: datetime | None = None
    resolved_at: datetime | None = None

    @property
    def resolved(self) -> bool:
        return self.status in RESOLVED


@dataclass(frozen=True)
class Timing:
    quiet: timedelta = QUIET_PERIOD
    reopen_window: timedelta = REOPEN_WINDOW


DEFAULT_TIMING = Timing()


def should_open(previous: str | None, current: str | None, incident: Tracked | None) -> bool:
    """The component left operational (with an opinion: not in maintenance) and no incident
    is open for it."""
    left = impaired(current) and not impaired(previous)
    return left and (incident is None or incident.resolved)


def should_escalate(previous: str | None, current: str | None, incident: Tracked | None) -> bool:
    """An open incident's component got worse (trouble back while monitoring included)."""
    return incident is not None and not incident.resolved and worse(current, previous)


def should_monitor(current: str | None, incident: Tracked | None) -> bool:
    """Operational again while the incident still says it is investigating."""
    if current != OPERATIONAL or incident is None or incident.resolved:
        return False
    return incident.status != MONITORING


def should_resolve(
    current: str | None, incident: Tracked | None, now: datetime, timing: Timing = DEFAULT_TIMING
) -> bool:
    """Monitoring, and operational for the whole quiet period."""
    if current != OPERATIONAL or incident is None or incident.status != MONITORING:
        return False
    since = incident.monitoring_since
    return since is not None and now - since >= timing.quiet


def should_reopen(incident: Tracked | None, now: datetime, timing: Timing = DEFAULT_TIMING) -> bool:
    """Resolved no longer ago than the reopen window: a recurrence, not a new incident."""
    if incident is None or not incident.resolved or incident.resolved_at is None:
        return False
    return timedelta(0) <= now - incident.resolved_at <= timing.reopen_window


def decide(
    *,
    previous: str | None,
    current: str | None,
    incident: Tracked | None,
    now: datetime,
    timing: Timing = DEFAULT_TIMING,
) -> Action:
    """What automation does with its incident after the component went previous → current."""
    if should_open(previous, current, incident):
        return Action.REOPEN if should_reopen(incident, now, timing) else Action.OPEN
    if should_escalate(previous, current, incident):
        return Action.ESCALATE
    if should_monitor(current, incident):
        return Action.MONITOR
    if should_resolve(current, incident, now, timing):
        return Action.RESOLVE
    return Action.NONE
