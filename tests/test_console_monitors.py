"""Monitors in the console: the list, a monitor's page, the form, and who may do what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Component, Page
from heliograph.monitors import services
from heliograph.monitors.models import MetricPoint, Monitor, ProbeResult
from tests.support.world import INBOUND_MAIL

Login = Callable[[str], Client]
PASSWORD = "console-imap-pw-0c7d"


@pytest.fixture
def inbound(page: Page, cluster_a: Component) -> Monitor:
    monitor = services.create_monitor(
        page=page,
        name="Inbound — Cluster A",
        kind="mail_roundtrip",
        config=INBOUND_MAIL,
        secrets={"imap_password": PASSWORD},
        component=cluster_a,
        interval_seconds=120,
        timeout_seconds=110,
        automation="draft",
    )
    now = timezone.now()
    for minute in range(60):
        verdict = "slow" if minute < 3 else "ok"
        ProbeResult.objects.create(
            monitor=monitor,
            at=now - timedelta(minutes=minute),
            verdict=verdict,
            reason=f"delivered in {4 + minute} s",
            values={"delivery_seconds": 4.0 + minute},
        )
        MetricPoint.objects.create(
            monitor=monitor,
            name="delivery_seconds",
            at=now - timedelta(minutes=minute),
            value=4.0 + minute,
            low=4.0 + minute,
            high=4.0 + minute,
        )
    Monitor.objects.filter(pk=monitor.pk).update(
        last_verdict="slow", last_reason="delivered in 4 s", last_run_at=now
    )
    monitor.refresh_from_db()
    return monitor


def text(response: object) -> str:
    return response.content.decode()  # type: ignore[attr-defined,no-any-return]


def form(**fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Inbound — Cluster B",
        "kind": "mail_roundtrip",
        "component": "",
        "interval_seconds": "120",
        "timeout_seconds": "60",
        "automation": "off",
        "config": '{"smtp_host": "mx.b.example.net", "mail_from": "probe@example.org", '
        '"mail_to": "probe-b@example.net", "imap_host": "imap.example.net", '
        '"imap_username": "probe-b@example.net"}',
    }
    return {**data, **fields}


def test_it_lists_monitors_with_their_last_verdict(as_role: Login, inbound: Monitor) -> None:
    page = text(as_role("viewer").get("/console/monitors"))
    assert "Inbound — Cluster A" in page and 'class="v v-slow"' in page
    assert "delivered in 4 s" in page and "Cluster A" in page
    assert "unknown-alert" not in page and "New monitor" not in page
    assert 'href="/console/monitors" aria-current="page">Monitors' in page


def test_it_raises_the_alarm_when_a_prober_cannot_tell(as_role: Login, inbound: Monitor) -> None:
    Monitor.objects.filter(pk=inbound.pk).update(
        last_verdict="unknown", last_reason="the prober's IMAP login failed"
    )
    client = as_role("viewer")
    listing = text(client.get("/console/monitors"))
    assert 'id="unknown-alert"' in listing and 'class="v v-unknown"' in listing
    assert "the prober&#x27;s IMAP login failed" in listing
    dashboard = text(client.get("/console/"))
    assert 'id="unknown-monitors"' in dashboard and "1 monitor cannot tell" in dashboard
    detail = text(client.get(f"/console/monitors/{inbound.pk}"))
    assert "The prober itself failed" in detail
    Monitor.objects.filter(pk=inbound.pk).update(paused=True)
    assert 'id="unknown-monitors"' not in text(client.get("/console/"))


def test_it_shows_a_monitor_with_its_last_fifty_results_and_chart(
    as_role: Login, inbound: Monitor
) -> None:
    page = text(as_role("viewer").get(f"/console/monitors/{inbound.pk}"))
    assert page.count('<tr><td><span class="v v-') == 50
    assert "delivered in 4 s" in page and "delivered in 53 s" in page
    assert "delivered in 54 s" not in page  # the 51st
    assert "delivery_seconds: 4" in page
    assert " EDT" in page or " EST" in page  # the page's zone, America/New_York
    assert "<svg" in page
    assert "<code>imap_password</code>: set" in page and PASSWORD not in page
    assert "Run now" not in page and "Edit" not in page  # a viewer only reads


def test_it_lets_an_admin_create_a_monitor_without_ever_showing_the_secret(
    as_role: Login, page: Page
) -> None:
    client = as_role("admin")
    blank = text(client.get("/console/monitors/new?kind=mail_roundtrip"))
    assert 'name="secret_imap_password"' in blank and "&quot;ok_seconds&quot;: 60" in blank
    response = client.post("/console/monitors/new", form(secret_imap_password=PASSWORD))
    assert response.status_code == 302, text(response)
    created = Monitor.objects.get(name="Inbound — Cluster B")
    assert created.secrets == {"imap_password": PASSWORD}
    for path in (
        "/console/monitors",
        f"/console/monitors/{created.pk}",
        f"/console/monitors/{created.pk}/edit",
        "/console/audit",
    ):
        shown = text(client.get(path))
        assert PASSWORD not in shown, path
    edit = text(client.get(f"/console/monitors/{created.pk}/edit"))
    assert (
        "(set)" in edit
        and 'type="password"' in edit
        and "value=" not in edit.split('name="secret_imap_password"')[1].split(">")[0]
    )


def test_it_keeps_a_blank_secret_and_clears_a_ticked_one(as_role: Login, inbound: Monitor) -> None:
    client = as_role("owner")
    path = f"/console/monitors/{inbound.pk}/edit"
    fields = form(name=inbound.name, interval_seconds="300")
    assert client.post(path, fields).status_code == 302
    inbound.refresh_from_db()
    assert inbound.interval_seconds == 300 and inbound.secrets == {"imap_password": PASSWORD}
    assert client.post(path, {**fields, "clear_imap_password": "on"}).status_code == 302
    inbound.refresh_from_db()
    assert inbound.secrets == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"config": "{not json"}, "not valid JSON"),
        ({"config": '{"smtp_host": "mx.example.net"}'}, "config: imap_host is required"),
        ({"interval_seconds": "5"}, "Ensure this value is greater than or equal to 10"),
        ({"automation": "publish"}, "incident automation needs a component"),
        ({"name": "Inbound — Cluster A"}, "a monitor named &#x27;Inbound — Cluster A&#x27;"),
    ],
)
def test_it_shows_the_form_again_with_the_problem_and_saves_nothing(
    as_role: Login, inbound: Monitor, fields: dict[str, str], message: str
) -> None:
    before = (Monitor.objects.count(), AuditEvent.objects.count())
    response = as_role("admin").post(
        "/console/monitors/new", form(secret_imap_password=PASSWORD, **fields)
    )
    assert response.status_code == 400
    assert message in text(response)
    assert PASSWORD not in text(response)
    assert (Monitor.objects.count(), AuditEvent.objects.count()) == before


def test_it_switches_kind_keeping_what_was_typed(as_role: Login, page: Page) -> None:
    response = as_role("admin").post(
        "/console/monitors/new", form(kind="tcp", switch="1", name="Port 25")
    )
    shown = text(response)
    assert response.status_code == 200 and not Monitor.objects.exists()
    assert 'value="Port 25"' in shown and "&quot;port&quot;: 25" in shown
    assert "secret_imap_password" not in shown


def test_it_lets_a_responder_run_pause_and_resume_but_not_edit(
    as_role: Login, inbound: Monitor
) -> None:
    client = as_role("responder")
    base = f"/console/monitors/{inbound.pk}"
    shown = text(client.get(base))
    assert "Run now" in shown and "Pause" in shown and "Delete" not in shown
    Monitor.objects.filter(pk=inbound.pk).update(next_run_at=timezone.now() + timedelta(hours=1))
    assert client.post(f"{base}/run").status_code == 302
    assert Monitor.objects.get(pk=inbound.pk).next_run_at <= timezone.now()
    assert client.post(f"{base}/pause").status_code == 302
    assert Monitor.objects.get(pk=inbound.pk).paused
    refused = client.post(f"{base}/run")
    assert refused.status_code == 400 and "is paused; resume it to run it" in text(refused)
    assert client.post(f"{base}/resume").status_code == 302
    assert not Monitor.objects.get(pk=inbound.pk).paused
    assert client.post(f"{base}/edit", form()).status_code == 403
    assert client.post(f"{base}/delete").status_code == 403
    actors = set(AuditEvent.objects.filter(action__startswith="monitor.").values_list("actor"))
    assert ("user:responder",) in actors


def test_it_lets_an_admin_delete_a_monitor(as_role: Login, inbound: Monitor) -> None:
    response = as_role("admin").post(f"/console/monitors/{inbound.pk}/delete")
    assert response.status_code == 302 and response["Location"] == "/console/monitors"
    assert not Monitor.objects.exists()
    assert AuditEvent.objects.filter(action="monitor.delete", actor="user:admin").exists()


def test_it_answers_404_for_an_unknown_monitor(as_role: Login, page: Page) -> None:
    assert as_role("viewer").get("/console/monitors/nope").status_code == 404


def test_it_leaves_pausing_to_its_buttons_when_editing(as_role: Login, inbound: Monitor) -> None:
    services.pause_monitor(monitor=inbound, actor="user:responder")
    client = as_role("admin")
    path = f"/console/monitors/{inbound.pk}/edit"
    assert 'name="paused"' not in text(client.get(path))
    assert client.post(path, form(name=inbound.name, interval_seconds="90")).status_code == 302
    inbound.refresh_from_db()
    assert inbound.paused and inbound.interval_seconds == 90


def test_it_lets_an_admin_make_a_monitor_a_signal_with_a_severity(
    as_role: Login, inbound: Monitor
) -> None:
    client = as_role("admin")
    shown = text(client.get(f"/console/monitors/{inbound.pk}"))
    assert "path: blended with the component’s other paths" in shown
    assert "(its kind’s default)" in shown
    edit = f"/console/monitors/{inbound.pk}/edit"
    assert 'name="role"' in text(client.get(edit)) and 'name="severity"' in text(client.get(edit))
    wrong = client.post(edit, form(name=inbound.name, severity="major_outage"))
    assert wrong.status_code == 400 and "severity applies to signals only" in text(wrong)
    done = client.post(edit, form(name=inbound.name, role="signal", severity="major_outage"))
    assert done.status_code == 302, text(done)
    inbound.refresh_from_db()
    assert (inbound.role, inbound.severity) == ("signal", "major_outage")
    shown = text(client.get(f"/console/monitors/{inbound.pk}"))
    assert "signal: in trouble it makes the component major_outage" in shown
    assert "(its kind’s default)" not in shown
