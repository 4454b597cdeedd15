"""Draft incidents: opened for responders only, public (and announced) once published."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from heliograph.accounts.keys import create_key
from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from heliograph.notify.models import INCIDENT_UPDATE, POSTMORTEM, Notification
from heliograph.publish import feeds, html, v2json
from heliograph.publish.world import load_world


def draft(page: Page, component: Component, **extra: object) -> Incident:
    return incidents.open_incident(
        page=page,
        name="Degraded: Inbound mail delays on Cluster A",
        body="Delivery took 187 s.",
        components={component: DEGRADED},
        draft=True,
        actor="monitor:Inbound",
        **extra,  # type: ignore[arg-type]
    )


def notified() -> list[str]:
    return [
        n.payload["incident"]["status"]
        for n in Notification.objects.filter(kind=INCIDENT_UPDATE).order_by("created_at")
    ]


def public_text(page: Page) -> str:
    world = load_world(page)
    artifacts = {**html.render(world), **v2json.render(world), **feeds.render(world)}
    return "\n".join(body.decode() for _, body in artifacts.values())


def test_a_draft_is_on_no_public_artifact(page: Page, cluster_a: Component) -> None:
    incident = draft(page, cluster_a)
    incidents.post_update(incident=incident, status="identified", body="An rspam loop.")
    assert incident.draft and incident.pk not in public_text(page)
    assert "Inbound mail delays" not in public_text(page)
    assert f"/incidents/{incident.pk}" not in html.render(load_world(page))
    incidents.publish_draft(incident=incident, actor="user:alice")
    assert incident.pk in public_text(page) and not incident.draft


def test_a_draft_notifies_nobody_until_published(page: Page, cluster_a: Component) -> None:
    incident = draft(page, cluster_a)
    incidents.post_update(incident=incident, status="identified", body="An rspam loop.")
    assert notified() == []
    version = Page.objects.get(pk=page.pk).version
    incidents.publish_draft(incident=incident, actor="user:alice")
    assert notified() == ["identified"]  # its latest update, once
    assert Page.objects.get(pk=page.pk).version > version
    event = AuditEvent.objects.get(action="incident.publish")
    assert (event.actor, event.before, event.after) == (
        "user:alice",
        {"draft": True},
        {"draft": False},
    )
    incidents.post_update(incident=incident, status="resolved", body="Fixed.")
    assert notified() == ["identified", "resolved"]


def test_publishing_an_old_draft_is_news_not_a_backfill(page: Page, cluster_a: Component) -> None:
    opened = timezone.now() - timedelta(hours=3)
    incident = draft(page, cluster_a, at=opened)
    incidents.publish_draft(incident=incident, actor="user:alice")
    assert notified() == ["investigating"]
    assert incident.updates.get().display_at == opened  # the record keeps its time


def test_a_drafts_postmortem_notifies_nobody(page: Page, cluster_a: Component) -> None:
    incident = draft(page, cluster_a)
    incidents.post_update(incident=incident, status="resolved", body="Fixed.")
    incidents.publish_postmortem(incident=incident, body="What happened.", notify_subscribers=True)
    assert not Notification.objects.filter(kind=POSTMORTEM).exists()


def test_only_a_draft_can_be_published(page: Page, incident: Incident) -> None:
    with pytest.raises(InputError, match="not a draft"):
        incidents.publish_draft(incident=incident, actor="user:alice")
    assert not AuditEvent.objects.filter(action="incident.publish").exists()


def test_the_manage_api_lists_drafts(client: Client, page: Page, cluster_a: Component) -> None:
    incident = draft(page, cluster_a)
    key = create_key(name="bot", scope="read")[1]
    response = client.get(f"/v1/pages/{page.pk}/incidents", HTTP_AUTHORIZATION=f"OAuth {key}")
    assert response.status_code == 200
    assert incident.pk in {i["id"] for i in json.loads(response.content)}


# --- the console ----------------------------------------------------------------------------


def test_the_console_publishes_a_draft(
    page: Page, cluster_a: Component, as_role: Callable[[str], Client]
) -> None:
    incident = draft(page, cluster_a)
    responder = as_role("responder")
    shown = responder.get(f"/console/incidents/{incident.pk}").content.decode()
    assert "Draft" in shown and 'name="publish_draft"' in shown
    refused = as_role("viewer").post(f"/console/incidents/{incident.pk}", {"publish_draft": "1"})
    assert refused.status_code == 403
    incident.refresh_from_db()
    assert incident.draft
    done = responder.post(f"/console/incidents/{incident.pk}", {"publish_draft": "1"})
    assert done.status_code == 302
    incident.refresh_from_db()
    assert not incident.draft and notified() == ["investigating"]
    again = responder.post(f"/console/incidents/{incident.pk}", {"publish_draft": "1"})
    assert again.status_code == 400 and "not a draft" in again.content.decode()
    shown = responder.get(f"/console/incidents/{incident.pk}").content.decode()
    assert 'name="publish_draft"' not in shown
