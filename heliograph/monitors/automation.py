"""Applying one probe result: evidence rows, the path's hysteresis, the component status and the
incident automation (architecture: Monitors). The rules themselves are in ``monitors.evaluator``.

``apply_result`` runs in one transaction, after each run, with the moment passed in:

1. the result is kept (a ProbeResult, and a raw MetricPoint per number);
2. the monitor's path state steps (``evaluator.step``);
3. the component's status is blended from every non-paused monitor feeding it and written
   when it differs (StatusChange source ``monitor``, actor ``monitor:<name>``) — never
   while it is under maintenance, and never over a status a human chose since the monitors
   last wrote one, until the monitors agree with that human again (evidence is kept instead);
4. with automation ``draft`` or ``publish``, the component's incident opens, escalates,
   moves to monitoring, resolves after the quiet period and reopens as a recurrence, as
   ``evaluator.decide`` says — until a human posts an update to it: from then on
   automation only adds evidence and suggestions to its bookkeeping (shown on the incident's
   console page), except that a recurrence after the humans resolved it reopens it.

Automation's bookkeeping on an incident is its ``IncidentAutomation`` row (the updates it
posted, the evidence, ``calm_since``), locked once per result and written once at its end;
API clients never see it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import QuerySet

from heliograph.catalog.models import Component, StatusChange
from heliograph.catalog.services import set_component_status
from heliograph.catalog.status import COMPONENT_STATUS_LABELS, MAINTENANCE, OPERATIONAL
from heliograph.incidents import causes, lifecycle
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from heliograph.monitors import evaluator, metrics, wording
from heliograph.monitors.evaluator import Action, PathState, Tracked
from heliograph.monitors.models import (
    AUTOMATION_DRAFT,
    AUTOMATION_OFF,
    AUTOMATION_PUBLISH,
    IncidentAutomation,
    Monitor,
    ProbeResult,
)
from heliograph.monitors.notices import Notices
from heliograph.monitors.probes.base import Result

log = logging.getLogger(__name__)

EVIDENCE_KEPT = 50
NOTES_KEPT = 20
HUMAN_SOURCES = ("manual", "update", "import")
TIMING = evaluator.DEFAULT_TIMING
S = lifecycle.Status
Row = TypeVar("Row", Component, Monitor, IncidentAutomation)


@dataclass(frozen=True)
class Outcome:
    """What one result did (for the scheduler's log and for tests)."""

    path: PathState
    status: str | None  # what the monitors vouch for; None = no opinion
    changed: bool  # the component's status was written
    held: bool  # a human's status stood against the monitors
    action: Action  # what automation did to its incident (NONE when it only noted evidence)
    incident: Incident | None


def actor_of(monitor: Monitor) -> str:
    return f"monitor:{monitor.name}"


def apply(monitor: Monitor, result: Result, now: datetime, lag_ms: float, took_ms: float) -> None:
    """The scheduler's ``Apply`` hook."""
    apply_result(monitor=monitor, result=result, now=now, lag_ms=lag_ms, duration_ms=took_ms)


@transaction.atomic
def apply_result(
    *,
    monitor: Monitor,
    result: Result,
    now: datetime,
    lag_ms: float = 0.0,
    duration_ms: float = 0.0,
) -> Outcome:
    """Record ``result`` for ``monitor`` as of ``now`` and act on what it means."""
    component = None  # a monitor that feeds no component costs no query for one
    if monitor.component_id is not None:
        component = _locked(Component.objects.filter(pk=monitor.component_id))
    fresh = _locked(Monitor.objects.filter(pk=monitor.pk))
    if fresh is None:  # deleted while it ran
        return Outcome(PathState(), None, False, False, Action.NONE, None)
    store_result(monitor=fresh, result=result, now=now, lag_ms=lag_ms, duration_ms=duration_ms)
    before = PathState.from_json(fresh.state)
    after = evaluator.step(before, result.verdict)
    if after.alert:
        log.warning("monitor %s: the prober needs an operator: %s", fresh.pk, result.reason)
    fresh.state = {**(fresh.state or {}), **after.to_json()}
    fresh.last_run_at, fresh.last_verdict, fresh.last_reason = now, result.verdict, result.reason
    if component is None or fresh.paused:
        outcome = Outcome(after, None, False, False, Action.NONE, None)
    else:
        outcome = Run(fresh, component, result, now, before, after).go()
    fresh.save(update_fields=["state", "last_run_at", "last_verdict", "last_reason", "incident"])
    monitor.state, monitor.incident_id = fresh.state, fresh.incident_id
    monitor.last_run_at, monitor.last_verdict = fresh.last_run_at, fresh.last_verdict
    monitor.last_reason = fresh.last_reason
    return outcome


def _locked(rows: QuerySet[Row]) -> Row | None:
    """The row (``rows`` picks one by its key), locked against other workers (SQLite: the
    IMMEDIATE transaction holds it). Unordered: sorting one row costs only compiling."""
    if connection.vendor == "postgresql":
        rows = rows.select_for_update()
    return next(iter(rows.order_by()[:1]), None)


# --- evidence rows -------------------------------------------------------------------------


def store_result(
    *, monitor: Monitor, result: Result, now: datetime, lag_ms: float, duration_ms: float
) -> ProbeResult:
    """The run as evidence, and each number as a raw metric point."""
    values = metrics.finite(result.values)
    row = ProbeResult.objects.create(
        monitor=monitor,
        at=now,
        verdict=result.verdict,
        reason=result.reason,
        values=values,
        details=plain_json(result.details),
        duration_ms=duration_ms,
        lag_ms=lag_ms,
    )
    metrics.record_points(monitor, now, values)
    return row


def plain_json(details: Any) -> dict[str, Any]:
    """Details as JSON both databases store (odd values become text)."""
    try:
        text = json.dumps(dict(details or {}), default=str, allow_nan=False)
    except (TypeError, ValueError):
        return {"unreadable": str(details)[:1000]}
    loaded = json.loads(text)
    return loaded if isinstance(loaded, dict) else {}


# --- the component and its incident --------------------------------------------------------


def under_maintenance(component: Component) -> bool:
    """Probes never move a component that a maintenance holds."""
    if component.status == MAINTENANCE:
        return True
    return component.incidents.maintenances().active().exists()


def blend(fed: Iterable[tuple[Monitor, PathState]], maintenance: bool) -> str | None:
    """The component status its monitors vouch for: paths blended, signals only making it
    worse (monitors that never saw a verdict abstain)."""
    known = [(m, state) for m, state in fed if state.known]
    paths = [state.status for m, state in known if m.acts_as == evaluator.PATH]
    signals = [
        evaluator.Signal(state.status, m.severity)
        for m, state in known
        if m.acts_as == evaluator.SIGNAL
    ]
    return evaluator.component_status(paths, maintenance, signals)


def by_human(change: StatusChange) -> bool:
    return change.source in HUMAN_SOURCES and not change.actor.startswith("monitor:")


class Run(Notices):
    """One result applied to the component its monitor feeds (the monitor row is locked)."""

    def __init__(
        self,
        monitor: Monitor,
        component: Component,
        result: Result,
        now: datetime,
        before: PathState,
        after: PathState,
    ) -> None:
        self.monitor, self.component, self.result, self.now = monitor, component, result, now
        self.actor = actor_of(monitor)
        self.others = list(component.monitors.filter(paused=False).exclude(pk=monitor.pk))
        others = [(m, PathState.from_json(m.state)) for m in self.others]
        maintenance = under_maintenance(component)
        self.before = blend([(monitor, before), *others], maintenance)
        self.current = blend([(monitor, after), *others], maintenance)
        human = self._human_status()
        self.held = human is not None and self.current != component.status
        if human is not None and not self.held:
            self._agree(human)
        # Found whatever this monitor's automation is: its status changes belong to the
        # incident's impact window even when only a sibling monitor may act on it.
        self.incident = self._incident()
        self.notes = self._notes_of(self.incident)
        self.noted = False  # the notes changed: written once, at the end

    @property
    def previous(self) -> str | None:
        """What the component showed before this result, as the incident rules see it: the
        page's status, unless a human holds it (then the monitors' own earlier view)."""
        if self.held:
            return self.before
        return None if self.component.status == MAINTENANCE else self.component.status

    def go(self) -> Outcome:
        shown = self.component.status
        action = evaluator.decide(
            previous=self.previous,
            current=self.current,
            incident=_tracked(self.incident),
            now=self.now,
            timing=TIMING,
        )
        if self.monitor.automation == AUTOMATION_OFF:
            action = Action.NONE
        self._note_calm()
        done = self._act(action)
        if done is Action.NONE:
            self._write_status()
        if self._speaks():
            self._follow_title()
            self._speak_when_due()
        if self.held and self.current is not None and self.before != self.current:
            self._evidence(
                f"{self._name} looks {_label(self.current)}, but its status was "
                f"set by hand to {_label(shown)}: left as it is"
            )
        if self.incident is not None and self.monitor.incident_id != self.incident.pk:
            self.monitor.incident = self.incident
        if self.noted and self.notes is not None:
            self.notes.save()
        changed = self.component.status != shown
        path = PathState.from_json(self.monitor.state)
        return Outcome(path, self.current, changed, self.held, done, self.incident)

    # --- never fight a human ---------------------------------------------------------------

    def _human_status(self) -> StatusChange | None:
        """The status a human set since the monitors last wrote one (or since they began
        watching), unless the monitors have agreed with it since; it holds while they differ."""
        changes = self.component.status_changes.order_by("-at", "-id")
        latest = changes.first()
        if latest is None or not by_human(latest) or self.current is None:
            return None
        watching = [self.monitor, *self.others]
        began = min(m.created_at for m in watching)
        if latest.at < began and not changes.filter(source="monitor").exists():
            return None  # history from before any monitor watched
        if any((m.state or {}).get("agreed") == latest.pk for m in watching):
            return None
        return latest

    def _agree(self, change: StatusChange) -> None:
        """The monitors see what the human set: they take over again from here."""
        self.monitor.state = {**self.monitor.state, "agreed": change.pk}

    @property
    def _name(self) -> str:
        return self.component.display_name

    # --- the component's status ------------------------------------------------------------

    def _write_status(self) -> None:
        """The monitors' status, tied to the incident while it is open (its impact window)."""
        if self.held or self.current is None or self.current == self.component.status:
            return
        incident = self.incident
        is_open = incident is not None and incident.status not in lifecycle.RESOLVED
        set_component_status(
            component=self.component,
            status=self.current,
            at=self.now,
            source="monitor",
            actor=self.actor,
            incident_id=incident.pk if is_open and incident else None,
        )

    def _statuses(self) -> dict[Component, str]:
        """The component status an automated update sets: none while a human holds it, and
        none when the component already shows it (an update lists real changes only)."""
        if self.held or self.current is None or self.current == self.component.status:
            return {}
        return {self.component: self.current}

    def _speaks(self) -> bool:
        """Automation still speaks on its incident: it is open, ours and not turned off."""
        if self.incident is None or self.notes is None or self.monitor.automation == AUTOMATION_OFF:
            return False
        return self.incident.status not in lifecycle.RESOLVED and not self._human_took_over()

    # --- the incident ----------------------------------------------------------------------

    def _incident(self) -> Incident | None:
        """The incident automation last opened or fed for this component."""
        ids = {m.incident_id for m in (self.monitor, *self.others) if m.incident_id}
        if not ids:  # none fed yet (the usual case): no query to build
            return None
        found = Incident.objects.incidents().filter(pk__in=ids).order_by("-created_at")
        return found.first()

    def _notes_of(self, incident: Incident | None) -> IncidentAutomation | None:
        """Automation's bookkeeping on the incident, locked once for the whole result."""
        if incident is None:
            return None
        found = _locked(IncidentAutomation.objects.filter(incident=incident))
        return found or IncidentAutomation(incident=incident)

    def _note(self) -> IncidentAutomation:
        assert self.notes is not None
        self.noted = True
        return self.notes

    def _act(self, action: Action) -> Action:
        """Do ``action`` to the incident; a human's incident only gets a suggestion."""
        if action is Action.NONE:
            return action
        if self._humans_handle(action):
            self._suggest(action)
            return Action.NONE
        steps: dict[Action, Callable[[], None]] = {
            Action.OPEN: self._open,
            Action.ESCALATE: self._escalate,
            Action.MONITOR: self._monitor,
            Action.RESOLVE: self._resolve,
            Action.REOPEN: self._reopen,
        }
        had, notes, noted = self.incident, self.notes, self.noted
        try:
            with transaction.atomic():  # a refused step must not lose the result itself
                steps[action]()
        except InputError as exc:
            log.warning("monitor %s: could not %s its incident: %s", self.monitor.pk, action, exc)
            self.incident, self.notes, self.noted = had, notes, noted
            return Action.NONE
        return action

    def _humans_handle(self, action: Action) -> bool:
        """Someone posted to the incident: it is theirs. But responders who resolved it are
        done with it, so a recurrence within the reopen window reopens it (the 2:04 PM
        case) when this monitor may publish, or when the incident is still a draft."""
        if action is Action.OPEN or not self.incident or not self._human_took_over():
            return False
        may_publish = self.monitor.automation == AUTOMATION_PUBLISH or self.incident.draft
        return not (action is Action.REOPEN and may_publish)

    def _at(self) -> datetime:
        """Now, or the incident's latest moment if another worker's clock ran ahead of ours
        (an update cannot come before the incident started or before its last update)."""
        assert self.incident is not None
        shown = self.incident.updates.values_list("display_at", flat=True)
        return max([self.now, self.incident.started_at, *shown])

    def _open(self) -> None:
        assert self.current is not None
        status, name, body = self._text(wording.OPENED, self.now)
        incident = incidents.open_incident(
            page=self.component.page,
            name=name,
            body=body,
            status=status,
            components=self._statuses(),
            at=self.now,
            started_at=self.now,
            draft=self.monitor.automation == AUTOMATION_DRAFT,
            status_source="monitor",
            actor=self.actor,
        )
        incident.components.add(self.component)
        self.incident = incident
        self.notes = IncidentAutomation(incident=incident, monitor=self.monitor)
        self._posted(incident.updates.get())
        self._keep_title(name)
        self._say(self.current)
        self._log_step("Opened the incident", *self._changed_before())

    def _post_text(self, status: str, body: str) -> None:
        assert self.incident is not None
        update = incidents.post_update(
            incident=self.incident,
            status=status,
            body=body,
            components=self._statuses(),
            at=self._at(),
            status_source="monitor",
            actor=self.actor,
        )
        self._posted(update)

    def _escalate(self) -> None:
        """Worse: an update with the new status when it is due now (two levels worse);
        otherwise the status moves alone and the update waits for the change to settle."""
        if not self._speak_when_due():
            self._write_status()
            self._log_step(f"Now {_label(self.current)}: the update waits for it to settle")

    def _monitor(self) -> None:
        status, _, body = self._text(wording.MONITORING, self._calm_since())
        self._post_text(status, body)
        self._say(OPERATIONAL)
        self._log_step("Operational again: monitoring")

    def _resolve(self) -> None:
        status, _, body = self._text(wording.RESOLVED, self.now)
        self._post_text(status, body)
        self._log_step("Resolved")

    def _reopen(self) -> None:
        assert self.incident is not None and self.incident.resolved_at is not None
        assert self.current is not None
        status, _, body = self._text(wording.CAME_BACK, self.now)
        update = incidents.reopen_incident(
            incident=self.incident,
            status=status,
            components=self._statuses(),
            body=body,
            at=self._at(),
            status_source="monitor",
            actor=self.actor,
        )
        self._posted(update)
        self._say(self.current)
        self._log_step("Came back: reopened")

    def _calm_since(self) -> datetime:
        calm = self.notes.calm_since if self.notes is not None else None
        return calm or self.now

    def _posted(self, update: Any) -> None:
        notes = self._note()
        notes.updates = [*notes.updates, update.pk]

    def _human_took_over(self) -> bool:
        """Someone posted an update automation did not post."""
        assert self.incident is not None
        posted = self.notes.updates if self.notes is not None else []
        return self.incident.updates.exclude(pk__in=posted).exists()

    # --- evidence and suggestions ----------------------------------------------------------

    def _suggest(self, action: Action) -> None:
        if action is Action.MONITOR and self._calm_for_quiet_period():
            action = Action.RESOLVE
        current = _label(self.current)
        texts = {
            Action.ESCALATE: f"{self._name} looks worse ({current}): consider escalating",
            Action.MONITOR: f"{self._name} looks operational again: consider monitoring",
            Action.RESOLVE: f"{self._name} looks operational for "
            f"{causes.spoken(TIMING.quiet)}: consider resolving",
            Action.REOPEN: f"{self._name} looks {current} again: consider reopening",
        }
        self._evidence(texts[action])

    def _note_calm(self) -> None:
        """When the monitors last saw the component become operational (for suggestions
        on an incident a human handles: "operational for 15 minutes")."""
        if self.notes is None:
            return
        calm = self.notes.calm_since
        if self.current == OPERATIONAL and calm is None:
            self._note().calm_since = self.now
        elif evaluator.impaired(self.current) and calm is not None:
            self._note().calm_since = None

    def _calm_for_quiet_period(self) -> bool:
        calm = self.notes.calm_since if self.notes is not None else None
        return calm is not None and self.now - calm >= TIMING.quiet

    def _evidence(self, suggestion: str) -> None:
        """Note what the monitors saw and suggest, once per suggestion in a row."""
        entry = {
            "at": self.now.isoformat(),
            "monitor": self.monitor.name,
            "verdict": self.result.verdict,
            "reason": self.result.reason,
            "status": self.current,
            "suggestion": suggestion,
        }
        if self.notes is None:
            notes = list(self.monitor.state.get("notes", []))
            if not notes or notes[-1].get("suggestion") != suggestion:
                notes = [*notes, entry][-NOTES_KEPT:]
                self.monitor.state = {**self.monitor.state, "notes": notes}
            return
        kept = self.notes.evidence
        if not kept or kept[-1].get("suggestion") != suggestion:
            self._note().evidence = [*kept, entry][-EVIDENCE_KEPT:]


# --- helpers --------------------------------------------------------------------------------


def _tracked(incident: Incident | None) -> Tracked | None:
    if incident is None:
        return None
    return Tracked(incident.status, incident.monitoring_at, incident.resolved_at)


def evidence(incident: Incident) -> list[dict[str, Any]]:
    """What the monitors saw and suggested on an incident a human handles, oldest first."""
    kept = IncidentAutomation.objects.filter(incident=incident).values_list("evidence", flat=True)
    return list(kept.first() or [])


def titles(incident: Incident) -> list[dict[str, Any]]:
    """Every title automation gave the incident, oldest first."""
    kept = IncidentAutomation.objects.filter(incident=incident).values_list("titles", flat=True)
    return list(kept.first() or [])


def _label(status: str | None) -> str:
    return COMPONENT_STATUS_LABELS.get(status or "", "no opinion").lower()
