"""``/v1/pages/{page_id}/incidents/{incident_id}/postmortem`` (+ ``publish``, ``revert``)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from heliograph.api.auth import actor
from heliograph.api.common import incident_or_404, page_or_404, responses
from heliograph.api.errors import not_found
from heliograph.api.schemas import PostmortemIn, PostmortemOut, PostmortemPublishIn
from heliograph.api.serialize import Json, postmortem_body, world_for
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident, Postmortem

router = Router(tags=["incident postmortem"])
POSTMORTEM = "/pages/{page_id}/incidents/{incident_id}/postmortem"


def _incident(page_id: str, incident_id: str) -> Incident:
    incident = incident_or_404(page_or_404(page_id), incident_id)
    if incident.is_maintenance:
        raise not_found("postmortem (maintenances have none)")
    return incident


def _json(incident: Incident, postmortem: Postmortem | None) -> Json:
    return postmortem_body(world_for(incident.page), postmortem)


@router.get(
    POSTMORTEM,
    response=responses(200, PostmortemOut),
    operation_id="getPagesPageIdIncidentsIncidentIdPostmortem",
    summary="Get Postmortem",
    description="Before anything is saved, body_draft holds a pre-filled text: the impact "
    "windows, the public update log and the related changes.",
)
def get_postmortem(request: HttpRequest, page_id: str, incident_id: str) -> Json:
    incident = _incident(page_id, incident_id)
    postmortem = Postmortem.objects.filter(incident=incident).first()
    body = _json(incident, postmortem)
    if postmortem is None:
        body["body_draft"] = incidents.prefill_postmortem(incident=incident)
    return body


@router.put(
    POSTMORTEM,
    response=responses(200, PostmortemOut),
    operation_id="putPagesPageIdIncidentsIncidentIdPostmortem",
    summary="Create Postmortem",
)
def save_draft(request: HttpRequest, page_id: str, incident_id: str, data: PostmortemIn) -> Json:
    incident = _incident(page_id, incident_id)
    postmortem = incidents.save_postmortem_draft(
        incident=incident, body=data.postmortem.body_draft, actor=actor(request)
    )
    return _json(incident, postmortem)


@router.put(
    POSTMORTEM + "/publish",
    response=responses(200, PostmortemOut),
    operation_id="putPagesPageIdIncidentsIncidentIdPostmortemPublish",
    summary="Publish Postmortem",
    description="Publishes the saved draft.",
)
def publish(
    request: HttpRequest, page_id: str, incident_id: str, data: PostmortemPublishIn
) -> Json:
    incident = _incident(page_id, incident_id)
    fields = data.postmortem
    postmortem = incidents.publish_postmortem(
        incident=incident,
        notify_subscribers=bool(fields and fields.notify_subscribers),
        actor=actor(request),
    )
    return _json(incident, postmortem)


@router.put(
    POSTMORTEM + "/revert",
    response=responses(200, PostmortemOut),
    operation_id="putPagesPageIdIncidentsIncidentIdPostmortemRevert",
    summary="Revert Postmortem",
    description="Unpublishes; the text becomes the draft again.",
)
def revert(request: HttpRequest, page_id: str, incident_id: str) -> Json:
    incident = _incident(page_id, incident_id)
    postmortem = incidents.revert_postmortem(incident=incident, actor=actor(request))
    return _json(incident, postmortem)
