"""Maintenance windows that run themselves: scheduled → in_progress → completed, on time.

``run_due`` does whatever is due at a moment (reminder, start, completion, overrun check);
the ``worker`` command calls it every few seconds. All state lives in the database — the
maintenance's own status and this module's bookkeeping (``MaintenanceState``, one row per
maintenance, never shown to API clients) — so a restarted worker carries on where the last
one stopped, and several can run at once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from heliograph.audit import trail
from heliograph.catalog.models import Component, Page, StatusChange
from heliograph.catalog.services import set_component_status
from heliograph.catalog.status import MAINTENANCE, OPERATIONAL, during_maintenance
from heliograph.incidents import lifecycle
from heliograph.incidents.models import Incident, IncidentUpdate, MaintenanceState
from heliograph.incidents.services import announce, open_incident, post_update, write_update
from heliograph.lib.errors import InputError
from heliograph.lib.timefmt import posted_utc

log = logging.getLogger(__name__)

S = lifecycle.Status
ACTIVE = lifecycle.ACTIVE_MAINTENANCE
REMIND_BEFORE = timedelta(minutes=60)  # as Statuspage reminds (Manage API v1 reference)
OVERRUN_LOOKBACK = timedelta(days=1)  # a window that ended longer ago is history, not news
OVERRUN_SHOWN = timedelta(days=7)
WORKER = "worker"
STARTED_BODY = (
    "Scheduled maintenance is currently in progress. We will provide updates as necessary."
)
COMPLETED_BODY = "The scheduled maintenance has been completed."

# Called inside the transaction that records a due reminder, with the maintenance and the
# moment; each returns the name of the channel that queued it (notifications register one
# that writes a Notification row). With none registered, nothing is sent, and the
# bookkeeping says so (``reminder_queued_by`` stays empty).
ReminderHook = Callable[[Incident, datetime], str]
REMINDER_HOOKS: list[ReminderHook] = []


@dataclass(frozen=True)
class Overrun:
    """A maintenance whose window ended with components still not operational."""

    maintenance: Incident
    components: list[Component]
    window_ended_at: datetime
    incident: Incident | None  # the incident opened for it, if any


# --- bookkeeping ----------------------------------------------------------------------------


def notes(maintenance: Incident) -> MaintenanceState:
    """The maintenance's bookkeeping (a blank, unsaved row until the worker wrote some)."""
    try:
        return maintenance.maintenance_state
    except MaintenanceState.DoesNotExist:
        return MaintenanceState(maintenance=maintenance)


def statuses_before(maintenance: Incident) -> dict[str, str]:
    """Component id → the status it had when this maintenance started."""
    return dict(notes(maintenance).statuses_before)


def reminded_at(maintenance: Incident) -> datetime | None:
    """When a reminder went to a channel (Statuspage's ``scheduled_reminded_at``).

    None while no channel took it, even if it was due: it was not sent.
    """
    written = notes(maintenance)
    return written.reminder_recorded_at if written.reminder_queued_by else None


def _lock(pk: str, *, skip_locked: bool) -> Incident | None:
    """The maintenance re-read inside the current transaction, locked against other workers.

    On SQLite the IMMEDIATE transaction already holds the one write lock.
    """
    rows = Incident.objects.maintenances().filter(pk=pk).select_related("maintenance_state")
    if connection.vendor == "postgresql":
        # Only the maintenance's row: its bookkeeping is joined, and may not exist yet.
        rows = rows.select_for_update(skip_locked=skip_locked, of=("self",))
    return rows.first()


def _picture(maintenance: Incident) -> dict[str, Any]:
    """The maintenance and its bookkeeping, for the audit log (a copy: it changes next)."""
    worker = trail.snapshot(notes(maintenance))
    return {**trail.snapshot(maintenance), "worker": copy.deepcopy(worker)}


