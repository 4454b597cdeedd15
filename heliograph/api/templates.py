"""``/v1/pages/{page_id}/incident_templates``.

Statuspage's API lists and creates templates; reading, changing and deleting one by id are
Heliograph additions under the same resource name.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from heliograph.api.auth import actor
from heliograph.api.common import (
    components_named,
    group_named,
    page_or_404,
    paginate,
    responses,
    template_or_404,
)
from heliograph.api.schemas import Paging, TemplateCreateIn, TemplateIn, TemplateOut
from heliograph.api.serialize import Json, component_body, world_for
from heliograph.incidents import services as incidents
from heliograph.incidents.models import IncidentTemplate
from heliograph.lib.unset import UNSET
from heliograph.publish.world import World

router = Router(tags=["templates"])
TEMPLATES = "/pages/{page_id}/incident_templates"
TEMPLATE = TEMPLATES + "/{template_id}"


def template_json(world: World, template: IncidentTemplate) -> Json:
    members = {c.pk for c in template.components.all()}
    return {
        "id": template.pk,
        "components": [component_body(world, c) for c in world.components if c.pk in members],
        "name": template.name,
        "title": template.title,
        "body": template.body,
        "group_id": template.group_id,
        "update_status": template.update_status,
        "should_tweet": template.should_tweet,
        "should_send_notifications": template.should_send_notifications,
    }


def _one(template: IncidentTemplate) -> Json:
    template.refresh_from_db()
    return template_json(world_for(template.page), template)


@router.get(
    TEMPLATES,
    response=responses(200, list[TemplateOut]),
    operation_id="getPagesPageIdIncidentTemplates",
    summary="Get a list of templates",
)
def list_templates(request: HttpRequest, page_id: str, paging: Query[Paging]) -> list[Json]:
    page = page_or_404(page_id)
    world = world_for(page)
    found = page.incident_templates.prefetch_related("components")
    return [template_json(world, t) for t in paginate(found, paging.page, paging.per_page)]


@router.post(
    TEMPLATES,
    response=responses(201, TemplateOut),
    operation_id="postPagesPageIdIncidentTemplates",
    summary="Create a template",
)
def create_template(request: HttpRequest, page_id: str, data: TemplateCreateIn) -> Status[Json]:
    page = page_or_404(page_id)
    fields = data.template
    template = incidents.create_template(
        page=page,
        name=fields.name,
        title=fields.title,
        body=fields.body,
        group=group_named(page, fields.group_id),
        update_status=fields.update_status or "investigating",
        should_tweet=bool(fields.should_tweet),
        should_send_notifications=fields.should_send_notifications is not False,
        components=components_named(page, fields.component_ids or []),
        actor=actor(request),
    )
    return Status(201, _one(template))


@router.get(
    TEMPLATE,
    response=responses(200, TemplateOut),
    operation_id="getPagesPageIdIncidentTemplatesTemplateId",
    summary="Get a template",
)
def get_template(request: HttpRequest, page_id: str, template_id: str) -> Json:
    return _one(template_or_404(page_or_404(page_id), template_id))


@router.patch(
    TEMPLATE,
    response=responses(200, TemplateOut),
    operation_id="patchPagesPageIdIncidentTemplatesTemplateId",
    summary="Update a template",
)
def update_template(request: HttpRequest, page_id: str, template_id: str, data: TemplateIn) -> Json:
    page = page_or_404(page_id)
    template = template_or_404(page, template_id)
    fields = data.template
    given = "group_id" in fields.model_fields_set
    group = group_named(page, fields.group_id) if given else UNSET
    ids = fields.component_ids
    incidents.update_template(
        template=template,
        actor=actor(request),
        name=fields.name,
        title=fields.title,
        body=fields.body,
        update_status=fields.update_status,
        should_tweet=fields.should_tweet,
        should_send_notifications=fields.should_send_notifications,
        components=None if ids is None else components_named(page, ids),
        group=group,
    )
    return _one(template)


@router.delete(
    TEMPLATE,
    response=responses(200, TemplateOut),
    operation_id="deletePagesPageIdIncidentTemplatesTemplateId",
    summary="Delete a template",
)
def delete_template(request: HttpRequest, page_id: str, template_id: str) -> Json:
    template = template_or_404(page_or_404(page_id), template_id)
    body = _one(template)
    incidents.delete_template(template=template, actor=actor(request))
    return body
