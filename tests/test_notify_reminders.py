"""Maintenance reminders reach subscribers: the worker queues them, the outbox sends them.

Received by a real SMTP server (aiosmtpd) and a real HTTP server on 127.0.0.1; the last
test runs ``heliograph worker`` as a process.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.incidents import maintenance as mt
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.notify import outbox, payloads, worker
from heliograph.notify.models import MAINTENANCE, Delivery, Notification
from tests.support.live import scratch_database, wait_for
from tests.support.notify import hook_sink, smtp_sink, subscribe
from tests.support.worker import heliograph, query, workers
from tests.support.world import NOW

START = NOW + timedelta(minutes=30)  # Nov 27, 2026 - 7:30 AM EST
END = START + timedelta(hours=2)


def relay(settings: Any, port: int) -> None:
    settings.HELIOGRAPH_SMTP_URL = f"smtp://127.0.0.1:{port}?starttls=0&timeout=5"
    settings.HELIOGRAPH_SMTP_FALLBACK_URL = ""
    settings.HELIOGRAPH_MAIL_FROM = "OpenSRS Status <status@example.com>"


def upgrade(page: Page, components: list[Component]) -> Incident:
    m = incidents.schedule_maintenance(
        page=page,
        name="Cluster A - MX upgrade",
        body="Upgrading MX hosts.",
        scheduled_for=START,
        scheduled_until=END,
        components=components,
        at=NOW - timedelta(days=2),
    )
    Incident.objects.filter(pk=m.pk).update(scheduled_remind_prior=True)
    m.refresh_from_db()
    return m


@pytest.fixture
def cluster_b(page: Page) -> Component:
    return catalog.create_component(page=page, name="Cluster B", group=page.groups.get())


def test_it_emails_a_reminder_once_to_the_subscribers_of_the_maintenance(
    settings: Any, page: Page, cluster_a: Component, cluster_b: Component
) -> None:
    maintenance = upgrade(page, [cluster_a])
    subscribe(page, email_address="a@example.net", components=[cluster_a])
    subscribe(page, email_address="b@example.net", components=[cluster_b])
    subscribe(page, email_address="late@example.net", confirmed=False)

    assert mt.run_due(now=NOW) == 1
    maintenance.refresh_from_db()
    assert mt.notes(maintenance).reminder_queued_by == "notify"
    assert mt.reminded_at(maintenance) == NOW
    [notification] = Notification.objects.all()
    assert (notification.kind, notification.incident_id) == (MAINTENANCE, maintenance.pk)
    assert notification.component_ids == [cluster_a.pk]
    assert notification.payload["incident"]["name"] == "Cluster A - MX upgrade"

    with smtp_sink() as sink:
        relay(settings, sink.port)
        assert worker.run_once(owner="test", now=NOW) == 1
        assert mt.run_due(now=NOW + timedelta(minutes=10)) == 0  # reminded already
        assert worker.run_once(owner="test", now=NOW + timedelta(minutes=10)) == 0
    [message] = sink.messages
    assert message["To"] == "a@example.net"
    assert message["Subject"] == (
        "[OpenSRS] Upcoming maintenance: Cluster A - MX upgrade (starts Nov 27, 7:30 AM EST)"
    )
    window = "Nov 27, 2026 - 7:30 AM EST (12:30 UTC) to Nov 27, 2026 - 9:30 AM EST (14:30 UTC)"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Cluster A - MX upgrade" in part
        assert "Upcoming maintenance" in part
        assert window in part
        assert "Upgrading MX hosts." in part
        assert "This maintenance affects: Hosted Email (Cluster A)" in part
    assert Notification.objects.count() == 1
    assert Delivery.objects.get().status == "sent"


def test_it_posts_a_reminder_to_webhooks_as_the_plain_statuspage_payload(
    settings: Any, page: Page, cluster_a: Component
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "127.0.0.0/8"
    maintenance = upgrade(page, [cluster_a])
    with hook_sink() as sink:
        subscribe(page, endpoint=sink.url)
        mt.run_due(now=NOW)
        assert worker.run_once(owner="test", now=NOW) == 1
    [received] = sink.received
    body = received.json()
    assert list(body) == ["meta", "page", "incident"]  # the reminder mark is not sent
    assert body["incident"]["id"] == maintenance.pk
    assert body["incident"]["status"] == "scheduled"
    assert body["incident"]["scheduled_remind_prior"] is True


def test_it_announces_a_maintenance_without_calling_it_a_reminder(
    settings: Any, page: Page, cluster_a: Component
) -> None:
    """Only a reminder reads "upcoming": the announcement keeps its status in the subject."""
    maintenance = upgrade(page, [cluster_a])
    subscribe(page, email_address="a@example.net")
    outbox.enqueue(
        page=page,
        kind=MAINTENANCE,
        incident=maintenance,
        payload=payloads.incident_payload(maintenance),
    )
    with smtp_sink() as sink:
        relay(settings, sink.port)
        worker.run_once(owner="test")
    [message] = sink.messages
    assert message["Subject"] == "[OpenSRS] Cluster A - MX upgrade (Scheduled)"
    assert "Upcoming" not in message.get_body(("plain",)).get_content()


# --- the real process --------------------------------------------------------------------

SETUP = """
from django.utils import timezone
from heliograph.catalog.models import Component
from heliograph.incidents.models import Incident
from heliograph.notify.models import Subscriber

