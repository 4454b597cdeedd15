"""Heliograph's own resources beside Statuspage's, under names Statuspage does not use.

``changes`` (deploys and config changes on components), an incident's ``impact_windows``
(the durations everything else is computed from), ``reopen`` and ``caused_by``.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status

from heliograph.api.auth import actor
from heliograph.api.common import (
    components_named,
    incident_or_404,
    page_or_404,
    paginate,
    responses,
)
from heliograph.api.incidents import INCIDENT, component_statuses, incident_json
from heliograph.api.schemas import (
    CauseIn,
    ChangeIn,
    ChangeOut,
    ImpactWindowsOut,
    IncidentOut,
    Paging,
    ReopenIn,
)
from heliograph.api.serialize import Json, time, world_for
from heliograph.incidents import core as incident_core
from heliograph.incidents import lifecycle
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Change, Incident
from heliograph.lib.errors import InputError
from heliograph.publish.world import World

router = Router(tags=["heliograph"])
CHANGES = "/pages/{page_id}/changes"


def change_json(world: World, change: Change) -> Json:
    return {
        "id": change.pk,
        "page_id": change.page_id,
        "title": change.title,
        "at": time(world, change.at),
        "source": change.source,
        "link": change.link or None,
        "component_ids": [c.pk for c in change.components.all()],
        "actor": change.actor,
        "created_at": time(world, change.created_at),
    }


@router.get(
    CHANGES,
    response=responses(200, list[ChangeOut]),
    operation_id="getPagesPageIdChanges",
    summary="List recorded changes (Heliograph)",
)
def list_changes(request: HttpRequest, page_id: str, paging: Query[Paging]) -> list[Json]:
    page = page_or_404(page_id)
    world = world_for(page)
    found = page.changes.prefetch_related("components")
    return [change_json(world, c) for c in paginate(found, paging.page, paging.per_page)]


@router.post(
    CHANGES,
    response=responses(201, ChangeOut),
    operation_id="postPagesPageIdChanges",
    summary="Record a deploy or config change on components (Heliograph)",
)
def record_change(request: HttpRequest, page_id: str, data: ChangeIn) -> Status[Json]:
    page = page_or_404(page_id)
    fields = data.change
    members = components_named(page, fields.component_ids or [])
    change = incidents.record_change(
        page=page,
        title=fields.title,
        components=members,
        at=fields.at,
        source=fields.source,
        link=fields.link or "",
        actor=actor(request),
    )
    return Status(201, change_json(world_for(page), change))


@router.get(
    INCIDENT + "/impact_windows",
    response=responses(200, ImpactWindowsOut),
    operation_id="getPagesPageIdIncidentsIncidentIdImpactWindows",
    summary="An incident's impact windows and total duration (Heliograph)",
)
def impact_windows(request: HttpRequest, page_id: str, incident_id: str) -> Json:
    page = page_or_404(page_id)
    incident = incident_or_404(page, incident_id)
    world = world_for(page)
    now = timezone.now()
    windows = incident_core.impact_windows(incident)
    names = {c.pk: c.name for c in world.components}
    return {
        "incident_id": incident.pk,
        "total_duration_seconds": int(lifecycle.total_duration(windows, now).total_seconds()),
        "windows": [
            {
                "component_id": w.component,
                "component_name": names.get(w.component, ""),
                "start": time(world, w.start),
                "end": time(world, w.end),
                "worst_status": w.worst_status,
                "duration_seconds": int(w.duration(now).total_seconds()),
            }
            for w in windows
        ],
    }


@router.post(
    INCIDENT + "/reopen",
    response=responses(200, IncidentOut),
    operation_id="postPagesPageIdIncidentsIncidentIdReopen",
    summary="Reopen a resolved incident: the impact came back (Heliograph)",
)
def reopen(request: HttpRequest, page_id: str, incident_id: str, data: ReopenIn) -> Json:
    page = page_or_404(page_id)
    incident = incident_or_404(page, incident_id)
    fields = data.incident
    components = component_statuses(page, fields)
    at = timezone.now()
    with transaction.atomic():
        warnings = incidents.check_update_text(
            incident=incident, body=fields.body, status=fields.status, at=at, components=components
        )
        incidents.reopen_incident(
            incident=incident,
            body=fields.body,
            status=fields.status,
            components=components,
            at=at,
            actor=actor(request),
        )
    return incident_json(incident, warnings)


@router.put(
    INCIDENT + "/caused_by",
    response=responses(200, IncidentOut),
    operation_id="putPagesPageIdIncidentsIncidentIdCausedBy",
    summary="Tie an incident to the maintenance or change that caused it (Heliograph)",
    description="caused_by.id names a scheduled maintenance or a recorded change of the "
    "page; null unlinks.",
)
def caused_by(request: HttpRequest, page_id: str, incident_id: str, data: CauseIn) -> Json:
    page = page_or_404(page_id)
    incident = incident_or_404(page, incident_id)
    cause_id = data.caused_by.id
    cause: Incident | Change | None = None
    if cause_id:
        cause = (
            page.incidents.filter(pk=cause_id).first() or page.changes.filter(pk=cause_id).first()
        )
        if cause is None:
            raise InputError(f"page {page.name!r} has no maintenance or change {cause_id!r}")
    incidents.link_cause(incident=incident, cause=cause, actor=actor(request))
    return incident_json(incident)
