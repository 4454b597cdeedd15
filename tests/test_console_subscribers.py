"""The console's subscriber list, subscriber page, and notifications with their deliveries."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone

from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Component, Page
from heliograph.console.views import subscribers as views
from heliograph.incidents import services as incidents
from heliograph.notify import subscriptions
from heliograph.notify.importing import import_subscribers
from heliograph.notify.models import (
    CONFIRMATION,
    FAILED,
    INCIDENT_UPDATE,
    PENDING,
    SENT,
    SKIPPED,
    Delivery,
    Notification,
    Subscriber,
)
from tests.support.notify import subscribe

Login = Callable[[str], Client]
LOOPBACK = "127.0.0.0/8"


@pytest.fixture
def people(page: Page, cluster_a: Component) -> dict[str, Subscriber]:
    """One subscriber in each state, e-mail and webhook."""
    quarantined = subscribe(
        page, endpoint="https://hooks.example.net/status", email_address="ops@example.net"
    )
    quarantined.quarantined_at = timezone.now() - timedelta(minutes=5)
    quarantined.recent_failures = [
        (timezone.now() - timedelta(minutes=m)).isoformat() for m in range(15, 5, -1)
    ]
    quarantined.save()
    gone = subscribe(page, email_address="gone@example.org")
    gone.unsubscribed_at = timezone.now()
    gone.save()
    return {
        "alice": subscribe(page, email_address="alice@example.com", components=[cluster_a]),
        "bob": subscribe(page, email_address="bob@example.org", confirmed=False),
        "hook": subscribe(
            page, endpoint="https://hooks.example.com/opensrs", email_address="dev@example.com"
        ),
        "quarantined": quarantined,
        "gone": gone,
    }


def text(response: Any) -> str:
    return str(response.content.decode())


# --- the list -------------------------------------------------------------------------------


def test_it_finds_a_subscriber_by_part_of_the_address(
    as_role: Login, people: dict[str, Subscriber]
) -> None:
    found = text(as_role("responder").get("/console/subscribers?q=EXAMPLE.ORG&state=all"))
    assert "bob@example.org" in found and "gone@example.org" in found
    assert "alice@example.com" not in found and "hooks.example.com" not in found
    hooks = text(as_role("responder").get("/console/subscribers?q=hooks.example.com/open"))
    assert "https://hooks.example.com/opensrs" in hooks and "contact dev@example.com" in hooks
    assert "alice@example.com" not in hooks


def test_it_filters_by_state_and_type_and_counts_each_state(
    as_role: Login, people: dict[str, Subscriber]
) -> None:
    client = as_role("responder")
    # It opens on everyone still subscribed, unconfirmed and quarantined included.
    current = text(client.get("/console/subscribers"))
    # Its table scrolls on a phone: the region takes keyboard focus to scroll it.
    assert 'tabindex="0" role="region" aria-label="Subscribers"' in current
    assert all(a in current for a in ("alice@", "bob@", "hooks.example.com", "hooks.example.net"))
    assert "gone@example.org" not in current
    active = text(client.get("/console/subscribers?state=active"))
    assert "alice@example.com" in active and "hooks.example.com/opensrs" in active
    assert "bob@example.org" not in active and "hooks.example.net" not in active
    assert "Cluster A" in active and "whole page" in active
    counts = {c["state"]: c["total"] for c in client.get("/console/subscribers").context["counts"]}
    assert counts == {"active": "2", "unconfirmed": "1", "quarantined": "1", "unsubscribed": "1"}
    unconfirmed = text(client.get("/console/subscribers?state=unconfirmed"))
    assert "bob@example.org" in unconfirmed and "alice@example.com" not in unconfirmed
    quarantined = text(client.get("/console/subscribers?state=quarantined&type=webhook"))
    assert "hooks.example.net/status" in quarantined and "opensrs" not in quarantined
    gone = text(client.get("/console/subscribers?state=unsubscribed&type=email"))
    assert "gone@example.org" in gone and "alice" not in gone
    everyone = text(client.get("/console/subscribers?state=all&type=email"))
    assert all(a in everyone for a in ("alice@", "bob@", "gone@"))
    assert "hooks.example" not in everyone.split("<tbody>", 2)[2]
    wrong = client.get("/console/subscribers?state=sleeping")
    assert wrong.status_code == 400 and 'role="alert"' in text(wrong)


def test_it_pages_through_a_long_list(
    as_role: Login, people: dict[str, Subscriber], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "PER_PAGE", 2)
    client = as_role("responder")
    first = text(client.get("/console/subscribers?state=all"))
    assert "Page 1 of 3" in first and "5 found" in first
    assert "?state=all&amp;p=2" in first
    pages = [first] + [text(client.get(f"/console/subscribers?state=all&p={n}")) for n in (2, 3)]
    assert "Page 3 of 3" in pages[2] and "Next →" not in pages[2]
    for who in people.values():
        assert sum(str(who) in p.split("<tbody>", 2)[2] for p in pages) == 1


def test_it_shows_the_export_link_to_admins_only(
    as_role: Login, people: dict[str, Subscriber]
) -> None:
    assert "Export CSV" not in text(as_role("responder").get("/console/subscribers"))
    listed = text(as_role("admin").get("/console/subscribers?type=email&q=example"))
    assert 'href="/console/subscribers/export?type=email&amp;q=example"' in listed


# --- export ---------------------------------------------------------------------------------


def exported(response: Any) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_it_exports_the_filtered_list_as_a_csv_download(
    as_role: Login, page: Page, cluster_a: Component, people: dict[str, Subscriber]
) -> None:
    response = as_role("admin").get("/console/subscribers/export?type=email&state=all")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="opensrs-subscribers-all-')
    assert disposition.endswith('.csv"')
    rows = exported(response)
    assert [r["email"] for r in rows] == [
        "gone@example.org",
        "alice@example.com",
        "bob@example.org",
    ]
    alice = rows[1]
    assert alice["mode"] == "email" and alice["components"] == cluster_a.pk
    assert alice["state"] == "active" and alice["endpoint"] == ""
    event = AuditEvent.objects.get(action="subscriber.export")
    assert event.actor == "user:admin" and event.target_id == page.pk
    assert event.after == {"q": "", "kind": "email", "state": "all", "count": 3}


def test_it_exports_what_the_import_command_reads_back(
    as_role: Login, page: Page, cluster_a: Component, tmp_path: Path, settings: Any
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    cluster_b = page.components.create(name="Cluster B", group=cluster_a.group, position=9)
    subscribe(page, email_address="carol@example.com", components=[cluster_a, cluster_b])
    subscribe(page, email_address="dave@example.com")
    subscribe(
        page,
        endpoint="http://127.0.0.1:9/hook",
        email_address="ops@example.com",
        components=[cluster_b],
    )
    rows = exported(as_role("owner").get("/console/subscribers/export"))
    before = {(r["mode"], r["email"], r["endpoint"], r["components"]) for r in rows}
    assert len(before) == 3
    path = tmp_path / "export.csv"
    path.write_text(",".join(rows[0].keys()) + "\n" + _lines(rows), encoding="utf-8")
    Subscriber.objects.all().delete()
    result = import_subscribers(page=page, path=path, confirmed=True)
    assert result.imported == 3 and not result.errors
    again = exported(as_role("owner").get("/console/subscribers/export"))
    assert {(r["mode"], r["email"], r["endpoint"], r["components"]) for r in again} == before


FORMULAS = ["=1+1@example.com", "+31@example.org", "-2@example.net", "'=3@example.com"]


def test_it_exports_no_cell_a_spreadsheet_would_run_as_a_formula(
    as_role: Login, page: Page, tmp_path: Path
) -> None:
    """Addresses are typed by the public; "=1+1@..." must open as text, and import back."""
    for address in FORMULAS:
        subscriptions.subscribe_email(page=page, email=address)
    response = as_role("admin").get("/console/subscribers/export?state=all")
    body = b"".join(response.streaming_content).decode()
    cells = [row[2] for row in csv.reader(io.StringIO(body))][1:]
    assert sorted(cells) == sorted(
        ["'=1+1@example.com", "'+31@example.org", "'-2@example.net", "''=3@example.com"]
    )
    assert not any(line.startswith(("=", "+", "-", "@")) for line in body.splitlines())
    path = tmp_path / "export.csv"
    path.write_text(body, encoding="utf-8")
    Subscriber.objects.all().delete()
    assert import_subscribers(page=page, path=path, confirmed=True).imported == 4
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == sorted(FORMULAS)


def _lines(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([list(r.values()) for r in rows])
    return buffer.getvalue()


def test_it_refuses_an_export_with_a_bad_filter(as_role: Login, page: Page) -> None:
    response = as_role("admin").get("/console/subscribers/export?type=sms")
    assert response.status_code == 400 and not isinstance(response, StreamingHttpResponse)
    assert not AuditEvent.objects.filter(action="subscriber.export").exists()


# --- one subscriber -------------------------------------------------------------------------


def test_it_unsubscribes_on_request_and_audits_it(
    as_role: Login, people: dict[str, Subscriber]
) -> None:
    alice, client = people["alice"], as_role("responder")
    response = client.post(f"/console/subscribers/{alice.pk}/unsubscribe")
    assert (
        response.status_code == 302 and response["Location"] == f"/console/subscribers/{alice.pk}"
    )
    alice.refresh_from_db()
    assert alice.unsubscribed_at is not None
    event = AuditEvent.objects.get(action="subscriber.unsubscribe", target_id=alice.pk)
    assert event.actor == "user:responder" and event.after["state"] == "unsubscribed"
    page = text(client.get(f"/console/subscribers/{alice.pk}"))
    assert "Unsubscribed: they get no more notifications." in page
    assert "<strong>unsubscribed</strong>" in page and ">Unsubscribe</button>" not in page


def test_it_resends_the_confirmation_to_an_unconfirmed_address(
    as_role: Login, people: dict[str, Subscriber]
) -> None:
    bob, alice = people["bob"], people["alice"]
    client = as_role("responder")
    assert "Resend the confirmation e-mail" in text(client.get(f"/console/subscribers/{bob.pk}"))
    client.post(f"/console/subscribers/{bob.pk}/resend")
    assert Notification.objects.filter(kind=CONFIRMATION, subscriber=bob).count() == 1
    assert AuditEvent.objects.filter(action="subscriber.resend_confirmation").count() == 1
    client.post(f"/console/subscribers/{alice.pk}/resend")  # confirmed: nothing to resend
    assert not Notification.objects.filter(kind=CONFIRMATION, subscriber=alice).exists()
    assert "Nothing sent" in text(client.get(f"/console/subscribers/{alice.pk}"))


def test_it_shows_when_and_why_a_webhook_was_quarantined_and_lifts_it(
    as_role: Login, page: Page, incident: Any, people: dict[str, Subscriber]
) -> None:
    hook = people["quarantined"]
    sent = Notification.objects.create(
        page=page, kind=INCIDENT_UPDATE, incident=incident, payload_text="{}"
    )
    Delivery.objects.create(
        notification=sent,
        subscriber=hook,
        status=FAILED,
        attempts=5,
        last_error="HTTP 503 from hooks.example.net",
    )
    client = as_role("admin")
    shown = text(client.get(f"/console/subscribers/{hook.pk}"))
    assert "<strong>quarantined</strong>" in shown and "after 10 failed deliveries" in shown
    assert "HTTP 503 from hooks.example.net" in shown
    assert "Lift the quarantine" in shown
    assert "Lift the quarantine" not in text(
        as_role("responder").get(f"/console/subscribers/{hook.pk}")
    )
    assert client.post(f"/console/subscribers/{hook.pk}/reactivate").status_code == 302
    hook.refresh_from_db()
    assert hook.quarantined_at is None and hook.recent_failures == []
    event = AuditEvent.objects.get(action="subscriber.reactivate")
    assert event.before["state"] == "quarantined" and event.after["state"] == "active"


def test_it_edits_components_with_the_checkboxes(
    as_role: Login, cluster_a: Component, people: dict[str, Subscriber]
) -> None:
    bob, client = people["bob"], as_role("admin")
    shown = text(client.get(f"/console/subscribers/{bob.pk}"))
    assert f'name="components" value="{cluster_a.pk}">' in shown  # not ticked yet
    client.post(f"/console/subscribers/{bob.pk}/components", {"components": [cluster_a.pk]})
    assert list(bob.components.all()) == [cluster_a]
    shown = text(client.get(f"/console/subscribers/{bob.pk}"))
    assert f'value="{cluster_a.pk}" checked>' in shown
    event = AuditEvent.objects.get(action="subscriber.update")
    assert event.before["components"] == [] and event.after["components"] == [cluster_a.pk]
    client.post(f"/console/subscribers/{bob.pk}/components", {})
    assert not bob.components.exists()  # none ticked: the whole page
    refused = client.post(f"/console/subscribers/{bob.pk}/components", {"components": ["nope"]})
    assert refused.status_code == 400 and "unknown component id" in text(refused)


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_it_shows_and_rotates_a_signing_secret_for_admins(
    as_role: Login, people: dict[str, Subscriber], role: str
) -> None:
    hook, client = people["hook"], as_role(role)
    old = hook.signing_secret
    assert old in text(client.get(f"/console/subscribers/{hook.pk}"))
    assert client.post(f"/console/subscribers/{hook.pk}/rotate-secret").status_code == 302
    hook.refresh_from_db()
    assert hook.signing_secret != old
    shown = text(client.get(f"/console/subscribers/{hook.pk}"))
    assert hook.signing_secret in shown and old not in shown
    event = AuditEvent.objects.get(action="subscriber.rotate_secret")
    assert hook.signing_secret not in str(event.after) and old not in str(event.before)


def test_it_hides_the_signing_secret_from_responders_and_viewers(
    as_role: Login, people: dict[str, Subscriber]
) -> None:
    hook = people["hook"]
    responder = as_role("responder").get(f"/console/subscribers/{hook.pk}")
    assert responder.status_code == 200 and "https://hooks.example.com/opensrs" in text(responder)
    assert hook.signing_secret not in text(responder) and "Rotate" not in text(responder)
    viewer = as_role("viewer").get(f"/console/subscribers/{hook.pk}")
    assert viewer.status_code == 403 and hook.signing_secret not in text(viewer)
    bad = as_role("admin").post(f"/console/subscribers/{people['alice'].pk}/rotate-secret")
    assert bad.status_code == 400 and "only webhook subscribers" in text(bad)


# --- adding ---------------------------------------------------------------------------------


def test_it_adds_an_e_mail_subscriber_who_must_confirm(
    as_role: Login, page: Page, cluster_a: Component
) -> None:
    response = as_role("admin").post(
        "/console/subscribers/new",
        {
            "mode": "email",
            "email": "erin@example.com",
            "components": [cluster_a.pk],
        },
    )
    erin = Subscriber.objects.get(email="erin@example.com")
    assert response["Location"] == f"/console/subscribers/{erin.pk}"
    assert erin.confirmed_at is None and list(erin.components.all()) == [cluster_a]
    assert Notification.objects.filter(kind=CONFIRMATION, subscriber=erin).exists()
    assert AuditEvent.objects.get(action="subscriber.create").actor == "user:admin"


def test_it_adds_subscribers_who_already_opted_in(
    as_role: Login, page: Page, settings: Any
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    client = as_role("owner")
    client.post(
        "/console/subscribers/new",
        {
            "mode": "email",
            "email": "frank@example.com",
            "skip_confirmation": "on",
        },
    )
    frank = Subscriber.objects.get(email="frank@example.com")
    assert frank.confirmed_at is not None and not Notification.objects.filter(kind=CONFIRMATION)
    client.post(
        "/console/subscribers/new",
        {
            "mode": "webhook",
            "email": "ops@example.com",
            "endpoint": "http://127.0.0.1:9/hook",
            "skip_confirmation": "on",
        },
    )
    hook = Subscriber.objects.get(endpoint="http://127.0.0.1:9/hook")
    assert hook.kind == "webhook" and hook.active and not hook.targeted.exists()


def test_it_refuses_a_duplicate_or_a_webhook_without_its_url(as_role: Login, page: Page) -> None:
    subscribe(page, email_address="alice@example.com")
    client = as_role("admin")
    taken = client.post("/console/subscribers/new", {"mode": "email", "email": "alice@example.com"})
    assert taken.status_code == 400 and "already subscribed" in text(taken)
    bare = client.post("/console/subscribers/new", {"mode": "webhook", "email": "ops@example.com"})
    assert bare.status_code == 400 and "a webhook needs its URL" in text(bare)
    assert Subscriber.objects.count() == 1 and not AuditEvent.objects.filter(
        action="subscriber.create"
    )


# --- notifications --------------------------------------------------------------------------


def deliver(notification: Notification, page: Page, **statuses: int) -> list[Subscriber]:
    """Deliveries to new subscribers: ``sent=3, failed=1`` … (bulk, for large counts)."""
    total = sum(statuses.values())
    made = Subscriber.objects.bulk_create(
        Subscriber(
            page=page,
            kind="email",
            email=f"s{i}@example.com",
            confirmed_at=timezone.now(),
            unsubscribe_token=f"t-{notification.pk}-{i}",
        )
        for i in range(total)
    )
    people = iter(made)
    Delivery.objects.bulk_create(
        Delivery(
            notification=notification,
            subscriber=next(people),
            status=status,
            last_error="550 5.1.1 mailbox unavailable" if status == FAILED else "",
        )
        for status, n in statuses.items()
        for _ in range(n)
    )
    notification.expanded_at = timezone.now()
    notification.save(update_fields=["expanded_at"])
    return made


@pytest.fixture
def opened(page: Page, cluster_a: Component) -> Any:
    """An incident opened now: its first update queues a notification."""
    return incidents.open_incident(
        page=page,
        name="Inbound delays",
        body="Looking into it.",
        components={cluster_a: "degraded_performance"},
    )


def test_it_shows_delivery_counts_with_thousands_separators(
    as_role: Login, page: Page, opened: Any
) -> None:
    notification = Notification.objects.get(incident=opened)
    deliver(notification, page, sent=1002, failed=2, pending=1, skipped=1)
    listed = text(as_role("viewer").get("/console/notifications"))
    assert "sent 1,002 · failed 2 · pending 1 · skipped 1" in listed
    assert f'href="/console/incidents/{opened.pk}">Inbound delays</a>' in listed
    assert "Incident update" in listed and "s0@example.com" not in listed
    assert page.time_zone == "America/New_York" and (" EST" in listed or " EDT" in listed)
    assert views.summary({SENT: 99998, FAILED: 2, PENDING: 0, SKIPPED: 0}) == (
        "sent 99,998 · failed 2 · pending 0 · skipped 0"
    )


def test_it_lists_failed_deliveries_with_their_error(
    as_role: Login, page: Page, opened: Any
) -> None:
    notification = Notification.objects.get(incident=opened)
    made = deliver(notification, page, sent=3, failed=2)
    response = as_role("responder").get(f"/console/notifications/{notification.pk}")
    shown = text(response)
    assert "sent 3 · failed 2 · pending 0 · skipped 0" in shown
    assert shown.count("550 5.1.1 mailbox unavailable") == 2
    assert made[3].email in shown and made[4].email in shown and made[0].email not in shown
    sent = text(as_role("responder").get(f"/console/notifications/{notification.pk}?status=sent"))
    assert made[0].email in sent and "mailbox unavailable" not in sent
    assert as_role("viewer").get(f"/console/notifications/{notification.pk}").status_code == 403


def test_it_shows_each_updates_notification_on_the_incident_page(
    as_role: Login, page: Page, opened: Any, cluster_a: Component
) -> None:
    first = Notification.objects.get(incident=opened)
    deliver(first, page, sent=1500, failed=1)
    incidents.post_update(
        incident=opened,
        status="identified",
        body="A disk filled up.",
        components={cluster_a: "degraded_performance"},
        deliver_notifications=False,
    )
    incidents.post_update(
        incident=opened,
        status="monitoring",
        body="Fixed; watching.",
        components={cluster_a: "operational"},
    )
    second = Notification.objects.filter(incident=opened).exclude(pk=first.pk).get()
    shown = text(as_role("viewer").get(f"/console/incidents/{opened.pk}"))
    counts = f'<a href="/console/notifications/{first.pk}">sent 1,500 · failed 1 · pending 0'
    assert counts in shown
    assert f'<a href="/console/notifications/{second.pk}">sent 0 · failed 0' in shown
    assert "Subscribers were not notified of this update." in shown
    # newest update first: monitoring (second), identified (not sent), investigating (first)
    assert shown.index(str(second.pk)) < shown.index("not notified") < shown.index(str(first.pk))


def test_it_lists_announcements_unless_asked_for_per_subscriber_e_mails(
    as_role: Login, page: Page, opened: Any
) -> None:
    bob = subscribe(page, email_address="bob@example.org", confirmed=False)
    client = as_role("responder")
    client.post(f"/console/subscribers/{bob.pk}/resend")
    listed = text(client.get("/console/notifications"))
    assert "Inbound delays" in listed and "Confirmation e-mail</td>" not in listed
    confirmations = text(client.get("/console/notifications?kind=confirmation"))
    assert "Confirmation e-mail</td>" in confirmations and "Inbound delays" not in confirmations
    assert f'href="/console/subscribers/{bob.pk}"' in confirmations
