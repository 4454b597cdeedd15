"""Console access: login required, roles allowed or refused, CSRF on every form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from heliograph.accounts.keys import create_key
from heliograph.accounts.roles import ROLES, can
from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Page
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.monitors import services as monitors
from heliograph.notify import outbox, payloads
from heliograph.notify.models import INCIDENT_UPDATE
from tests.support.notify import subscribe
from tests.support.world import USER_PASSWORD, make_user


@dataclass
class World:
    page: Page
    incident: Incident
    maintenance: Incident
    ids: dict[str, str]


@pytest.fixture
def world(page: Page, incident: Incident) -> World:
    soon = timezone.now() + timedelta(days=1)
    maintenance = incidents.schedule_maintenance(
        page=page,
        name="Rspam upgrade",
        body="Upgrading rspam on Cluster A.",
        scheduled_for=soon,
        scheduled_until=soon + timedelta(hours=1),
        components=list(page.components.all()),
        actor="test",
    )
    template = incidents.create_template(
        page=page, name="Delays", title="Inbound delays", body="We see delays.", actor="test"
    )
    key, _ = create_key(name="deploy-bot")
    victim = make_user("viewer", "victim")
    hook = subscribe(
        page, endpoint="https://hooks.example.com/heliograph", email_address="ops@example.com"
    )
    sent = outbox.enqueue(
        page=page,
        kind=INCIDENT_UPDATE,
        incident=incident,
        payload=payloads.incident_payload(incident),
    )
    monitor = monitors.create_monitor(
        page=page, name="Port 25", kind="tcp", config={"host": "mx.example.net", "port": 25}
    )
    ids = {
        "monitor": monitor.pk,
        "incident": incident.pk,
        "maintenance": maintenance.pk,
        "template": template.pk,
        "component": page.components.get().pk,
        "group": page.groups.get().pk,
        "key": str(key.pk),
        "user": str(victim.pk),
        "update": incident.updates.order_by("display_at").first().pk,
        "subscriber": hook.pk,
        "notification": sent.pk,
    }
    return World(page, incident, maintenance, ids)


# (path, permission needed to see it)
GETS = [
    ("/console/", "read"),
    ("/console/incidents", "read"),
    ("/console/incidents/new", "manage_incidents"),
    ("/console/incidents/{incident}", "read"),
    ("/console/incidents/{incident}/postmortem", "read"),
    ("/console/maintenance", "read"),
    ("/console/changes", "read"),
    ("/console/components", "read"),
    ("/console/templates", "read"),
    ("/console/keys", "manage_keys"),
    ("/console/users", "manage_users"),
    ("/console/audit", "read"),
    ("/console/subscribers", "manage_incidents"),
    ("/console/subscribers?q=example&type=webhook&state=all", "manage_incidents"),
    ("/console/subscribers/new", "manage_subscribers"),
    ("/console/subscribers/export", "manage_subscribers"),
    ("/console/subscribers/{subscriber}", "manage_incidents"),
    ("/console/notifications", "read"),
    ("/console/notifications/{notification}", "manage_incidents"),
    ("/console/monitors", "read"),
    ("/console/monitors/new", "manage_components"),
    ("/console/monitors/new?kind=mail_roundtrip", "manage_components"),
    ("/console/monitors/{monitor}", "read"),
    ("/console/monitors/{monitor}/edit", "manage_components"),
]

# Every form the console posts to, with the permission it needs.
POSTS = [
    ("/console/incidents/new", "manage_incidents"),
    ("/console/incidents/{incident}", "manage_incidents"),
    ("/console/incidents/{incident}/reopen", "manage_incidents"),
    ("/console/incidents/{incident}/details", "manage_incidents"),
    ("/console/incidents/{maintenance}/details", "manage_incidents"),
    ("/console/incidents/{incident}/cause", "manage_incidents"),
    ("/console/incidents/{incident}/postmortem", "manage_incidents"),
    ("/console/updates/{update}/edit", "manage_incidents"),
    ("/console/maintenance", "manage_incidents"),
    ("/console/maintenance/{maintenance}/reschedule", "manage_incidents"),
    ("/console/maintenance/{maintenance}/overrun", "manage_incidents"),
    ("/console/changes", "manage_incidents"),
    ("/console/components/new", "manage_components"),
    ("/console/components/{component}", "manage_components"),
    ("/console/components/{component}/move", "manage_components"),
    ("/console/components/{component}/delete", "manage_components"),
    ("/console/groups/new", "manage_components"),
    ("/console/groups/{group}", "manage_components"),
    ("/console/groups/{group}/move", "manage_components"),
    ("/console/groups/{group}/delete", "manage_components"),
    ("/console/templates", "manage_components"),
    ("/console/templates/{template}", "manage_components"),
    ("/console/templates/{template}/delete", "manage_components"),
    ("/console/keys", "manage_keys"),
    ("/console/keys/{key}/revoke", "manage_keys"),
    ("/console/users", "manage_users"),
    ("/console/users/{user}/role", "manage_users"),
    ("/console/users/{user}/active", "manage_users"),
    ("/console/subscribers/new", "manage_subscribers"),
    ("/console/subscribers/{subscriber}/unsubscribe", "manage_incidents"),
    ("/console/subscribers/{subscriber}/resend", "manage_incidents"),
    ("/console/subscribers/{subscriber}/reactivate", "manage_subscribers"),
    ("/console/subscribers/{subscriber}/components", "manage_subscribers"),
    ("/console/subscribers/{subscriber}/rotate-secret", "manage_subscribers"),
    ("/console/monitors/new", "manage_components"),
    ("/console/monitors/{monitor}/edit", "manage_components"),
    ("/console/monitors/{monitor}/run", "manage_incidents"),
    ("/console/monitors/{monitor}/pause", "manage_incidents"),
    ("/console/monitors/{monitor}/resume", "manage_incidents"),
    ("/console/monitors/{monitor}/delete", "manage_components"),
]


@pytest.mark.parametrize(("path", "permission"), GETS)
@pytest.mark.parametrize("role", ROLES)
def test_it_shows_each_screen_to_the_roles_allowed(
    as_role: Callable[[str], Client], world: World, path: str, permission: str, role: str
) -> None:
    response = as_role(role).get(path.format(**world.ids))
    if can(role, permission):
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert b"Not allowed" in response.content


@pytest.mark.parametrize(("path", "permission"), POSTS)
@pytest.mark.parametrize("role", ROLES)
def test_it_refuses_changes_to_roles_below_the_permission(
    as_role: Callable[[str], Client], world: World, path: str, permission: str, role: str
) -> None:
    before = AuditEvent.objects.count()
    response = as_role(role).post(path.format(**world.ids), {})
    if can(role, permission):
        assert response.status_code not in (403, 405) and response.status_code < 500
    else:
        assert response.status_code == 403
        assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(("path", "_"), GETS + POSTS)
def test_it_sends_strangers_to_the_login_page(world: World, path: str, _: str) -> None:
    response = Client().get(path.format(**world.ids))
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login?next=")


@pytest.mark.parametrize(("path", "_"), [*POSTS, ("/console/logout", "")])
def test_it_refuses_every_form_posted_without_its_csrf_token(
    world: World, path: str, _: str
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("owner"))
    before = AuditEvent.objects.count()
    response = client.post(path.format(**world.ids), {"name": "x", "body": "y"})
    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert AuditEvent.objects.count() == before


def test_it_refuses_the_login_form_without_its_csrf_token(db: None) -> None:
    make_user("responder")
    client = Client(enforce_csrf_checks=True)
    response = client.post("/console/login", {"username": "responder", "password": USER_PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_it_logs_in_with_the_form_and_its_token(db: None) -> None:
    make_user("responder")
    client = Client(enforce_csrf_checks=True)
    form = client.get("/console/login?next=/console/incidents")
    assert b"<h1" in form.content  # screen readers start from the page's heading
    token = form.cookies["csrftoken"].value
    response = client.post(
        "/console/login?next=/console/incidents",
        {
            "username": "responder",
            "password": USER_PASSWORD,
            "csrfmiddlewaretoken": token,
            "next": "/console/incidents",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/console/incidents"


def test_it_rejects_a_wrong_password_or_an_inactive_user(db: None) -> None:
    user = make_user("responder")
    client = Client()
    response = client.post("/console/login", {"username": "responder", "password": "nope"})
    assert b"do not match an active user" in response.content
    user.is_active = False
    user.save()
    response = client.post("/console/login", {"username": "responder", "password": USER_PASSWORD})
    assert b"do not match an active user" in response.content
    assert "_auth_user_id" not in client.session


def test_it_logs_out_with_a_post(as_role: Callable[[str], Client]) -> None:
    client = as_role("viewer")
    assert client.post("/console/logout").status_code == 302
    assert client.get("/console/").status_code == 302
