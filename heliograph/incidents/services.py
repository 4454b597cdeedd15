"""Service functions for incidents, maintenances and their updates.

One transaction per call; everything is validated before anything is written; every call
bumps the page version and records an audit event. Postmortems, changes, templates,
truth checks and uptime live in sibling modules and are re-exported here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from heliograph.catalog.models import Component, Page
from heliograph.catalog.services import bump_version, set_component_status
from heliograph.incidents import lifecycle
from heliograph.incidents.changes import link_cause as link_cause
from heliograph.incidents.changes import record_change as record_change
from heliograph.incidents.changes import related_changes as related_changes
from heliograph.incidents.core import (
    ComponentStatuses,
    apply_cause,
    check_impact,
    check_metadata,
    check_name,
    check_same_page,
    check_update,
    record,
    refresh_incident,
)
from heliograph.incidents.core import find_incident as find_incident
from heliograph.incidents.incident_templates import create_template as create_template
from heliograph.incidents.incident_templates import delete_template as delete_template
from heliograph.incidents.incident_templates import update_template as update_template
from heliograph.incidents.models import Change, Incident, IncidentUpdate, MaintenanceState
from heliograph.incidents.postmortems import prefill_postmortem as prefill_postmortem
from heliograph.incidents.postmortems import publish_postmortem as publish_postmortem
from heliograph.incidents.postmortems import revert_postmortem as revert_postmortem
from heliograph.incidents.postmortems import save_postmortem_draft as save_postmortem_draft
from heliograph.incidents.truth_checks import check_update_text as check_update_text
from heliograph.incidents.uptime_report import component_uptime as component_uptime
from heliograph.lib import events
from heliograph.lib.errors import InputError


@transaction.atomic
def open_incident(
    *,
    page: Page,
    name: str,
    body: str,
    status: str = "investigating",
    components: ComponentStatuses | None = None,
    at: datetime | None = None,
    started_at: datetime | None = None,
    reference: str = "",
    backfilled: bool = False,
    impact_override: str = "",
    deliver_notifications: bool = True,
    metadata: dict[str, Any] | None = None,
    caused_by: Incident | Change | None = None,
    draft: bool = False,
    status_source: str = "update",
    actor: str = "cli",
) -> Incident:
    """Open an incident with its first update; ``at`` backfills it to an earlier time.

    A ``draft`` is seen by responders only (console, Manage API): no public artifact shows
    it and nobody is notified until ``publish_draft``. ``status_source`` is what the
    component timeline records the statuses as coming from (``monitor`` for automation).
    """
    at = at or timezone.now()
    started_at = started_at or at
    incident = Incident(
        page=page,
        name=check_name(name),
        status=status,
        created_at=at,
        updated_at=at,
        started_at=started_at,
        reference=(reference or "").strip(),
        backfilled=backfilled,
        impact_override=check_impact(impact_override),
        metadata=check_metadata(metadata if metadata is not None else {}),
        draft=bool(draft),
    )
    if started_at > at:
        raise InputError("an incident cannot start after its first update")
    if len(incident.reference) > 64:
        raise InputError("a reference must have at most 64 characters")
    components = dict(components or {})
    check_update("incident", status, components, page)
    _check_body(body)
    apply_cause(incident, caused_by)
    incident.save()
    update = _post(
        incident, status, body, components, at, deliver_notifications, actor, status_source
    )
    record(actor, "incident.create", incident, page, after=incident)
    announce(update)
    return incident


@transaction.atomic
def post_update(
    *,
    incident: Incident,
    status: str,
    body: str,
    components: ComponentStatuses | None = None,
    at: datetime | None = None,
    deliver_notifications: bool = True,
    status_source: str = "update",
    actor: str = "cli",
) -> IncidentUpdate:
    """Post an update and apply its component statuses at its display time.

    An unresolved status after a resolution reopens the incident as a recurrence.
    """
    update = write_update(
        incident=incident,
        status=status,
        body=body,
        components=components,
        at=at,
        deliver_notifications=deliver_notifications,
        status_source=status_source,
        actor=actor,
    )
    announce(update)
    return update


def write_update(
    *,
    incident: Incident,
    status: str,
    body: str,
    components: ComponentStatuses | None = None,
    at: datetime | None = None,
    deliver_notifications: bool = True,
    status_source: str = "update",
    actor: str = "cli",
) -> IncidentUpdate:
    """``post_update`` without the announcement (call ``announce`` once it is complete)."""
    components = dict(components or {})
    check_update(incident.kind, status, components, incident.page)
    at = at or timezone.now()
    _check_update_time(incident, at)
    _check_body(body)
    before = _state(incident)
    update = _post(
        incident, status, body, components, at, deliver_notifications, actor, status_source
    )
    action = "incident.reopen" if update.reopened else "incident_update.create"
    record(actor, action, update, incident.page, before=before, after=update)
    return update


@transaction.atomic
def reopen_incident(
    *,
    incident: Incident,
    body: str,
    status: str = "investigating",
    components: ComponentStatuses | None = None,
    at: datetime | None = None,
    status_source: str = "update",
    actor: str = "cli",
) -> IncidentUpdate:
    """Reopen a resolved incident explicitly: the impact came back."""
    if incident.is_maintenance:
        raise InputError("a maintenance cannot be reopened; schedule a new one")
    if status not in lifecycle.UNRESOLVED:
        raise InputError(f"reopen with one of {', '.join(lifecycle.UNRESOLVED)}, not {status!r}")
    at = at or timezone.now()
    if not lifecycle.reopens(_status_before(incident, at), status):
        raise InputError("only a resolved incident can be reopened (after its resolution)")
    return post_update(
        incident=incident,
        status=status,
        body=body,
        components=components,
        at=at,
        status_source=status_source,
        actor=actor,
    )


@transaction.atomic
def publish_draft(
    *, incident: Incident, actor: str = "cli", at: datetime | None = None
) -> Incident:
    """Make a draft public and announce its latest update, so subscribers hear of it now
    (the updates keep their times; the notification goes out as news, not a backfill)."""
    rows = Incident.objects.filter(pk=incident.pk)
    if connection.vendor == "postgresql":  # SQLite: the IMMEDIATE transaction holds the lock
        rows = rows.select_for_update()
    locked = rows.first()
    if locked is None:
        raise InputError(f"incident {incident.name!r} no longer exists")
    if not locked.draft:
        raise InputError(f"incident {locked.name!r} is not a draft: it is already public")
    locked.draft = False
    locked.save(update_fields=["draft"])
    bump_version(locked.page, [locked])
    record(actor, "incident.publish", locked, locked.page, {"draft": True}, {"draft": False})
    latest = locked.updates.order_by("-display_at", "-created_at").first()
    if latest is not None:
        announce(latest, published_at=at or timezone.now())
    incident.refresh_from_db()
    return incident


def announce(update: IncidentUpdate, published_at: datetime | None = None) -> None:
    """Tell listeners (notifications) about a posted update, inside this transaction.

    They decide what to do with it (``deliver_notifications``, backfills, drafts).
    ``published_at`` is given when a draft is published: the update is news as of then.
    """
    if published_at is None:
        events.emit(events.INCIDENT_UPDATE, update=update)
    else:
        events.emit(events.INCIDENT_UPDATE, update=update, published_at=published_at)


def _post(
    incident: Incident,
    status: str,
    body: str,
    components: ComponentStatuses,
    at: datetime,
    deliver_notifications: bool,
    actor: str,
    source: str = "update",
) -> IncidentUpdate:
    """Write an already validated update and its component statuses."""
    reopened = not incident.is_maintenance and lifecycle.reopens(
        _status_before(incident, at), status
    )
    affected = []
    for component, new_status in components.items():
        change = set_component_status(
            component=component,
            status=new_status,
            at=at,
            source=source,
            actor=actor,
            incident_id=incident.pk,
        )
        affected.append(
            {
                "code": component.pk,
                "name": component.name,
                "old_status": change.old_status if change else new_status,
                "new_status": new_status,
            }
        )
        incident.components.add(component)
    update = incident.updates.create(
        status=status,
        body=body,
        display_at=at,
        created_at=at,
        updated_at=at,
        affected_components=affected,
        deliver_notifications=deliver_notifications,
        reopened=reopened,
    )
    refresh_incident(incident)
    return update


def _status_before(incident: Incident, at: datetime) -> str | None:
    shown = incident.updates.order_by("display_at", "created_at").values_list(
        "display_at", "status"
    )
    return lifecycle.status_before(list(shown), at)


def _check_update_time(incident: Incident, at: datetime) -> None:
    if incident.is_maintenance:
        # A maintenance is announced before its window and may start early.
        if at < incident.created_at:
            raise InputError("an update cannot come before the maintenance was scheduled")
        return
    if at < incident.started_at:
        raise InputError(
            f"an update at {at:%Y-%m-%d %H:%M} UTC would come before the incident started "
            f"({incident.started_at:%Y-%m-%d %H:%M} UTC)"
        )


def _check_body(body: str | None) -> str:
    if body is None or not body.strip():
        raise InputError("an update needs a body")
    return body


def _state(incident: Incident) -> dict[str, Any]:
    resolved = incident.resolved_at.isoformat() if incident.resolved_at else None
    return {"status": incident.status, "resolved_at": resolved}


@transaction.atomic
def update_incident(
    *,
    incident: Incident,
    actor: str = "cli",
    name: str | None = None,
    impact_override: str | None = None,
    metadata: dict[str, Any] | None = None,
    reference: str | None = None,
    started_at: datetime | None = None,
) -> Incident:
    """Change plain fields (status changes go through ``post_update``)."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = check_name(name)
    if impact_override is not None:
        changes["impact_override"] = check_impact(impact_override)
    if metadata is not None:
        changes["metadata"] = check_metadata(metadata)
    if reference is not None:
        changes["reference"] = reference.strip()
        if len(changes["reference"]) > 64:
            raise InputError("a reference must have at most 64 characters")
    if started_at is not None:
        first = incident.updates.order_by("display_at").first()
        if first and started_at > first.display_at:
            raise InputError("an incident cannot start after its first update")
        changes["started_at"] = started_at
    before = Incident.objects.get(pk=incident.pk)
    for field, value in changes.items():
        setattr(incident, field, value)
    if changes:
        incident.save(update_fields=list(changes))
    refresh_incident(incident)
    record(actor, "incident.update", incident, incident.page, before=before, after=incident)
    return incident


