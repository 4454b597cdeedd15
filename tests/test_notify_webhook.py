"""Webhook notifications, received by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from heliograph.catalog.models import Component
from heliograph.incidents.models import Incident
from heliograph.lib import netguard
from heliograph.lib.errors import InputError
from heliograph.notify import outbox, payloads, rules, worker
from heliograph.notify.models import COMPONENT_UPDATE, Delivery
from heliograph.publish import v2json
from heliograph.publish.world import load_world
from tests.support.notify import hook_sink, notify, smtp_sink, subscribe

LOOPBACK = "127.0.0.0/8"


def test_it_posts_the_statuspage_incident_payload_signed(settings: Any, incident: Incident) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    with hook_sink() as sink:
        hook = subscribe(incident.page, endpoint=sink.url)
        subscribe(incident.page, email_address="ops@example.net")  # e-mail: not posted to
        notify(incident)
        worker.run_once(owner="test")
    [received] = sink.received
    delivery = Delivery.objects.get(subscriber=hook)
    assert (delivery.status, delivery.attempts) == ("sent", 1)
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["X-Heliograph-Delivery"] == str(delivery.pk)
    assert rules.verify(
        hook.signing_secret, received.body, received.headers["X-Heliograph-Signature"]
    )
    body = received.json()
    assert list(body) == ["meta", "page", "incident"]
    assert list(body["meta"]) == ["unsubscribe", "documentation", "generated_at"]
    assert body["meta"]["unsubscribe"].endswith(f"/notify/unsubscribe/{hook.unsubscribe_token}")
    assert list(body["page"]) == ["id", "status_indicator", "status_description"]
    public = v2json.incident_json((world := load_world(incident.page)), incident)
    assert {k: body["incident"][k] for k in public} == public  # the v2 incident, and more
    assert body["incident"]["incident_updates"][0]["status"] == "resolved"  # newest first
    assert body["incident"]["postmortem_body"].startswith("Incident Date: July 8, 2021")
    assert body["page"]["status_indicator"] == world.status.indicator
    for key in ("backfilled", "impact_override", "scheduled_for", "postmortem_published_at"):
        assert key in body["incident"]


def test_it_posts_component_changes_to_webhooks_only(settings: Any, cluster_a: Component) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    payload = payloads.component_payload(
        cluster_a,
        old_status="operational",
        new_status="partial_outage",
        at=timezone.now(),
        update_id="abc",
    )
    with hook_sink() as sink:
        subscribe(cluster_a.page, endpoint=sink.url, components=[cluster_a])
        subscribe(cluster_a.page, email_address="ops@example.net")
        outbox.enqueue(
            page=cluster_a.page, kind=COMPONENT_UPDATE, component=cluster_a, payload=payload
        )
        assert worker.run_once(owner="test") == 1
    body = sink.received[0].json()
    assert list(body) == ["meta", "page", "component_update", "component"]
    assert body["component_update"] == {
        "created_at": body["component_update"]["created_at"],
        "new_status": "partial_outage",
        "old_status": "operational",
        "id": "abc",
        "component_id": cluster_a.pk,
        "component_type": "Component",
    }
    assert body["component"]["id"] == cluster_a.pk and body["component"]["name"] == "Cluster A"


def test_it_retries_after_a_server_error_with_backoff(
    settings: Any, incident: Incident, as_role: Callable[[str], Client]
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    now = timezone.now()
    with hook_sink(answer=lambda n: 500 if n == 0 else 204) as sink:
        subscribe(incident.page, endpoint=sink.url)
        notification = notify(incident)
        worker.run_once(owner="test", now=now)
        delivery = Delivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.last_error) == (
            "pending",
            1,
            "HTTP 500 Internal Server Error",
        )
        wait = delivery.next_attempt_at - now
        low, high = (rules.retry_delay(1, r) for r in (0, 0.999))
        assert timedelta(seconds=low) <= wait <= timedelta(seconds=high)
        assert worker.run_once(owner="test", now=now + timedelta(seconds=low / 2)) == 0
        assert worker.run_once(owner="test", now=now + timedelta(seconds=high + 1)) == 1
    assert len(sink.received) == 2
    # The same delivery id both times, so a receiver can tell a retry from a new event.
    assert {r.headers["X-Heliograph-Delivery"] for r in sink.received} == {str(delivery.pk)}
    assert outbox.counts(notification) == {"sent": 1, "failed": 0, "pending": 0, "skipped": 0}
    # The success does not erase the failure: every attempt stays in the history.
    history = [(a.outcome, a.error) for a in delivery.history.all()]
    assert history == [("failed", "HTTP 500 Internal Server Error"), ("sent", "")]
    page = as_role("responder").get(f"/console/notifications/{notification.pk}?status=sent")
    shown = page.content.decode()
    assert "2 attempts" in shown and "failed: HTTP 500 Internal Server Error" in shown


def test_it_holds_no_cut_off_send_against_a_slow_healthy_webhook(
    settings: Any, incident: Incident
) -> None:
    """A batch that runs out of its own time is the worker's doing, not the receiver's:
    ten sends cut off at once must not quarantine a webhook that answers 200, only late."""
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    late = threading.Event()

    def answer_late(n: int) -> int:
        late.wait(10)
        return 200

    with hook_sink(answer=answer_late) as sink:
        hook = subscribe(incident.page, endpoint=sink.url)
        for _ in range(rules.QUARANTINE_FAILURES):
            notify(incident)
        try:
            assert worker.run_once(owner="test", lease=1) == 10  # cut off at 0.8 s
        finally:
            late.set()
        hook.refresh_from_db()
        assert hook.quarantined_at is None and hook.recent_failures == []
        cut = list(Delivery.objects.filter(status="pending", last_error=worker.UNFINISHED))
        assert len(cut) == 10
        assert worker.run_once(owner="test", now=timezone.now() + timedelta(hours=1)) == 10
    assert Delivery.objects.filter(status="sent").count() == 10
    for delivery in cut:
        assert [a.outcome for a in delivery.history.all()] == ["ours", "sent"]
    # The retries carried the same delivery ids as the sends that were cut off.
    assert {r.headers["X-Heliograph-Delivery"] for r in sink.received} == {str(d.pk) for d in cut}


def test_it_counts_a_redirect_as_a_failure(settings: Any, incident: Incident) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    with hook_sink(answer=lambda n: 301) as sink:
        subscribe(incident.page, endpoint=sink.url)
        notify(incident)
        worker.run_once(owner="test")
    delivery = Delivery.objects.get()
    assert len(sink.received) == 1  # not followed
    assert (delivery.status, delivery.last_error) == ("pending", "HTTP 301 Moved Permanently")


def test_it_quarantines_after_ten_failures_within_an_hour_and_tells_the_contact(
    settings: Any, incident: Incident
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    with hook_sink(answer=lambda n: 503) as sink, smtp_sink() as mail:
        settings.HELIOGRAPH_SMTP_URL = f"smtp://127.0.0.1:{mail.port}?starttls=0"
        hook = subscribe(incident.page, endpoint=sink.url, email_address="dev@example.net")
        for _ in range(9):
            notify(incident)
        worker.run_once(owner="test")
        hook.refresh_from_db()
        assert hook.quarantined_at is None and len(hook.recent_failures) == 9
        later = notify(incident)  # the 10th failure (the first nine wait for their retry)
        assert worker.run_once(owner="test", now=timezone.now() + timedelta(seconds=10)) == 1
        hook.refresh_from_db()
        assert hook.quarantined_at is not None
        worker.run_once(owner="test")  # sends the notice, and nothing to the webhook
        after = notify(incident)
        worker.run_once(owner="test")
    assert len(sink.received) == 10
    [notice] = mail.to("dev@example.net")
    assert notice["Subject"] == "[OpenSRS] Your webhook was quarantined"
    assert sink.url in notice.get_body(("plain",)).get_content()
    assert outbox.counts(later)["skipped"] == 1  # its retry was dropped
    assert not after.deliveries.exists()
    outbox.reactivate(subscriber=hook)
    notify(incident)
    outbox.expand()
    assert Delivery.objects.filter(subscriber=hook, status="pending").count() == 1


def test_it_refuses_private_targets_unless_allow_listed(settings: Any, incident: Incident) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = ""
    with hook_sink() as sink:
        subscribe(incident.page, endpoint=sink.url)
        notify(incident)
        worker.run_once(owner="test")
        with pytest.raises(InputError, match="private"):
            netguard.check_endpoint(sink.url)
        settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "10.0.0.0/8, ::1/128"
        with pytest.raises(InputError, match="private"):
            netguard.check_endpoint(sink.url)
        settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
        netguard.check_endpoint(sink.url)
    assert sink.received == []
    delivery = Delivery.objects.get()
    assert "127.0.0.1" in delivery.last_error and "private" in delivery.last_error


@pytest.mark.django_db(transaction=True)
def test_it_keeps_delivering_in_the_background_until_stopped(
    settings: Any, incident: Incident
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    stop = threading.Event()
    with hook_sink() as sink:
        subscribe(incident.page, endpoint=sink.url)
        thread = threading.Thread(target=worker.watch, args=(stop, 0.05), daemon=True)
        thread.start()
        try:
            notify(incident)  # written while the worker is already running
            deadline = time.monotonic() + 10
            while not sink.received and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(10)
    assert not thread.is_alive()
    assert len(sink.received) == 1
