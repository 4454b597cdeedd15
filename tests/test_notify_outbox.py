"""The outbox: who a notification reaches, exactly once, and how deliveries are leased."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from heliograph.notify import outbox, payloads, rules
from heliograph.notify.models import (
    COMPONENT_UPDATE,
    INCIDENT_UPDATE,
    PENDING,
    Delivery,
    Notification,
    Subscriber,
)
from tests.support.notify import subscribe


def notify_incident(incident: Incident) -> Notification:
    payload = payloads.incident_payload(incident)
    return outbox.enqueue(
        page=incident.page, kind=INCIDENT_UPDATE, incident=incident, payload=payload
    )


def notify_component(component: Component) -> Notification:
    payload = payloads.component_payload(
        component,
        old_status="operational",
        new_status="major_outage",
        at=timezone.now(),
        update_id="upd1",
    )
    return outbox.enqueue(
        page=component.page, kind=COMPONENT_UPDATE, component=component, payload=payload
    )


def reached(notification: Notification) -> set[str]:
    return set(notification.deliveries.values_list("subscriber_id", flat=True))


def test_it_expands_once_per_subscriber_even_when_run_twice(incident: Incident) -> None:
    subscribers = [subscribe(incident.page, email_address=f"u{n}@example.com") for n in range(7)]
    notification = notify_incident(incident)
    assert outbox.expand(batch=3) == 1
    rows = list(Delivery.objects.order_by("pk").values_list("pk", "subscriber_id"))
    Notification.objects.filter(pk=notification.pk).update(expanded_at=None)  # as after a crash
    assert outbox.expand(batch=3) == 1
    assert list(Delivery.objects.order_by("pk").values_list("pk", "subscriber_id")) == rows
    assert {s for _, s in rows} == {s.pk for s in subscribers}
    assert outbox.expand() == 0


def test_it_applies_component_incident_and_state_filters(
    page: Page, cluster_a: Component, incident: Incident
) -> None:
    cluster_b = catalog.create_component(page=page, name="Cluster B")
    other = incidents.open_incident(page=page, name="Webmail slow", body="Looking.")
    whole_page = subscribe(page, email_address="all@example.com")
    only_a = subscribe(page, email_address="a@example.com", components=[cluster_a])
    only_b = subscribe(page, email_address="b@example.com", components=[cluster_b])
    this_incident = subscribe(page, email_address="pr@example.com", incident=incident)
    other_incident = subscribe(page, email_address="other@example.com", incident=other)
    subscribe(page, email_address="new@example.com", confirmed=False)
    gone = subscribe(page, email_address="gone@example.com")
    Subscriber.objects.filter(pk=gone.pk).update(unsubscribed_at=timezone.now())
    hook_all = subscribe(page, endpoint="https://hooks.example.com/all")
    hook_b = subscribe(page, endpoint="https://hooks.example.com/b", components=[cluster_b])
    stuck = subscribe(page, endpoint="https://hooks.example.com/stuck")
    Subscriber.objects.filter(pk=stuck.pk).update(quarantined_at=timezone.now())

    about_a = notify_incident(incident)  # PR-2142 touches Cluster A
    about_nothing = notify_incident(other)  # no components: every page-wide subscriber
    a_changed = notify_component(cluster_a)
    outbox.expand()

    assert reached(about_a) == {whole_page.pk, only_a.pk, this_incident.pk, hook_all.pk}
    page_wide = {whole_page.pk, only_a.pk, only_b.pk, hook_all.pk, hook_b.pk}
    assert reached(about_nothing) == page_wide | {other_incident.pk}
    assert reached(a_changed) == {hook_all.pk}  # webhooks only, and only Cluster A's


def test_it_refuses_a_targeted_kind_without_its_subscriber(page: Page) -> None:
    with pytest.raises(InputError):
        outbox.enqueue(page=page, kind="confirmation", payload={})
    with pytest.raises(InputError):
        outbox.enqueue(page=page, kind="tweet", payload={})


def test_it_gives_an_expired_lease_to_the_next_worker(incident: Incident) -> None:
    for n in range(3):
        subscribe(incident.page, email_address=f"u{n}@example.com")
    notify_incident(incident)
    now = timezone.now()
    outbox.expand(now=now)
    first = outbox.claim(owner="a", limit=10, lease_seconds=60, now=now)
    assert len(first) == 3
    assert (
        outbox.claim(owner="b", limit=10, lease_seconds=60, now=now + timedelta(seconds=59)) == []
    )
    # Worker "a" died without recording anything: its rows come back, nothing is lost.
    again = outbox.claim(owner="b", limit=10, lease_seconds=60, now=now + timedelta(seconds=61))
    assert {d.pk for d in again} == {d.pk for d in first}
    assert {d.lease_owner for d in again} == {"b"}


def test_it_retries_with_backoff_then_records_the_final_state(incident: Incident) -> None:
    subscribe(incident.page, email_address="u@example.com")
    notification = notify_incident(incident)
    now = timezone.now()
    outbox.expand(now=now)
    for attempt in range(1, rules.MAX_ATTEMPTS + 1):
        [delivery] = outbox.claim(owner="w", limit=10, lease_seconds=60, now=now)
        status = outbox.record_failure(delivery=delivery, error="relay said no", now=now, rand=0)
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        if status == PENDING:
            wait = delivery.next_attempt_at - now
            assert wait == timedelta(seconds=rules.retry_delay(attempt, 0))
            assert outbox.claim(owner="w", limit=10, lease_seconds=60, now=now) == []
            now = delivery.next_attempt_at
    assert status == "failed" and delivery.last_error == "relay said no"
    assert outbox.counts(notification) == {"pending": 0, "sent": 0, "failed": 1, "skipped": 0}


def test_it_counts_deliveries_per_notification(incident: Incident) -> None:
    for n in range(5):
        subscribe(incident.page, email_address=f"u{n}@example.com")
    notification = notify_incident(incident)
    outbox.expand()
    claimed = outbox.claim(owner="w", limit=3, lease_seconds=60)
    outbox.record_success(deliveries=claimed[:2])
    outbox.record_skipped(deliveries=claimed[2:], reason="test")
    assert outbox.counts(notification) == {"pending": 2, "sent": 2, "failed": 0, "skipped": 1}


@pytest.mark.django_db(transaction=True)
def test_it_never_hands_one_row_to_two_concurrent_workers(incident: Incident) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one claiming process; row locks are PostgreSQL's")
    for n in range(60):
        subscribe(incident.page, email_address=f"u{n}@example.com")
    notify_incident(incident)
    outbox.expand()
    a_holds, b_done = threading.Event(), threading.Event()
    taken: dict[str, list[int]] = {}

    def worker_a() -> None:
        try:
            with transaction.atomic():  # keeps its claimed rows locked while "b" claims
                taken["a"] = [d.pk for d in outbox.claim(owner="a", limit=40, lease_seconds=60)]
                a_holds.set()
                b_done.wait(10)
        finally:
            connection.close()

    def worker_b() -> None:
        try:
            a_holds.wait(10)
            taken["b"] = [d.pk for d in outbox.claim(owner="b", limit=40, lease_seconds=60)]
            b_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker_a), threading.Thread(target=worker_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(taken["a"]) == 40 and len(taken["b"]) == 20
    assert not set(taken["a"]) & set(taken["b"])
