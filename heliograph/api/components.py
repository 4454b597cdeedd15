"""``/v1/pages/{page_id}/components`` and ``component-groups``, and component uptime."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from heliograph.api.auth import actor
from heliograph.api.common import (
    component_or_404,
    components_named,
    group_named,
    group_or_404,
    page_or_404,
    paginate,
    responses,
)
from heliograph.api.schemas import (
    ComponentCreateIn,
    ComponentIn,
    ComponentOut,
    Day,
    GroupCreateIn,
    GroupIn,
    GroupOut,
    Paging,
    UptimeOut,
)
from heliograph.api.serialize import Json, component_body, group_body, world_for
from heliograph.catalog import services
from heliograph.catalog.models import Component, ComponentGroup
from heliograph.incidents.services import component_uptime
from heliograph.lib.unset import UNSET
from heliograph.publish.v2json import components_json

router = Router(tags=["components"])
groups = Router(tags=["component groups"])

COMPONENT = "/pages/{page_id}/components/{component_id}"
GROUP = "/pages/{page_id}/component-groups/{id}"


def _component_json(component: Component) -> Json:
    component.refresh_from_db()
    return component_body(world_for(component.page), component)


@router.get(
    "/pages/{page_id}/components",
    response=responses(200, list[ComponentOut]),
    operation_id="getPagesPageIdComponents",
    summary="Get a list of components",
)
def list_components(request: HttpRequest, page_id: str, paging: Query[Paging]) -> list[Json]:
    entries = components_json(world_for(page_or_404(page_id)))
    return paginate(entries, paging.page, paging.per_page)


@router.post(
    "/pages/{page_id}/components",
    response=responses(201, ComponentOut),
    operation_id="postPagesPageIdComponents",
    summary="Create a component",
)
def create_component(request: HttpRequest, page_id: str, data: ComponentCreateIn) -> Status[Json]:
    page = page_or_404(page_id)
    fields = data.component
    with transaction.atomic():  # one request, one transaction: nothing half-created
        component = services.create_component(
            page=page,
            name=fields.name,
            group=group_named(page, fields.group_id),
            description=fields.description or "",
            start_date=fields.start_date,
            actor=actor(request),
        )
        # Statuspage takes the other fields on create too; they are plain updates here.
        _apply(request, component, data, creating=True)
    return Status(201, _component_json(component))


@router.get(
    COMPONENT,
    response=responses(200, ComponentOut),
    operation_id="getPagesPageIdComponentsComponentId",
    summary="Get a component",
)
def get_component(request: HttpRequest, page_id: str, component_id: str) -> Json:
    return _component_json(component_or_404(page_or_404(page_id), component_id))


@router.patch(
    COMPONENT,
    response=responses(200, ComponentOut),
    operation_id="patchPagesPageIdComponentsComponentId",
    summary="Update a component",
    description='A group_id of null (or "null") takes the component out of its group.',
)
@router.put(
    COMPONENT,
    response=responses(200, ComponentOut),
    operation_id="putPagesPageIdComponentsComponentId",
    summary="Update a component",
)
def update_component(
    request: HttpRequest, page_id: str, component_id: str, data: ComponentIn
) -> Json:
    component = component_or_404(page_or_404(page_id), component_id)
    _apply(request, component, data, creating=False)
    return _component_json(component)


def _apply(
    request: HttpRequest,
    component: Component,
    data: ComponentIn | ComponentCreateIn,
    creating: bool,
) -> None:
    fields = data.component
    given = fields.model_fields_set
    group = (
        group_named(component.page, fields.group_id)
        if "group_id" in given and not creating
        else UNSET
    )
    start = fields.start_date if "start_date" in given and not creating else UNSET
    services.update_component(
        component=component,
        actor=actor(request),
        name=None if creating else fields.name,
        description=None if creating else fields.description,
        group=group,
        start_date=start,
        position=fields.position,
        showcase=fields.showcase,
        only_show_if_degraded=fields.only_show_if_degraded,
        status=fields.status or None,
    )


@router.delete(
    COMPONENT,
    response=responses(204, None),
    operation_id="deletePagesPageIdComponentsComponentId",
    summary="Delete a component",
)
def delete_component(request: HttpRequest, page_id: str, component_id: str) -> HttpResponse:
    component = component_or_404(page_or_404(page_id), component_id)
    services.delete_component(component=component, actor=actor(request))
    return HttpResponse(status=204)


class UptimeQuery(Schema):
    start: Day | None = Field(None, description="First day (YYYY-MM-DD), page time zone")
    end: Day | None = Field(None, description="Last day (YYYY-MM-DD); defaults to today")


@router.get(
    COMPONENT + "/uptime",
    response=responses(200, UptimeOut),
    operation_id="getPagesPageIdComponentsComponentIdUptime",
    summary="Get uptime data for a component",
)
def uptime(
    request: HttpRequest, page_id: str, component_id: str, dates: Query[UptimeQuery]
) -> Json:
    component = component_or_404(page_or_404(page_id), component_id)
    return component_uptime(component=component, start=dates.start, end=dates.end)


# --- groups --------------------------------------------------------------------------------


def _group_json(group: ComponentGroup) -> Json:
    group.refresh_from_db()
    return group_body(world_for(group.page), group)


@groups.get(
    "/pages/{page_id}/component-groups",
    response=responses(200, list[GroupOut]),
    operation_id="getPagesPageIdComponentGroups",
    summary="Get a list of component groups",
)
def list_groups(request: HttpRequest, page_id: str, paging: Query[Paging]) -> list[Json]:
    page = page_or_404(page_id)
    world = world_for(page)
    return [group_body(world, g) for g in paginate(world.groups, paging.page, paging.per_page)]


@groups.post(
    "/pages/{page_id}/component-groups",
    response=responses(201, GroupOut),
    operation_id="postPagesPageIdComponentGroups",
    summary="Create a component group",
)
def create_group(request: HttpRequest, page_id: str, data: GroupCreateIn) -> Status[Json]:
    page = page_or_404(page_id)
    fields = data.component_group
    members = components_named(page, fields.components or [])
    description = fields.description if fields.description is not None else data.description
    with transaction.atomic():
        group = services.create_group(
            page=page, name=fields.name, description=description or "", actor=actor(request)
        )
        if members or fields.position is not None:
            services.update_group(
                group=group, actor=actor(request), components=members, position=fields.position
            )
    return Status(201, _group_json(group))


@groups.get(
    GROUP,
    response=responses(200, GroupOut),
    operation_id="getPagesPageIdComponentGroupsId",
    summary="Get a component group",
)
def get_group(request: HttpRequest, page_id: str, id: str) -> Json:  # noqa: A002 - spec's name
    return _group_json(group_or_404(page_or_404(page_id), id))


@groups.patch(
    GROUP,
    response=responses(200, GroupOut),
    operation_id="patchPagesPageIdComponentGroupsId",
    summary="Update a component group",
)
@groups.put(
    GROUP,
    response=responses(200, GroupOut),
    operation_id="putPagesPageIdComponentGroupsId",
    summary="Update a component group",
)
def update_group(request: HttpRequest, page_id: str, id: str, data: GroupIn) -> Json:  # noqa: A002
    page = page_or_404(page_id)
    group = group_or_404(page, id)
    fields = data.component_group
    members = None if fields.components is None else components_named(page, fields.components)
    description = fields.description if fields.description is not None else data.description
    services.update_group(
        group=group,
        actor=actor(request),
        name=fields.name,
        description=description,
        position=fields.position,
        components=members,
    )
    return _group_json(group)


@groups.delete(
    GROUP,
    response=responses(200, GroupOut),
    operation_id="deletePagesPageIdComponentGroupsId",
    summary="Delete a component group",
)
def delete_group(request: HttpRequest, page_id: str, id: str) -> Json:  # noqa: A002
    group = group_or_404(page_or_404(page_id), id)
    body = _group_json(group)
    services.delete_group(group=group, actor=actor(request))
    return body