@transaction.atomic
def delete_incident(*, incident: Incident, actor: str = "cli") -> None:
    """Delete an incident; its components' timeline rows stay (they lose the link)."""
    page = incident.page
    record(actor, "incident.delete", incident, page, before=incident)
    bump_version(page, [incident])  # before the row goes: the publisher drops its pages
    incident.delete()


@transaction.atomic
def edit_update(
    *,
    update: IncidentUpdate,
    actor: str = "cli",
    body: str | None = None,
    display_at: datetime | None = None,
    deliver_notifications: bool | None = None,
) -> IncidentUpdate:
    """Edit a posted update, keeping its previous text and time as a revision."""
    incident = update.incident
    if body is not None:
        _check_body(body)
    if display_at is not None:
        _check_update_time(incident, display_at)
    before = IncidentUpdate.objects.get(pk=update.pk)
    now = timezone.now()
    new_body = update.body if body is None else body
    new_at = update.display_at if display_at is None else display_at
    if new_body != update.body or new_at != update.display_at:
        update.revisions.create(
            body=update.body, display_at=update.display_at, actor=actor, replaced_at=now
        )
        update.body, update.display_at, update.edited_at = new_body, new_at, now
    if deliver_notifications is not None:
        update.deliver_notifications = deliver_notifications
    update.updated_at = now
    update.save()
    refresh_incident(incident)
    record(actor, "incident_update.edit", update, incident.page, before=before, after=update)
    return update