def _record(actor: str, action: str, maintenance: Incident, before: dict[str, Any]) -> None:
    trail.record(
        actor=actor,
        action=action,
        target=maintenance,
        page_id=maintenance.page_id,
        before=before,
        after=_picture(maintenance),
    )


Affected = list[dict[str, str]]


def _set(
    component: Component, status: str, at: datetime, actor: str, m: Incident
) -> dict[str, str]:
    change = set_component_status(
        component=component,
        status=status,
        at=at,
        source="maintenance",
        actor=actor,
        incident_id=m.pk,
    )
    old = change.old_status if change else status
    return {"code": component.pk, "name": component.name, "old_status": old, "new_status": status}


def _post(
    m: Incident, status: str, body: str, at: datetime, actor: str, affected: Affected
) -> None:
    update = write_update(incident=m, status=status, body=body, at=at, actor=actor)
    # The statuses went on the timeline with source "maintenance"; the update lists them.
    update.affected_components = affected
    update.save(update_fields=["affected_components"])
    announce(update)  # once, and complete: subscribers see what it affected


# --- what a window holds (architecture: The path data takes) ------------------------------


def beneath(component: Component, at: datetime) -> str:
    """The status the component holds apart from maintenance windows, as of ``at``: the
    latest its incidents, monitors or people set (operational if none ever did)."""
    rows = component.status_changes.filter(at__lte=at).exclude(source="maintenance")
    # A maintenance's own update putting its components under maintenance is a window too.
    window = Q(new_status=MAINTENANCE, incident__kind=lifecycle.Kind.MAINTENANCE)
    latest = rows.exclude(window).order_by("-at", "-id").values_list("new_status", flat=True)
    return latest.first() or OPERATIONAL


def hold(*, component: Component, change: StatusChange) -> None:
    """A status set on a component that a maintenance in progress holds shows no better than
    under maintenance: an incident resolving mid-window hands the component to the window.

    Listens to ``COMPONENT_STATUS_RECORDED``; the window's status follows the change at the
    same moment, so the incident's impact window still ends when the incident said so.
    """
    if change.source == "maintenance" or during_maintenance(change.new_status) == change.new_status:
        return
    if component.status_changes.filter(at__gt=change.at).exists():
        return  # a backfill: what shows now was decided later on the timeline
    # A maintenance's own update speaks for its window: a status it sets stands.
    holders = component.incidents.maintenances().active().exclude(pk=change.incident_id)
    holder = holders.order_by("scheduled_for", "created_at").first()
    if holder is not None:
        set_component_status(
            component=component,
            status=MAINTENANCE,
            at=change.at,
            source="maintenance",
            actor=change.actor,
            incident_id=holder.pk,
        )


# --- the transitions (called with the maintenance locked) ----------------------------------


def _status_to_remember(component: Component, maintenance: Incident) -> str:
    """Its status now, or, if another maintenance already holds it, what that one keeps."""
    if component.status == MAINTENANCE:
        others = component.incidents.maintenances().active()
        for other in others.exclude(pk=maintenance.pk):
            if kept := statuses_before(other).get(component.pk):
                return kept
    return component.status


def _start(m: Incident, at: datetime, actor: str, body: str = STARTED_BODY) -> None:
    before, written = _picture(m), notes(m)
    affected: Affected = []
    for component in m.components.all():
        written.statuses_before[component.pk] = _status_to_remember(component, m)
        # Held worse (an open incident's outage, a monitor's, a person's): that stays
        # shown; the window holds the component all the same (``hold``, ``_restore``).
        if during_maintenance(component.status) == MAINTENANCE:
            affected.append(_set(component, MAINTENANCE, at, actor, m))
    written.started_at = at
    written.save()
    m.started_at = min(m.started_at, at)  # started early by hand: the record says so
    m.save(update_fields=["started_at"])
    _post(m, S.IN_PROGRESS, body, at, actor, affected)
    _record(actor, "maintenance.start", m, before)


