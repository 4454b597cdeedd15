"""Service functions for incidents, maintenances, updates and postmortems.

One transaction per call; everything is validated before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from heliograph.catalog.models import Component, Page
from heliograph.catalog.services import bump_version, check_status, set_component_status
from heliograph.incidents import lifecycle
from heliograph.incidents.models import Incident, IncidentUpdate, Postmortem
from heliograph.lib.errors import InputError

ComponentStatuses = Mapping[Component, str]


def find_incident(page: Page, ref: str) -> Incident:
    found = page.incidents.filter(pk=ref).first() or page.incidents.filter(reference=ref).first()
    if found is None:
        raise InputError(f"page {page.name!r} has no incident with id or reference {ref!r}")
    return found


def _check_update(kind: str, status: str, components: ComponentStatuses, page: Page) -> None:
    allowed = (
        lifecycle.MAINTENANCE_STATUSES
        if kind == "maintenance"
        else lifecycle.UNRESOLVED + ("resolved",)
    )
    if status not in allowed:
        raise InputError(f"unknown {kind} status {status!r}; use one of {', '.join(allowed)}")
    for component, component_status in components.items():
        check_status(component_status)
        if component.page_id != page.pk:
            raise InputError(f"component {component.name!r} belongs to another page")


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
    actor: str = "",
) -> Incident:
    """Open an incident with its first update; ``at`` backfills it to an earlier time."""
    name = _check_name(name)
    if impact_override and impact_override not in lifecycle.IMPACTS:
        raise InputError(
            f"unknown impact {impact_override!r}; use one of none, minor, major, critical"
        )
    at = at or timezone.now()
    started_at = started_at or at
    if started_at > at:
        raise InputError("an incident cannot start after its first update")
    incident = page.incidents.create(
        name=name, status=status, created_at=at, updated_at=at, started_at=started_at,
        reference=reference, backfilled=backfilled, impact_override=impact_override,
    )  # fmt: skip
    post_update(
        incident=incident, status=status, body=body, components=components, at=at, actor=actor
    )
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
    actor: str = "",
) -> IncidentUpdate:
    """Post an update and apply the component statuses it carries, at its display time."""
    components = dict(components or {})
    _check_update(incident.kind, status, components, incident.page)
    at = at or timezone.now()
    if at < incident.started_at:
        raise InputError(
            f"an update at {at:%Y-%m-%d %H:%M} UTC would come before the incident started "
            f"({incident.started_at:%Y-%m-%d %H:%M} UTC)"
        )
    if not body.strip():
        raise InputError("an update needs a body")
    affected = []
    for component, new_status in components.items():
        change = set_component_status(
            component=component, status=new_status, at=at, source="update", actor=actor,
            incident_id=incident.pk,
        )  # fmt: skip
        old_status = change.old_status if change else new_status
        affected.append(
            {"code": component.pk, "name": component.name, "old_status": old_status,
             "new_status": new_status}
        )  # fmt: skip
        incident.components.add(component)
    update = incident.updates.create(
        status=status, body=body, display_at=at, created_at=at, updated_at=at,
        affected_components=affected, deliver_notifications=deliver_notifications,
    )  # fmt: skip
    refresh_incident(incident)
    return update


@transaction.atomic
def record_impact(
    *, incident: Incident, component: Component, status: str, at: datetime, actor: str = ""
) -> None:
    """Add a point to the incident's component timeline (e.g. from its postmortem)."""
    if component.page_id != incident.page_id:
        raise InputError(f"component {component.name!r} belongs to another page")
    set_component_status(
        component=component, status=status, at=at, source="import", actor=actor,
        incident_id=incident.pk,
    )  # fmt: skip
    incident.components.add(component)
    refresh_incident(incident)


def refresh_incident(incident: Incident) -> None:
    """Recompute status, impact and milestone times from updates and the timeline."""
    updates = list(incident.updates.order_by("display_at", "created_at"))
    postmortem = Postmortem.objects.filter(incident=incident).first()
    if incident.is_maintenance:
        incident.status = updates[-1].status if updates else "scheduled"
        incident.impact = "maintenance"
    else:
        incident.status = lifecycle.current_status(
            [u.status for u in updates], bool(postmortem and postmortem.is_published)
        )
        worst = [c.new_status for c in incident.status_changes.all()]
        incident.impact = lifecycle.impact_of(worst, incident.impact_override or None)
    incident.monitoring_at = _first_at(updates, "monitoring")
    incident.resolved_at = _first_at(updates, "resolved", "completed")
    published = [postmortem.published_at] if postmortem and postmortem.published_at else []
    incident.updated_at = max([u.updated_at for u in updates] + [incident.created_at] + published)
    incident.save()
    bump_version(incident.page)


def _first_at(updates: list[IncidentUpdate], *statuses: str) -> datetime | None:
    """When the incident last entered one of these statuses (None if not there now)."""
    if not updates or updates[-1].status not in statuses:
        return None
    at = updates[-1].display_at
    for update in reversed(updates):
        if update.status not in statuses:
            break
        at = update.display_at
    return at


def _check_name(name: str, kind: str = "an incident") -> str:
    name = name.strip()
    if not name or len(name) > 255:
        raise InputError(f"{kind} name must have 1 to 255 characters")
    return name


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
) -> Incident:
    name = _check_name(name, "a maintenance")
    if scheduled_until <= scheduled_for:
        raise InputError("a maintenance must end after it starts")
    for component in components or []:
        if component.page_id != page.pk:
            raise InputError(f"component {component.name!r} belongs to another page")
    at = at or timezone.now()
    maintenance = page.incidents.create(
        kind="maintenance", name=name, status="scheduled", impact="maintenance",
        created_at=at, updated_at=at, started_at=scheduled_for,
        scheduled_for=scheduled_for, scheduled_until=scheduled_until,
    )  # fmt: skip
    maintenance.components.add(*(components or []))
    maintenance.updates.create(status="scheduled", body=body or name, display_at=at, created_at=at)
    refresh_incident(maintenance)
    return maintenance


@transaction.atomic
def publish_postmortem(*, incident: Incident, body: str, at: datetime | None = None) -> Postmortem:
    at = at or timezone.now()
    if not body.strip():
        raise InputError("a postmortem needs a body")
    if at < incident.created_at:
        raise InputError("a postmortem cannot be published before its incident was opened")
    postmortem, _ = Postmortem.objects.update_or_create(
        incident=incident,
        defaults={"body": body, "body_draft": body, "published_at": at, "updated_at": at},
    )
    refresh_incident(incident)
    return postmortem