@transaction.atomic
def record_impact(
    *, incident: Incident, component: Component, status: str, at: datetime, actor: str = "cli"
) -> None:
    """Add a point to the incident's component timeline (e.g. from its postmortem)."""
    check_same_page([component], incident.page)
    change = set_component_status(
        component=component,
        status=status,
        at=at,
        source="import",
        actor=actor,
        incident_id=incident.pk,
    )
    incident.components.add(component)
    refresh_incident(incident)
    if change is not None:
        after = {"component": component.pk, "status": status, "at": at.isoformat()}
        record(actor, "incident.record_impact", incident, incident.page, after=after)


@transaction.atomic
def schedule_maintenance(
    *,
    page: Page,
    name: str,
    body: str,
    scheduled_for: datetime,
    scheduled_until: datetime,
    components: list[Component] | None = None,
    at: datetime | None = None,
    remind_prior: bool = False,
    auto_in_progress: bool = True,
    auto_completed: bool = True,
    deliver_notifications: bool = True,
    actor: str = "cli",
) -> Incident:
    """Schedule a window; the worker reminds, starts and completes it as the flags say."""
    name = check_name(name, "a maintenance")
    if scheduled_until <= scheduled_for:
        raise InputError("a maintenance must end after it starts")
    check_same_page(components or [], page)
    at = at or timezone.now()
    maintenance = page.incidents.create(
        kind=lifecycle.Kind.MAINTENANCE,
        name=name,
        status=lifecycle.Status.SCHEDULED,
        impact="maintenance",
        created_at=at,
        updated_at=at,
        started_at=scheduled_for,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        scheduled_remind_prior=remind_prior,
        scheduled_auto_in_progress=auto_in_progress,
        scheduled_auto_completed=auto_completed,
    )
    maintenance.components.add(*(components or []))
    update = maintenance.updates.create(
        status=lifecycle.Status.SCHEDULED,
        body=body or name,
        display_at=at,
        created_at=at,
        deliver_notifications=deliver_notifications,
    )
    refresh_incident(maintenance)
    record(actor, "maintenance.create", maintenance, page, after=maintenance)
    announce(update)
    return maintenance