def _still_held(component: Component, maintenance: Incident) -> bool:
    """Another maintenance in progress holds the component: it stays under maintenance."""
    others = component.incidents.maintenances().active()
    return others.exclude(pk=maintenance.pk).exists()


def _restore(m: Incident, at: datetime, actor: str) -> Affected:
    """Components it shows under maintenance back to what holds them beneath it (the open
    incident's status, a person's, else what they were before); marks it completed."""
    affected: Affected = []
    for component in m.components.all():
        # Shown worse than under maintenance, a component already shows what holds it.
        if component.status != MAINTENANCE or _still_held(component, m):
            continue
        if (underneath := beneath(component, at)) != MAINTENANCE:
            affected.append(_set(component, underneath, at, actor, m))
    written = notes(m)
    written.completed_at = at
    written.save()
    return affected


def _complete(m: Incident, at: datetime, actor: str, body: str = COMPLETED_BODY) -> None:
    before = _picture(m)
    affected = _restore(m, at, actor)
    _post(m, S.COMPLETED, body, at, actor, affected)
    _record(actor, "maintenance.complete", m, before)


def _tidy(m: Incident, now: datetime, actor: str) -> None:
    """Completed by a plain update (console, API): restore what it still holds, as of then."""
    before = _picture(m)
    completed = m.updates.filter(status=S.COMPLETED).order_by("-display_at").first()
    _restore(m, min(completed.display_at, now) if completed else now, actor)
    _record(actor, "maintenance.restore", m, before)


def _remind(m: Incident, at: datetime, actor: str) -> None:
    before, written = _picture(m), notes(m)
    written.reminder_due_at = (m.scheduled_for or at) - REMIND_BEFORE
    written.reminder_recorded_at = at
    written.reminder_queued_by = ",".join(hook(m, at) for hook in REMINDER_HOOKS)
    written.save()
    _record(actor, "maintenance.reminder", m, before)


def overrunning(maintenance: Incident) -> list[Component]:
    """Its components not operational now, other than as they were before it started."""
    previous = statuses_before(maintenance)
    return [
        c
        for c in maintenance.components.order_by("position", "created_at")
        if c.status != OPERATIONAL and c.status != previous.get(c.pk)
    ]


def _check_overrun(m: Incident, at: datetime, actor: str) -> bool:
    before, written = _picture(m), notes(m)
    written.overrun_checked_at = at
    late = overrunning(m)
    if late:
        written.overrun_flagged_at = at
        written.overrun_components = [c.pk for c in late]
    written.save()
    if late:
        _record(actor, "maintenance.overrun", m, before)
    return bool(late)


# --- what is due at a moment ---------------------------------------------------------------


def _reminder_due(m: Incident, now: datetime) -> bool:
    return (
        m.status == S.SCHEDULED
        and m.scheduled_remind_prior
        and m.scheduled_for is not None
        and m.scheduled_for - REMIND_BEFORE <= now < m.scheduled_for
        and notes(m).reminder_recorded_at is None
    )


def _start_due(m: Incident, now: datetime) -> bool:
    began = m.scheduled_for is not None and m.scheduled_for <= now
    return m.status == S.SCHEDULED and m.scheduled_auto_in_progress and began


def _completion_due(m: Incident, now: datetime) -> bool:
    return m.status in ACTIVE and m.scheduled_auto_completed and _ended(m, now)


def _tidy_due(m: Incident, now: datetime) -> bool:
    done = notes(m)
    return m.status == S.COMPLETED and done.started_at is not None and done.completed_at is None


def _overrun_check_due(m: Incident, now: datetime) -> bool:
    return (
        m.status in (*ACTIVE, S.COMPLETED)
        and _ended(m, now)
        and now - OVERRUN_LOOKBACK < m.scheduled_until  # type: ignore[operator]
        and notes(m).overrun_checked_at is None
    )


def _ended(m: Incident, now: datetime) -> bool:
    return m.scheduled_until is not None and m.scheduled_until <= now


