"""Monitor services: checked settings, secrets kept out of sight, pause, resume, run now."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from heliograph.audit.models import AuditEvent
from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.lib.errors import InputError
from heliograph.monitors import services
from heliograph.monitors.models import Monitor
from tests.support.world import INBOUND_MAIL

PASSWORD = "hunter2-imap-Cl8sterA"
SMTP_PASSWORD = "smtp-pw-91f0c2"


def mail_monitor(page: Page, component: Component | None = None, **extra: Any) -> Monitor:
    fields: dict[str, Any] = {
        "page": page,
        "name": "Inbound — Cluster A",
        "kind": "mail_roundtrip",
        "config": {**INBOUND_MAIL, "imap_password": PASSWORD},
        "component": component,
        "interval_seconds": 120,
        "timeout_seconds": 110,
        "actor": "user:alice",
    }
    return services.create_monitor(**{**fields, **extra})


def audit_text() -> str:
    return json.dumps(list(AuditEvent.objects.values("before", "after", "action")))


def test_it_creates_a_monitor_with_defaults_and_the_password_kept_aside(
    page: Page, cluster_a: Component
) -> None:
    before = timezone.now()
    monitor = mail_monitor(page, cluster_a, automation="draft", public=True)
    monitor.refresh_from_db()
    assert monitor.config["smtp_port"] == 25 and monitor.config["ok_seconds"] == 60
    assert "imap_password" not in monitor.config
    assert monitor.secrets == {"imap_password": PASSWORD}
    assert services.secret_status(monitor) == {"imap_password": "set", "smtp_password": "not set"}
    assert before <= monitor.next_run_at <= timezone.now() + timedelta(seconds=120)
    event = AuditEvent.objects.get(action="monitor.create")
    assert event.actor == "user:alice" and event.page_id == page.pk
    assert event.after["secrets"]["imap_password"] == "set"
    assert PASSWORD not in audit_text()


def test_it_takes_secrets_given_apart_from_the_config(page: Page) -> None:
    monitor = services.create_monitor(
        page=page,
        name="Outbound",
        kind="mail_roundtrip",
        config=INBOUND_MAIL,
        secrets={"imap_password": PASSWORD, "smtp_password": SMTP_PASSWORD},
    )
    assert monitor.secrets == {"imap_password": PASSWORD, "smtp_password": SMTP_PASSWORD}
    assert SMTP_PASSWORD not in audit_text()


TCP: dict[str, Any] = {"name": "x", "kind": "tcp", "config": {"host": "a.example", "port": 25}}
ON_OTHER_PAGE = "on another page"  # stands for a second page, made by the test
# What each case changes in a good tcp monitor, and what the refusal says.
REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "an unknown kind": ({"kind": "ping", "config": {}}, "unknown monitor kind 'ping'"),
    "a missing setting": ({"config": {"port": 25}}, "config: host is required"),
    "an unknown setting": (
        {"config": {"host": "mx.example.net", "port": 25, "hots": 1}},
        "config: unknown setting 'hots'",
    ),
    "a short interval": (
        {"interval_seconds": 5},
        "the interval must be a whole number of seconds from 10",
    ),
    "a zero timeout": ({"timeout_seconds": 0}, "the timeout must be more than 0"),
    "another page's component": (
        {"page": ON_OTHER_PAGE, "component": "Cluster A"},
        "component 'Cluster A' belongs to another page",
    ),
    "automation without a component": (
        {"automation": "publish"},
        "incident automation needs a component",
    ),
    "a secret this kind lacks": (
        {"secrets": {"password": "x"}},
        "a tcp monitor has no secret 'password' (its secrets: none)",
    ),
    "a password in a URL": (
        {"kind": "http", "config": {"url": f"https://ops:{PASSWORD}@x.example/"}},
        "config.url: put the password in the authorization secret, not in the URL",
    ),
    "an Authorization header": (
        {
            "kind": "http",
            "config": {"url": "https://x.example/", "headers": {"Authorization": PASSWORD}},
        },
        "config.headers: give Authorization as the authorization secret",
    ),
    "an empty name": ({"name": "  "}, "a name must have 1 to 255 characters"),
    "a number that is not finite": (
        {"config": {"host": "a.example", "port": 25, "slow_ms": float("inf")}},
        "config.slow_ms: numbers must be finite",
    ),
    "a taken name": (
        {"name": "Inbound — Cluster A"},
        "a monitor named 'Inbound — Cluster A' already exists",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_it_refuses_bad_settings_clearly_and_writes_nothing(
    page: Page, cluster_a: Component, case: str
) -> None:
    other = catalog.create_page(name="Elsewhere")
    mail_monitor(page)
    counts = (Monitor.objects.count(), AuditEvent.objects.count())
    changes, message = REFUSED[case]
    fields = {"page": page, **TCP, **changes}
    if fields["page"] == ON_OTHER_PAGE:
        fields["page"] = other
    if fields.get("component") == "Cluster A":
        fields["component"] = cluster_a
    with pytest.raises(InputError) as refused:
        services.create_monitor(**fields)
    assert message in str(refused.value)
    assert PASSWORD not in str(refused.value)
    assert (Monitor.objects.count(), AuditEvent.objects.count()) == counts


def test_it_keeps_a_secret_not_given_again_and_clears_one_given_empty(page: Page) -> None:
    monitor = mail_monitor(page, secrets={"smtp_password": SMTP_PASSWORD})
    services.update_monitor(monitor=monitor, config={**INBOUND_MAIL, "poll_seconds": 5})
    monitor.refresh_from_db()
    assert monitor.config["poll_seconds"] == 5
    assert monitor.secrets == {"imap_password": PASSWORD, "smtp_password": SMTP_PASSWORD}
    services.update_monitor(monitor=monitor, secrets={"smtp_password": None})
    monitor.refresh_from_db()
    assert monitor.secrets == {"imap_password": PASSWORD}
    update = AuditEvent.objects.filter(action="monitor.update").order_by("id").last()
    assert update is not None
    assert update.before["secrets"]["smtp_password"] == "set"
    assert update.after["secrets"]["smtp_password"] == "not set"
    assert PASSWORD not in audit_text() and SMTP_PASSWORD not in audit_text()


def test_it_drops_the_old_kinds_secrets_when_the_kind_changes(page: Page) -> None:
    monitor = mail_monitor(page)
    services.update_monitor(
        monitor=monitor, kind="http", config={"url": "https://status.example.net/health"}
    )
    monitor.refresh_from_db()
    assert monitor.kind == "http" and monitor.secrets == {}
    assert services.secret_status(monitor) == {
        "authorization": "not set",
        "secret_header": "not set",
    }


def test_it_writes_and_audits_nothing_when_nothing_changes(page: Page) -> None:
    monitor = mail_monitor(page)
    stamp = monitor.updated_at
    services.update_monitor(
        monitor=monitor, config=INBOUND_MAIL, secrets={"imap_password": PASSWORD}
    )
    monitor.refresh_from_db()
    assert monitor.updated_at == stamp
    assert not AuditEvent.objects.filter(action="monitor.update").exists()


def test_it_forgets_the_path_state_when_the_component_changes(
    page: Page, cluster_a: Component
) -> None:
    monitor = mail_monitor(page)
    Monitor.objects.filter(pk=monitor.pk).update(state={"status": "down", "bad": 3})
    monitor.refresh_from_db()
    services.update_monitor(monitor=monitor, component=cluster_a, automation="draft")
    monitor.refresh_from_db()
    assert monitor.component == cluster_a and monitor.state == {}
    assert services.changes(monitor, services.check(page, {}, monitor)) == []


def test_it_refuses_a_timeout_that_leaves_no_room_in_the_interval(page: Page) -> None:
    # A run's lease (timeout + 6 s) must fit in the interval: a dead worker's monitors move on.
    with pytest.raises(InputError, match="at most 114 s with an interval of 120 s, or an "):
        mail_monitor(page, timeout_seconds=150)
    monitor = mail_monitor(page, interval_seconds=156, timeout_seconds=150)
    assert (monitor.interval_seconds, monitor.timeout_seconds) == (156, 150.0)
    with pytest.raises(InputError, match="the timeout must leave 6 s of the interval free"):
        services.update_monitor(monitor=monitor, interval_seconds=120)


def test_it_pauses_resumes_and_runs_now(page: Page) -> None:
    monitor = mail_monitor(page)
    services.pause_monitor(monitor=monitor, actor="user:bob")
    services.pause_monitor(monitor=monitor, actor="user:bob")  # already paused: no event
    monitor.refresh_from_db()
    assert monitor.paused
    assert AuditEvent.objects.filter(action="monitor.pause").count() == 1
    with pytest.raises(InputError, match="is paused; resume it to run it"):
        services.run_now(monitor=monitor)
    services.resume_monitor(monitor=monitor, actor="user:bob")
    monitor.refresh_from_db()
    assert not monitor.paused
    assert monitor.next_run_at <= timezone.now() + timedelta(seconds=services.RESUME_SOON)
    Monitor.objects.filter(pk=monitor.pk).update(next_run_at=timezone.now() + timedelta(hours=1))
    services.run_now(monitor=monitor, actor="user:bob")
    monitor.refresh_from_db()
    assert monitor.next_run_at <= timezone.now()
    assert AuditEvent.objects.filter(action="monitor.run", actor="user:bob").exists()


def test_it_deletes_a_monitor_and_audits_it_without_its_secret(page: Page) -> None:
    monitor = mail_monitor(page)
    services.delete_monitor(monitor=monitor, actor="user:carol")
    assert not Monitor.objects.exists()
    event = AuditEvent.objects.get(action="monitor.delete")
    assert event.before["name"] == "Inbound — Cluster A" and event.after is None
    assert PASSWORD not in audit_text()


def test_it_finds_a_monitor_by_id_or_name(page: Page) -> None:
    monitor = mail_monitor(page)
    assert services.find_monitor(page, monitor.pk) == monitor
    assert services.find_monitor(page, "Inbound — Cluster A") == monitor
    with pytest.raises(InputError, match="has no monitor with id or name 'nope'"):
        services.find_monitor(page, "nope")
