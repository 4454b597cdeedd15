"""Shared pieces of the incident services: lookups, checks, recomputing an incident.

Kept apart from ``services`` so postmortems, changes and templates can use them without
importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import models

from heliograph.audit import trail
from heliograph.catalog.models import Component, Page
from heliograph.catalog.services import bump_version, check_status
from heliograph.incidents import lifecycle
from heliograph.incidents.models import Change, Incident, IncidentUpdate, Postmortem
from heliograph.lib.errors import InputError

ComponentStatuses = Mapping[Component, str]


def find_incident(page: Page, ref: str) -> Incident:
    found = page.incidents.filter(pk=ref).first() or page.incidents.filter(reference=ref).first()
    if found is None:
        raise InputError(f"page {page.name!r} has no incident with id or reference {ref!r}")
    return found


def check_name(name: str, kind: str = "an incident") -> str:
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise InputError(f"{kind} name must have 1 to 255 characters")
    return name


def check_impact(impact: str) -> str:
    if impact and impact not in lifecycle.IMPACTS:
        raise InputError(f"unknown impact {impact!r}; use one of none, minor, major, critical")
    return impact


def check_same_page(components: Any, page: Page) -> None:
    for component in components:
        if component.page_id != page.pk:
            raise InputError(f"component {component.name!r} belongs to another page")


def check_update(kind: str, status: str, components: ComponentStatuses, page: Page) -> None:
    allowed = (
        lifecycle.MAINTENANCE_STATUSES
        if kind == lifecycle.Kind.MAINTENANCE
        else (*lifecycle.UNRESOLVED, lifecycle.Status.RESOLVED)
    )
    if status not in allowed:
        raise InputError(f"unknown {kind} status {status!r}; use one of {', '.join(allowed)}")
    for component_status in components.values():
        check_status(component_status)
    check_same_page(components, page)


def check_metadata(metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise InputError("metadata must be a JSON object")
    return metadata


def record(
    actor: str,
    action: str,
    target: models.Model,
    page: Page,
    before: models.Model | dict[str, Any] | None = None,
    after: models.Model | dict[str, Any] | None = None,
) -> None:
    """An audit event; rows are pictured with ``trail.snapshot``."""
    trail.record(
        actor=actor,
        action=action,
        target=target,
        page_id=page.pk,
        before=trail.snapshot(before) if isinstance(before, models.Model) else before,
        after=trail.snapshot(after) if isinstance(after, models.Model) else after,
    )


def refresh_incident(incident: Incident) -> None:
    """Recompute status, impact and milestone times from updates and the timeline."""
    updates = list(incident.updates.order_by("display_at", "created_at"))
    postmortem = Postmortem.objects.filter(incident=incident).first()
    if incident.is_maintenance:
        incident.status = updates[-1].status if updates else lifecycle.Status.SCHEDULED
        incident.impact = "maintenance"
    else:
        incident.status = lifecycle.current_status(
            [u.status for u in updates], bool(postmortem and postmortem.is_published)
        )
        worst = [c.new_status for c in incident.status_changes.all()]
        incident.impact = lifecycle.impact_of(worst, incident.impact_override or None)
    incident.monitoring_at = _first_at(updates, "monitoring")
    incident.resolved_at = _first_at(updates, lifecycle.Status.RESOLVED, lifecycle.Status.COMPLETED)
    published = [postmortem.published_at] if postmortem and postmortem.published_at else []
    incident.updated_at = max([u.updated_at for u in updates] + [incident.created_at] + published)
    # Only what is computed here: a stale object must not undo a concurrent worker's metadata.
    incident.save(update_fields=["status", "impact", "monitoring_at", "resolved_at", "updated_at"])
    bump_version(incident.page, [incident])


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


def apply_cause(incident: Incident, cause: Incident | Change | None) -> None:
    """Point the incident at its cause (a maintenance or a change); None clears it."""
    if cause is not None:
        if cause.page_id != incident.page_id:
            raise InputError("an incident can only be caused by something on its own page")
        if isinstance(cause, Incident) and cause.pk == incident.pk:
            raise InputError("an incident cannot be its own cause")
        if isinstance(cause, Incident) and not cause.is_maintenance:
            raise InputError("a cause must be a maintenance or a recorded change")
    incident.caused_by = cause if isinstance(cause, Incident) else None
    incident.caused_by_change = cause if isinstance(cause, Change) else None


def status_steps(incident: Incident) -> list[lifecycle.StatusStep]:
    """The incident's component status changes, oldest first, as the pure rules take them."""
    return [
        lifecycle.StatusStep(sc.component_id, sc.at, sc.new_status)
        for sc in incident.status_changes.order_by("at", "id")
    ]


def impact_windows(incident: Incident) -> list[lifecycle.Window]:
    return lifecycle.impact_windows(status_steps(incident))