def _counted(
    act: Callable[[Incident, datetime, str], None],
) -> Callable[[Incident, datetime], bool]:
    def run(m: Incident, now: datetime) -> bool:
        act(m, now, WORKER)
        return True

    return run


Step = tuple[str, Callable[[Incident, datetime], bool], Callable[[Incident, datetime], bool]]
STEPS: list[Step] = [
    ("reminder", _reminder_due, _counted(_remind)),
    ("start", _start_due, _counted(_start)),
    ("completion", _completion_due, _counted(_complete)),
    ("restore", _tidy_due, _counted(_tidy)),
    ("overrun check", _overrun_check_due, lambda m, now: _check_overrun(m, now, WORKER)),
]


def _candidates(now: datetime) -> list[Incident]:
    """Maintenances something may be due for (each is checked again under its lock)."""
    pending = Q(status__in=lifecycle.OPEN_MAINTENANCE, scheduled_for__lte=now + REMIND_BEFORE)
    just_ended = Q(status=S.COMPLETED, scheduled_until__gt=now - OVERRUN_LOOKBACK)
    return list(
        Incident.objects.maintenances()
        .filter(pending | just_ended)
        .select_related("maintenance_state")
        .order_by("scheduled_for")
    )


def run_due(*, now: datetime | None = None) -> int:
    """Do every reminder, start, completion and overrun flag due at ``now``; how many.

    Idempotent (a second call at the same moment does nothing) and safe to run in several
    processes: each maintenance is handled in its own transaction under a row lock.
    """
    now = now or timezone.now()
    done = 0
    for name, due, act in STEPS:  # in this order, so one pass can start and then complete
        # Checked first without a lock, so an idle pass takes no write lock (SQLite).
        for seen in (m for m in _candidates(now) if due(m, now)):
            try:
                with transaction.atomic():
                    m = _lock(seen.pk, skip_locked=True)
                    if m is not None and due(m, now):
                        done += bool(act(m, now))
            except InputError as exc:  # one odd maintenance must not stall the others
                log.warning("maintenance %s: %s skipped: %s", seen.pk, name, exc)
    return done


# --- by hand -------------------------------------------------------------------------------


def _checked(
    maintenance: Incident, at: datetime | None, allowed: tuple[str, ...]
) -> tuple[Incident, datetime]:
    if not maintenance.is_maintenance:
        raise InputError(f"{maintenance.name!r} is an incident, not a maintenance")
    locked = _lock(maintenance.pk, skip_locked=False)
    if locked is None:
        raise InputError(f"maintenance {maintenance.name!r} no longer exists")
    if locked.status not in allowed:
        raise InputError(f"maintenance {locked.name!r} is {locked.status}, not {allowed[0]}")
    at = at or timezone.now()
    latest = locked.updates.order_by("-display_at").first()
    if latest and at < latest.display_at:
        raise InputError(
            f"that would come before its last update ({posted_utc(latest.display_at)})"
        )
    return locked, at


@transaction.atomic
def start_maintenance(
    *,
    maintenance: Incident,
    at: datetime | None = None,
    actor: str = "cli",
    body: str = STARTED_BODY,
) -> Incident:
    """Start a scheduled maintenance now (or at ``at``), even before its window."""
    locked, at = _checked(maintenance, at, (S.SCHEDULED,))
    _start(locked, at, actor, body)
    maintenance.refresh_from_db()
    return maintenance


@transaction.atomic
def complete_maintenance(
    *,
    maintenance: Incident,
    at: datetime | None = None,
    actor: str = "cli",
    body: str = COMPLETED_BODY,
) -> Incident:
    """Complete a maintenance in progress: its components go back to what they were."""
    locked, at = _checked(maintenance, at, ACTIVE)
    _complete(locked, at, actor, body)
    maintenance.refresh_from_db()
    return maintenance


