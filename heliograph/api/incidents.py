"""``/v1/pages/{page_id}/incidents``: incidents and scheduled maintenances, their updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status
from pydantic import Field

from heliograph.api.auth import actor
from heliograph.api.common import (
    components_named,
    incident_or_404,
    page_or_404,
    paginate,
    responses,
    update_or_404,
)
from heliograph.api.schemas import (
    IncidentCreateIn,
    IncidentFields,
    IncidentIn,
    IncidentOut,
    IncidentUpdateIn,
    IncidentUpdateOut,
    Paging,
    Text255,
)
from heliograph.api.serialize import Json, incident_body, incidents_query, update_body, world_for
from heliograph.catalog.models import Component, Page
from heliograph.catalog.services import status_at
from heliograph.incidents import lifecycle
from heliograph.incidents import services as incidents
from heliograph.incidents.maintenance import post_any_update
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError

router = Router(tags=["incidents"])
INCIDENT = "/pages/{page_id}/incidents/{incident_id}"
PLAIN_FIELDS = {"name", "impact_override", "metadata", "reference", "started_at"}


def incident_json(incident: Incident, warnings: list[str] | None = None) -> Json:
    fresh = incidents_query(incident.page).get(pk=incident.pk)
    body = incident_body(world_for(incident.page, [fresh]), fresh)
    body["warnings"] = warnings
    return body


def _listing(page: Page, queryset: QuerySet[Incident], paging: Paging) -> list[Json]:
    chosen = paginate(queryset, paging.page, paging.per_page)
    world = world_for(page, chosen)
    return [incident_body(world, i) for i in chosen]


class IncidentQuery(Paging):
    q: Text255 | None = Field(None, description="Text in the name or updates")
    limit: int | None = Field(None, ge=1, le=1_000_000, description="Same as per_page")


@router.get(
    "/pages/{page_id}/incidents",
    response=responses(200, list[IncidentOut]),
    operation_id="getPagesPageIdIncidents",
    summary="Get a list of incidents",
)
def list_incidents(request: HttpRequest, page_id: str, query: Query[IncidentQuery]) -> list[Json]:
    page = page_or_404(page_id)
    found = incidents_query(page).order_by("-created_at")
    if query.q:
        text = query.q
        found = found.filter(Q(name__icontains=text) | Q(updates__body__icontains=text)).distinct()
    paging = Paging(page=query.page, per_page=query.limit or query.per_page)
    return _listing(page, found, paging)


def _list_route(suffix: str, operation_id: str, summary: str, which: Any) -> None:
    """The four fixed listings differ only in their filter."""

    @router.get(
        f"/pages/{{page_id}}/incidents/{suffix}",
        response=responses(200, list[IncidentOut]),
        operation_id=operation_id,
        summary=summary,
    )
    def listing(request: HttpRequest, page_id: str, paging: Query[Paging]) -> list[Json]:
        page = page_or_404(page_id)
        return _listing(page, which(incidents_query(page)), paging)

    listing.__name__ = f"list_{suffix}"


_list_route(
    "unresolved",
    "getPagesPageIdIncidentsUnresolved",
    "Get a list of unresolved incidents",
    lambda qs: qs.incidents().unresolved().order_by("-created_at"),
)
_list_route(
    "upcoming",
    "getPagesPageIdIncidentsUpcoming",
    "Get a list of upcoming incidents",
    lambda qs: (
        qs.maintenances()
        .scheduled()
        .filter(scheduled_for__gt=timezone.now())
        .order_by("scheduled_for")
    ),
)
_list_route(
    "scheduled",
    "getPagesPageIdIncidentsScheduled",
    "Get a list of scheduled incidents",
    lambda qs: qs.maintenances().scheduled().order_by("scheduled_for"),
)
_list_route(
    "active_maintenance",
    "getPagesPageIdIncidentsActiveMaintenance",
    "Get a list of active maintenances",
    lambda qs: qs.maintenances().active().order_by("scheduled_for"),
)


def component_statuses(page: Page, fields: Any, at: datetime | None = None) -> dict[Component, str]:
    """``components`` (id -> status) plus ``component_ids`` (affected, status unchanged)."""
    given: dict[str, str] = dict(fields.components or {})
    listed = getattr(fields, "component_ids", None) or []
    ids = list(given) + [i for i in listed if i not in given]
    found = components_named(page, ids)
    # "Unchanged" means the status it had at the update's time (a backfill is in the past).
    return {c: given.get(c.pk) or (status_at(c, at) if at else c.status) for c in found}


@router.post(
    "/pages/{page_id}/incidents",
    response=responses(201, IncidentOut),
    operation_id="postPagesPageIdIncidents",
    summary="Create an incident",
)
def create_incident(request: HttpRequest, page_id: str, data: IncidentCreateIn) -> Status[Json]:
    page = page_or_404(page_id)
    fields = data.incident
    with transaction.atomic():
        if fields.scheduled_for or fields.status in lifecycle.MAINTENANCE_STATUSES:
            incident = _schedule(request, page, fields)
            warnings = None
        else:
            incident = _open(request, page, fields)
            warnings = incidents.check_update_text(
                incident=incident, body=incident.updates.get().body, status=incident.status
            )
    return Status(201, incident_json(incident, warnings))


def _open(request: HttpRequest, page: Page, fields: IncidentFields) -> Incident:
    if fields.backfilled and fields.components:
        # As on Statuspage: a past incident must not rewrite the components' timeline.
        raise InputError("a backfilled incident cannot set component statuses; use component_ids")
    at = fields.backfill_date if fields.backfilled else None
    status = fields.status or ("resolved" if fields.backfilled else "investigating")
    return incidents.open_incident(
        page=page,
        name=fields.name or "",
        body=fields.body or "",
        status=status,
        components=component_statuses(page, fields, at),
        at=at,
        started_at=fields.started_at,
        reference=fields.reference or "",
        backfilled=bool(fields.backfilled),
        impact_override=fields.impact_override or "",
        deliver_notifications=fields.deliver_notifications is not False,
        metadata=fields.metadata,
        actor=actor(request),
    )


def _schedule(request: HttpRequest, page: Page, fields: IncidentFields) -> Incident:
    if not (fields.scheduled_for and fields.scheduled_until):
        raise InputError("a scheduled maintenance needs scheduled_for and scheduled_until")
    maintenance = incidents.schedule_maintenance(
        page=page,
        name=fields.name or "",
        body=fields.body or "",
        scheduled_for=fields.scheduled_for,
        scheduled_until=fields.scheduled_until,
        components=list(component_statuses(page, fields)),
        remind_prior=fields.scheduled_remind_prior is True,
        auto_in_progress=_flag(fields.scheduled_auto_in_progress, fields.scheduled_auto_transition),
        auto_completed=_flag(fields.scheduled_auto_completed),
        actor=actor(request),
    )
    if fields.metadata or fields.reference or fields.impact_override:
        incidents.update_incident(
            incident=maintenance,
            actor=actor(request),
            metadata=fields.metadata,
            reference=fields.reference,
            impact_override=fields.impact_override,
        )
    return maintenance


def _flag(*given: bool | None) -> bool:
    """The first flag the request set; on (as on Statuspage) when it set none."""
    return next((flag for flag in given if flag is not None), True)


@router.get(
    INCIDENT,
    response=responses(200, IncidentOut),
    operation_id="getPagesPageIdIncidentsIncidentId",
    summary="Get an incident",
)
def get_incident(request: HttpRequest, page_id: str, incident_id: str) -> Json:
    return incident_json(incident_or_404(page_or_404(page_id), incident_id))


@router.patch(
    INCIDENT,
    response=responses(200, IncidentOut),
    operation_id="patchPagesPageIdIncidentsIncidentId",
    summary="Update an incident",
    description="A status, body or components posts an incident update; name, "
    "impact_override, metadata and reference change the incident itself.",
)
@router.put(
    INCIDENT,
    response=responses(200, IncidentOut),
    operation_id="putPagesPageIdIncidentsIncidentId",
    summary="Update an incident",
)
def update_incident(request: HttpRequest, page_id: str, incident_id: str, data: IncidentIn) -> Json:
    page = page_or_404(page_id)
    incident = incident_or_404(page, incident_id)
    fields = data.incident
    warnings = None
    with transaction.atomic():
        if fields.scheduled_for or fields.scheduled_until:
            incidents.reschedule_maintenance(
                maintenance=incident,
                scheduled_for=fields.scheduled_for,
                scheduled_until=fields.scheduled_until,
                actor=actor(request),
            )
        if PLAIN_FIELDS & fields.model_fields_set:
            incidents.update_incident(
                incident=incident,
                actor=actor(request),
                name=fields.name,
                impact_override=fields.impact_override,
                metadata=fields.metadata,
                reference=fields.reference,
                started_at=fields.started_at,
            )
        if fields.status or fields.body or fields.components or fields.component_ids:
            warnings = _post(request, incident, fields)
    return incident_json(incident, warnings)


def _post(request: HttpRequest, incident: Incident, fields: IncidentFields) -> list[str]:
    """Post an update from PATCH fields; returns the truth-check warnings for its text."""
    status = fields.status or _current_status(incident)
    # Statuspage lets a status change go without text; the page shows the status name.
    body = fields.body or f"{lifecycle.STATUS_LABELS.get(status, status)}."
    components = component_statuses(incident.page, fields)
    at = timezone.now()
    warnings = incidents.check_update_text(
        incident=incident, body=body, status=status, at=at, components=components
    )
    post_any_update(
        incident=incident,
        status=status,
        body=body,
        components=components,
        at=at,
        deliver_notifications=fields.deliver_notifications is not False,
        actor=actor(request),
    )
    return warnings


def _current_status(incident: Incident) -> str:
    return "resolved" if incident.status == "postmortem" else incident.status


@router.delete(
    INCIDENT,
    response=responses(200, IncidentOut),
    operation_id="deletePagesPageIdIncidentsIncidentId",
    summary="Delete an incident",
)
def delete_incident(request: HttpRequest, page_id: str, incident_id: str) -> Json:
    incident = incident_or_404(page_or_404(page_id), incident_id)
    body = incident_json(incident)
    incidents.delete_incident(incident=incident, actor=actor(request))
    return body


# --- incident updates ----------------------------------------------------------------------

UPDATE = INCIDENT + "/incident_updates/{incident_update_id}"


@router.patch(
    UPDATE,
    response=responses(200, IncidentUpdateOut),
    operation_id="patchPagesPageIdIncidentsIncidentIdIncidentUpdatesIncidentUpdateId",
    summary="Update a previous incident update",
    description="The previous text and time are kept as a revision.",
)
@router.put(
    UPDATE,
    response=responses(200, IncidentUpdateOut),
    operation_id="putPagesPageIdIncidentsIncidentIdIncidentUpdatesIncidentUpdateId",
    summary="Update a previous incident update",
)
def edit_update(
    request: HttpRequest,
    page_id: str,
    incident_id: str,
    incident_update_id: str,
    data: IncidentUpdateIn,
) -> Json:
    page = page_or_404(page_id)
    incident = incident_or_404(page, incident_id)
    update = update_or_404(incident, incident_update_id)
    fields = data.incident_update
    update = incidents.edit_update(
        update=update,
        actor=actor(request),
        body=fields.body,
        display_at=fields.display_at,
        deliver_notifications=fields.deliver_notifications,
    )
    return update_body(world_for(page), update)
