"""What queues a notification: each change writes one Notification in its own transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED, MAINTENANCE, MAJOR, OPERATIONAL
from heliograph.incidents import maintenance as mt
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.lib import events
from heliograph.lib.errors import InputError
from heliograph.notify import worker
from heliograph.notify.models import (
    COMPONENT_UPDATE,
    INCIDENT_UPDATE,
    POSTMORTEM,
    Notification,
)
from heliograph.notify.models import MAINTENANCE as MAINTENANCE_KIND
from tests.support.notify import hook_sink, smtp_sink, subscribe


def kinds(kind: str) -> list[Notification]:
    return list(Notification.objects.filter(kind=kind).order_by("created_at"))


def outage(page: Page, **extra: Any) -> Incident:
    return incidents.open_incident(
        page=page, name="Cluster A - Outbound Delays", body="We are investigating.", **extra
    )


def test_it_loads_the_example_history_without_queueing_anything(page: Page) -> None:
    assert page.incidents.exists()
    assert Notification.objects.count() == 0


def test_it_queues_one_notification_per_incident_update(page: Page) -> None:
    incident = outage(page)
    [first] = kinds(INCIDENT_UPDATE)
    assert first.incident_id == incident.pk
    assert first.payload["incident"]["name"] == "Cluster A - Outbound Delays"
    assert first.payload["incident"]["status"] == "investigating"
    assert list(first.payload) == ["meta", "page", "incident"]

    incidents.post_update(incident=incident, status="resolved", body="Fixed.")
    incidents.reopen_incident(incident=incident, body="It is back.")
    queued = kinds(INCIDENT_UPDATE)
    assert [n.payload["incident"]["status"] for n in queued] == [
        "investigating",
        "resolved",
        "investigating",
    ]
    assert {n.incident_id for n in queued} == {incident.pk}


def test_it_queues_nothing_when_asked_not_to_notify(page: Page) -> None:
    incident = outage(page, deliver_notifications=False)
    incidents.post_update(
        incident=incident, status="resolved", body="Fixed.", deliver_notifications=False
    )
    assert Notification.objects.count() == 0


def test_it_queues_nothing_for_a_backfilled_incident(page: Page) -> None:
    earlier = timezone.now() - timedelta(days=3)
    incident = outage(page, at=earlier, backfilled=True)
    incidents.post_update(incident=incident, status="resolved", body="Fixed.", at=earlier)
    assert Notification.objects.count() == 0


def test_it_queues_nothing_when_the_change_is_rolled_back(page: Page) -> None:
    incident = outage(page)
    with pytest.raises(InputError), transaction.atomic():
        incidents.post_update(incident=incident, status="identified", body="Found it.")
        raise InputError("a later step of the same change failed")
    assert len(kinds(INCIDENT_UPDATE)) == 1
    assert not incident.updates.filter(status="identified").exists()


def test_a_failing_notification_write_rolls_the_update_back(page: Page) -> None:
    incident = outage(page)

    def broken(**data: Any) -> None:
        raise InputError("the outbox refused it")

    events.connect(events.INCIDENT_UPDATE, broken)
    try:
        with pytest.raises(InputError):
            incidents.post_update(incident=incident, status="identified", body="Found it.")
    finally:
        events.disconnect(events.INCIDENT_UPDATE, broken)
    assert len(kinds(INCIDENT_UPDATE)) == 1
    assert not incident.updates.filter(status="identified").exists()


def test_it_announces_a_maintenance_when_scheduled_started_and_completed(
    page: Page, cluster_a: Component
) -> None:
    now = timezone.now()
    m = incidents.schedule_maintenance(
        page=page,
        name="MX upgrade",
        body="Upgrading MX hosts.",
        at=now,
        scheduled_for=now + timedelta(minutes=5),
        scheduled_until=now + timedelta(minutes=10),
        components=[cluster_a],
    )
    assert [n.payload["incident"]["status"] for n in kinds(MAINTENANCE_KIND)] == ["scheduled"]

    assert mt.run_due(now=now + timedelta(minutes=5)) == 1  # the worker starts it
    assert mt.run_due(now=now + timedelta(minutes=10)) >= 1  # and completes it
    mt.run_due(now=now + timedelta(minutes=12))  # nothing more to announce
    queued = kinds(MAINTENANCE_KIND)
    assert [n.payload["incident"]["status"] for n in queued] == [
        "scheduled",
        "in_progress",
        "completed",
    ]
    assert {n.incident_id for n in queued} == {m.pk}
    assert kinds(INCIDENT_UPDATE) == []
    started = queued[1].payload["incident"]["incident_updates"][0]
    assert started["affected_components"][0]["new_status"] == MAINTENANCE
    changes = [(n.payload["component_update"]["new_status"]) for n in kinds(COMPONENT_UPDATE)]
    assert changes == [MAINTENANCE, OPERATIONAL]


def test_a_responder_starting_and_completing_a_maintenance_notifies_once_each(
    page: Page, cluster_a: Component
) -> None:
    now = timezone.now()
    m = incidents.schedule_maintenance(
        page=page,
        name="MX upgrade",
        body="Upgrading MX hosts.",
        at=now,
        scheduled_for=now + timedelta(hours=2),
        scheduled_until=now + timedelta(hours=3),
        components=[cluster_a],
        deliver_notifications=False,
    )
    assert Notification.objects.count() == 0
    mt.post_maintenance_update(maintenance=m, status="in_progress", body="Starting early.")
    mt.post_maintenance_update(maintenance=m, status="completed", body="Done.")
    queued = kinds(MAINTENANCE_KIND)
    assert [n.payload["incident"]["status"] for n in queued] == ["in_progress", "completed"]


def test_it_queues_a_postmortem_only_when_asked(page: Page) -> None:
    incident = outage(page)
    incidents.post_update(incident=incident, status="resolved", body="Fixed.")
    incidents.publish_postmortem(incident=incident, body="What happened.")
    assert kinds(POSTMORTEM) == []
    incidents.publish_postmortem(incident=incident, body="What happened.", notify_subscribers=True)
    [notification] = kinds(POSTMORTEM)
    assert notification.incident_id == incident.pk
    assert notification.payload["incident"]["postmortem_body"] == "What happened."


def test_it_queues_a_component_change_from_any_source_but_not_a_backfill(
    cluster_a: Component,
) -> None:
    catalog.set_component_status(component=cluster_a, status=MAJOR, source="monitor")
    [notification] = kinds(COMPONENT_UPDATE)
    assert notification.component_id == cluster_a.pk
    update = notification.payload["component_update"]
    assert (update["old_status"], update["new_status"]) == (OPERATIONAL, MAJOR)

    catalog.set_component_status(
        component=cluster_a, status=DEGRADED, at=timezone.now() - timedelta(days=2)
    )
    assert len(kinds(COMPONENT_UPDATE)) == 1


def test_a_component_change_reaches_a_webhook(settings: Any, cluster_a: Component) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "127.0.0.0/8"
    with hook_sink() as sink:
        subscribe(cluster_a.page, endpoint=sink.url, components=[cluster_a])
        subscribe(cluster_a.page, email_address="ops@example.net")  # e-mail: not told
        change = catalog.set_component_status(component=cluster_a, status=MAJOR)
        assert change is not None
        assert worker.run_once(owner="test") == 1
    [received] = sink.received
    body = received.json()
    assert list(body) == ["meta", "page", "component_update", "component"]
    assert body["component_update"] == {
        "created_at": body["component_update"]["created_at"],
        "new_status": MAJOR,
        "old_status": OPERATIONAL,
        "id": str(change.pk),
        "component_id": cluster_a.pk,
        "component_type": "Component",
    }
    assert body["component"]["id"] == cluster_a.pk
    assert body["component"]["status"] == MAJOR


def test_an_incident_update_reaches_the_subscribers_of_its_components_only(
    settings: Any, page: Page, cluster_a: Component
) -> None:
    cluster_b = catalog.create_component(page=page, name="Cluster B", group=page.groups.get())
    subscribe(page, email_address="a@example.net", components=[cluster_a])
    subscribe(page, email_address="b@example.net", components=[cluster_b])
    outage(page, components={cluster_a: DEGRADED})
    with smtp_sink() as sink:
        settings.HELIOGRAPH_SMTP_URL = f"smtp://127.0.0.1:{sink.port}?starttls=0&timeout=5"
        settings.HELIOGRAPH_SMTP_FALLBACK_URL = ""
        settings.HELIOGRAPH_MAIL_FROM = "OpenSRS Status <status@example.com>"
        worker.run_once(owner="test")
    [message] = sink.messages
    assert message["To"] == "a@example.net"
    assert "Cluster A - Outbound Delays" in message["Subject"]
    assert "We are investigating." in message.get_body(("plain",)).get_content()