@transaction.atomic
def post_maintenance_update(
    *,
    maintenance: Incident,
    status: str,
    body: str,
    components: Mapping[Component, str] | None = None,
    at: datetime | None = None,
    deliver_notifications: bool = True,
    actor: str = "cli",
) -> IncidentUpdate:
    """A responder's update: starting or completing moves the components as the worker does."""
    if not components and status == S.IN_PROGRESS and maintenance.status == S.SCHEDULED:
        start_maintenance(maintenance=maintenance, at=at, actor=actor, body=body)
    elif not components and status == S.COMPLETED and maintenance.status in ACTIVE:
        complete_maintenance(maintenance=maintenance, at=at, actor=actor, body=body)
    else:
        post_update(
            incident=maintenance,
            status=status,
            body=body,
            components=components,
            at=at,
            deliver_notifications=deliver_notifications,
            actor=actor,
        )
    maintenance.refresh_from_db()
    return maintenance.updates.order_by("-display_at", "-created_at")[0]


def post_any_update(*, incident: Incident, **update: Any) -> IncidentUpdate:
    """Incidents take a plain update; maintenances start and complete as the worker would."""
    if incident.is_maintenance:
        return post_maintenance_update(maintenance=incident, **update)
    return post_update(incident=incident, **update)


# --- overruns ------------------------------------------------------------------------------


def _overrun_incident(maintenance: Incident) -> Incident | None:
    return notes(maintenance).overrun_incident


def overruns(*, page: Page, now: datetime | None = None) -> list[Overrun]:
    """Overrunning maintenances of the page, for the dashboard, latest window first.

    Flagged ones, and ones still in progress past their window (even if no worker ran),
    while a component is still affected; a week after the window they are history.
    """
    now = now or timezone.now()
    recent = (
        page.incidents.maintenances()
        .filter(scheduled_until__lte=now, scheduled_until__gt=now - OVERRUN_SHOWN)
        .select_related("maintenance_state")
        .order_by("-scheduled_until")
    )
    found = []
    for m in recent:
        if m.status in ACTIVE or notes(m).overrun_flagged_at is not None:
            late = overrunning(m)
            if late:
                assert m.scheduled_until is not None
                found.append(Overrun(m, late, m.scheduled_until, _overrun_incident(m)))
    return found


def _overrun_body(m: Incident, late: list[Component]) -> str:
    names = ", ".join(f"{c.display_name} ({c.status.replace('_', ' ')})" for c in late)
    assert m.scheduled_until is not None
    return (
        f"The maintenance “{m.name}” was due to end at {posted_utc(m.scheduled_until)}, but "
        f"these are still affected: {names}. We are investigating."
    )


@transaction.atomic
def open_overrun_incident(
    *, maintenance: Incident, actor: str = "cli", at: datetime | None = None
) -> Incident:
    """Open an incident for an overrunning maintenance, caused by it (``at``: now)."""
    if not maintenance.is_maintenance:
        raise InputError(f"{maintenance.name!r} is an incident, not a maintenance")
    m = _lock(maintenance.pk, skip_locked=False)
    if m is None or m.scheduled_until is None:
        raise InputError(f"maintenance {maintenance.name!r} has no window to overrun")
    if existing := _overrun_incident(m):
        raise InputError(f"incident {existing.pk} is already open for this overrun")
    now = at or timezone.now()
    late = overrunning(m) if m.scheduled_until <= now else []
    if not late:
        raise InputError(f"maintenance {m.name!r} has not overrun its window")
    impact = lifecycle.impact_of(c.status for c in late)
    incident = open_incident(
        page=m.page,
        name=f"Overrun: {m.name}"[:255],
        body=_overrun_body(m, late),
        at=now,
        started_at=m.scheduled_until,
        components={c: c.status for c in late},
        impact_override="" if impact == "none" else impact,
        actor=actor,
    )
    incident.caused_by = m
    incident.save(update_fields=["caused_by"])
    before, written = _picture(m), notes(m)
    written.overrun_incident = incident
    written.save()
    _record(actor, "maintenance.overrun_incident", m, before)
    maintenance.refresh_from_db()
    return incident