Incident.objects.filter(pk={pk!r}).update(scheduled_remind_prior=True)
for address, name in [("ops@example.net", "MX"), ("web@example.net", "Web")]:
    component = Component.objects.get(name=name)
    subscriber = Subscriber.objects.create(
        page=component.page, kind="email", email=address, confirmed_at=timezone.now()
    )
    subscriber.components.set([component])
"""


@pytest.fixture
def worker_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with scratch_database() as url:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("HELIOGRAPH_SMTP")}
        environ.pop("DATABASE_URL", None)
        environ["HELIOGRAPH_DATA"] = str(tmp_path)
        if url:
            environ["DATABASE_URL"] = url
        heliograph(environ, "migrate")
        yield environ


def test_it_delivers_a_reminder_from_the_worker_process_and_stops_on_sigterm(
    worker_env: dict[str, str],
) -> None:
    env = worker_env
    heliograph(env, "page", "create", "Acme", "--time-zone", "Europe/Paris")
    for name in ("MX", "Web"):
        heliograph(env, "component", "create", name, "--page", "Acme")
    start = (datetime.now(UTC) + timedelta(minutes=30)).replace(second=0, microsecond=0)
    scheduled = heliograph(
        env,
        "maintenance",
        "schedule",
        "MX upgrade",
        "--page",
        "Acme",
        "--component",
        "MX",
        "--start",
        start.isoformat(),
        "--end",
        (start + timedelta(hours=1)).isoformat(),
        "--json",
    )
    heliograph(env, "shell", "-c", SETUP.format(pk=json.loads(scheduled)["id"]))
    sql = query(env)

    with smtp_sink() as sink:
        env["HELIOGRAPH_SMTP_URL"] = f"smtp://127.0.0.1:{sink.port}?starttls=0&timeout=5"
        with workers(env, 1) as [process]:
            # The announcement queued when it was scheduled, then the reminder.
            assert wait_for(lambda: len(sink.messages) >= 2, timeout=30)
            time.sleep(1)  # several more passes: nothing is sent twice
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
    assert len(sink.messages) == 2
    [message] = [m for m in sink.messages if "Upcoming maintenance" in m["Subject"]]
    assert message["To"] == "ops@example.net"
    assert message["Subject"].startswith("[Acme] Upcoming maintenance: MX upgrade (starts ")
    text = message.get_body(("plain",)).get_content()
    assert "MX upgrade" in text
    local = start.astimezone(ZoneInfo("Europe/Paris"))
    assert f"{local:%b %d, %Y} - " in text and f"({start:%H:%M} UTC) to " in text
    assert sql("SELECT status FROM notify_delivery", []) == [("sent",), ("sent",)]
    assert _reminder_queued_by(env) == "notify"


def _reminder_queued_by(env: dict[str, str]) -> str:
    sql = "SELECT reminder_queued_by FROM incidents_maintenancestate"
    if "DATABASE_URL" in env:
        with psycopg.connect(env["DATABASE_URL"]) as conn:
            [(queued_by,)] = conn.execute(sql).fetchall()
    else:
        path = Path(env["HELIOGRAPH_DATA"]) / "heliograph.sqlite3"
        with closing(sqlite3.connect(path, timeout=20)) as conn:
            [(queued_by,)] = conn.execute(sql).fetchall()
    return str(queued_by)