@transaction.atomic
def reschedule_maintenance(
    *,
    maintenance: Incident,
    scheduled_for: datetime | None = None,
    scheduled_until: datetime | None = None,
    actor: str = "cli",
) -> Incident:
    """Move a maintenance that has not started; a moved start makes its reminder due again."""
    if not maintenance.is_maintenance:
        raise InputError(f"{maintenance.name!r} is an incident, not a maintenance")
    rows = Incident.objects.filter(pk=maintenance.pk)
    if connection.vendor == "postgresql":  # SQLite: the IMMEDIATE transaction holds the lock
        rows = rows.select_for_update()
    locked = rows.first()
    if locked is None:
        raise InputError(f"maintenance {maintenance.name!r} no longer exists")
    if locked.status != lifecycle.Status.SCHEDULED:
        raise InputError(
            f"maintenance {locked.name!r} is {locked.status}; only a scheduled one can be moved"
        )
    if scheduled_for is None and scheduled_until is None:
        raise InputError("give a new start or end for the maintenance")
    start = scheduled_for or locked.scheduled_for
    end = scheduled_until or locked.scheduled_until
    if start is None or end is None or end <= start:
        raise InputError("a maintenance must end after it starts")
    before = Incident.objects.get(pk=locked.pk)
    if start != locked.scheduled_for:
        for state in MaintenanceState.objects.filter(maintenance=locked):
            state.forget_reminder()
            state.save()
    locked.scheduled_for, locked.scheduled_until, locked.started_at = start, end, start
    locked.save(update_fields=["scheduled_for", "scheduled_until", "started_at"])
    refresh_incident(locked)  # bumps the page version
    record(actor, "maintenance.reschedule", locked, locked.page, before=before, after=locked)
    maintenance.refresh_from_db()
    return maintenance
