"""The Manage API's subscribers: what an operator adds, finds, changes and removes.

Checked by what reaches people: the confirmation e-mail queued (or not), a webhook
delivery that verifies with the secret the API showed, the audience of later notices.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from heliograph.accounts.keys import create_key
from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Component, Page
from heliograph.incidents.models import Incident
from heliograph.notify import outbox, rules, worker
from heliograph.notify.models import CONFIRMATION, Notification, Subscriber
from tests.support.api import call
from tests.support.notify import hook_sink, notify, subscribe


@pytest.fixture
def key(page: Page) -> str:
    return create_key(name="bot", scope="write")[1]


def base(page: Page) -> str:
    return f"/v1/pages/{page.pk}/subscribers"


def add(client: Client, page: Page, key: str, **fields: Any) -> tuple[int, Any]:
    return call(client, "POST", base(page), key, {"subscriber": fields})


def confirmations(subscriber_id: str) -> int:
    return Notification.objects.filter(kind=CONFIRMATION, subscriber_id=subscriber_id).count()


def hears(subscriber_id: str, notification: Notification) -> bool:
    return outbox.audience(notification).filter(pk=subscriber_id).exists()


# --- creating -------------------------------------------------------------------------------


def test_it_creates_an_email_subscriber_who_must_confirm(
    client: Client, page: Page, cluster_a: Component, key: str
) -> None:
    form = f"subscriber[email]=ann@example.net&subscriber[component_ids][]={cluster_a.pk}"
    status, made = call(client, "POST", base(page), key, form=form)
    assert status == 201, made
    assert (made["mode"], made["email"], made["state"]) == (
        "email",
        "ann@example.net",
        "unconfirmed",
    )
    assert made["components"] == [cluster_a.pk] and made["confirmed_at"] is None
    assert made["signing_secret"] is None and made["phone_number"] is None
    assert made["skip_confirmation_notification"] is False and made["purge_at"] is None
    assert confirmations(made["id"]) == 1
    status, again = call(client, "GET", f"{base(page)}/{made['id']}.json", key)
    assert status == 200 and again["id"] == made["id"]


def test_it_confirms_at_once_without_an_e_mail_when_told_to_skip_it(
    client: Client, page: Page, key: str
) -> None:
    status, made = add(
        client, page, key, email="bob@example.net", skip_confirmation_notification=True
    )
    assert status == 201 and made["state"] == "active" and made["confirmed_at"]
    assert made["skip_confirmation_notification"] is True
    assert confirmations(made["id"]) == 0 and not Notification.objects.exists()


def test_it_creates_a_webhook_whose_deliveries_verify_with_the_secret_it_showed(
    settings: Any, client: Client, incident: Incident, key: str
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "127.0.0.0/8"
    page = incident.page
    with hook_sink() as hooks:
        status, made = add(client, page, key, email="ops@example.net", endpoint=hooks.url)
        assert status == 201 and made["mode"] == "webhook" and made["state"] == "active"
        secret = made["signing_secret"]
        assert (
            secret
            and call(client, "GET", f"{base(page)}/{made['id']}", key)[1]["signing_secret"]
            == secret
        )
        notify(incident)
        worker.run_once(owner="test")
        status, rotated = call(client, "POST", f"{base(page)}/{made['id']}/rotate_secret", key)
        assert status == 200 and rotated["signing_secret"] not in (None, secret)
        notify(incident)
        worker.run_once(owner="test")
    first, second = hooks.received
    assert rules.verify(secret, first.body, first.headers["X-Heliograph-Signature"])
    signature = second.headers["X-Heliograph-Signature"]
    assert rules.verify(rotated["signing_secret"], second.body, signature)
    assert not rules.verify(secret, second.body, signature)
    listed = call(client, "GET", base(page), key)[1]
    assert [s["signing_secret"] for s in listed if s["id"] == made["id"]] == [None]  # not in lists


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "ann@example.net"}, "already subscribed"),
        (
            {"phone_number": "202-555-0105", "phone_country": "US"},
            "SMS subscribers are not supported",
        ),
        ({"mode": "slack"}, "Slack subscribers are not supported"),
        ({"email": "x@example.net", "page_access_user": "abc"}, "page_access_user"),
        ({"endpoint": "https://hooks.example.com/x"}, "needs subscriber[email]"),
        ({"email": "ops@example.net", "endpoint": "http://127.0.0.1:9/"}, "private or reserved"),
        ({}, "send subscriber[email]"),
        ({"email": "ben@example.net", "component_ids": ["nope"]}, "unknown component"),
        ({"email": "not an address"}, "not a valid e-mail address"),
    ],
)
def test_it_refuses_what_it_cannot_add_with_a_message(
    client: Client, page: Page, key: str, fields: dict[str, Any], message: str
) -> None:
    assert add(client, page, key, email="ann@example.net")[0] == 201
    status, reply = add(client, page, key, **fields)
    assert status == 422 and message in reply["message"], reply
    assert Subscriber.objects.count() == 1


# --- finding and counting -------------------------------------------------------------------


@pytest.fixture
def crowd(page: Page, incident: Incident) -> dict[str, Subscriber]:
    """Two active e-mails, an unconfirmed one, a quarantined webhook, one who left."""
    made = {
        "carol": subscribe(page, email_address="carol@example.net"),
        "alice": subscribe(page, email_address="alice@example.net"),
        "dave": subscribe(page, email_address="dave@example.org", confirmed=False),
        "hook": subscribe(
            page, email_address="ops@example.net", endpoint="https://a.example.com/h"
        ),
        "erin": subscribe(page, email_address="erin@example.net"),
    }
    made["hook"].quarantined_at = timezone.now()
    made["hook"].save()
    made["erin"].unsubscribed_at = timezone.now()
    made["erin"].save()
    return made


def ids(reply: list[dict[str, Any]]) -> list[str]:
    return [s["email"] for s in reply]


def test_it_lists_active_subscribers_by_address_unless_asked_otherwise(
    client: Client, page: Page, key: str, crowd: dict[str, Subscriber]
) -> None:
    def listing(query: str) -> list[str]:
        status, reply = call(client, "GET", f"{base(page)}?{query}", key)
        assert status == 200, reply
        return ids(reply)

    assert listing("") == ["alice@example.net", "carol@example.net"]
    assert listing("sort_direction=desc") == ["carol@example.net", "alice@example.net"]
    assert listing("sort_field=created_at") == ["carol@example.net", "alice@example.net"]
    assert listing("state=all&q=example.org") == ["dave@example.org"]
    assert listing("state=all&type=webhook") == ["ops@example.net"]
    assert listing("state=quarantined") == ["ops@example.net"]
    assert listing("state=unsubscribed") == ["erin@example.net"]
    assert listing("state=all&type=sms") == []
    assert len(listing("state=all")) == 4  # every state but unsubscribed, as on Statuspage
    assert listing("state=all&limit=2&page=1") == ["dave@example.org", "ops@example.net"]
    assert listing("q=carol&sort_field=relevance") == ["carol@example.net"]
    status, reply = call(client, "GET", f"{base(page)}?sort_field=relevance", key)
    assert status == 422 and "needs a search text" in reply["message"]
    assert call(client, "GET", f"{base(page)}?state=gone", key)[0] == 422
    unsubscribed = call(client, "GET", f"{base(page)}/unsubscribed?per_page=5", key)[1]
    assert ids(unsubscribed) == ["erin@example.net"] and unsubscribed[0]["unsubscribed_at"]


def test_it_counts_subscribers_by_type_and_state(
    client: Client, page: Page, key: str, crowd: dict[str, Subscriber]
) -> None:
    status, counted = call(client, "GET", f"{base(page)}/count", key)
    assert status == 200
    assert counted == {"email": 2, "sms": 0, "webhook": 0, "slack": 0, "integration_partner": 0}
    everyone = call(client, "GET", f"{base(page)}/count?state=all&type=email", key)[1]
    assert everyone["email"] == 3 and everyone["webhook"] == 0
    status, table = call(client, "GET", f"{base(page)}/histogram_by_state", key)
    assert status == 200
    assert table["email"] == {"active": 2, "unconfirmed": 1, "quarantined": 0, "total": 3}
    assert table["webhook"] == {"active": 0, "unconfirmed": 0, "quarantined": 1, "total": 1}
    assert table["sms"]["total"] == 0


# --- changing one ---------------------------------------------------------------------------


def test_it_changes_the_components_a_subscriber_hears_about(
    client: Client, page: Page, cluster_a: Component, key: str
) -> None:
    carol = subscribe(page, email_address="carol@example.net")
    path = f"{base(page)}/{carol.pk}"
    status, changed = call(client, "PATCH", path, key, form=f"component_ids[]={cluster_a.pk}")
    assert status == 200 and changed["components"] == [cluster_a.pk]
    wrapped = {"subscriber": {"component_ids": [cluster_a.pk]}}
    assert call(client, "PATCH", path, key, wrapped)[1]["components"] == [cluster_a.pk]
    status, reply = call(client, "PATCH", path, key, {"component_ids": ["nope"]})
    assert status == 422 and "unknown component" in reply["message"]
    assert call(client, "PATCH", path, key, {})[1]["components"] == []  # the whole page again
    assert call(client, "PATCH", f"{base(page)}/nope", key, {})[0] == 404


def test_it_unsubscribes_on_delete_and_later_notices_pass_them_by(
    client: Client, incident: Incident, key: str
) -> None:
    page = incident.page
    carol = subscribe(page, email_address="carol@example.net")
    assert hears(carol.pk, notify(incident))
    status, gone = call(client, "DELETE", f"{base(page)}/{carol.pk}", key)
    assert status == 200 and gone["state"] == "unsubscribed" and gone["unsubscribed_at"]
    assert not hears(carol.pk, notify(incident))
    assert call(client, "DELETE", f"{base(page)}/{carol.pk}", key)[0] == 200  # again: no change
    assert call(client, "GET", f"{base(page)}/{carol.pk}", key)[1]["state"] == "unsubscribed"


def test_it_resends_a_confirmation_only_to_an_unconfirmed_address(
    client: Client, page: Page, key: str
) -> None:
    dave = subscribe(page, email_address="dave@example.net", confirmed=False)
    carol = subscribe(page, email_address="carol@example.net")
    status, reply = call(client, "POST", f"{base(page)}/{dave.pk}/resend_confirmation", key)
    assert status == 201 and reply["id"] == dave.pk and confirmations(dave.pk) == 1
    status, reply = call(client, "POST", f"{base(page)}/{carol.pk}/resend_confirmation", key)
    assert status == 422 and "is active" in reply["message"]
    status, reply = call(client, "POST", f"{base(page)}/{carol.pk}/rotate_secret", key)
    assert status == 422 and "only webhook subscribers" in reply["message"]


# --- many at once ---------------------------------------------------------------------------


def test_it_unsubscribes_a_list_or_all_of_a_state(
    client: Client, page: Page, key: str, crowd: dict[str, Subscriber]
) -> None:
    path = f"{base(page)}/unsubscribe"
    form = f"subscribers[]={crowd['carol'].pk}&subscribers[]={crowd['dave'].pk}"
    status, reply = call(client, "POST", path, key, form=form)
    assert status == 201 and reply == {"count": 2}
    assert call(client, "GET", f"{base(page)}/count?state=all", key)[1]["email"] == 1
    status, reply = call(client, "POST", path, key, {"subscribers": "all"})  # state: active
    assert status == 201 and reply == {"count": 1}
    assert Subscriber.objects.get(pk=crowd["hook"].pk).unsubscribed_at is None  # quarantined
    status, reply = call(client, "POST", path, key, {"subscribers": "all", "state": "all"})
    assert reply == {"count": 1} and not Subscriber.objects.filter(unsubscribed_at=None).exists()


def test_it_refuses_more_than_a_hundred_ids_or_unknown_ones(
    client: Client, page: Page, key: str, crowd: dict[str, Subscriber]
) -> None:
    path = f"{base(page)}/unsubscribe"
    many = {"subscribers": [f"id{n}" for n in range(101)]}
    status, reply = call(client, "POST", path, key, many)
    assert status == 422 and "at most 100" in reply["message"]
    status, reply = call(client, "POST", path, key, {"subscribers": [crowd["carol"].pk, "nope"]})
    assert status == 422 and "nope" in reply["message"]
    assert call(client, "POST", path, key, {"subscribers": []})[0] == 422
    assert not Subscriber.objects.filter(unsubscribed_at__isnull=False).exclude(pk=crowd["erin"].pk)


def test_it_reactivates_quarantined_webhooks_and_resends_confirmations_in_bulk(
    client: Client, page: Page, key: str, crowd: dict[str, Subscriber]
) -> None:
    status, reply = call(client, "POST", f"{base(page)}/reactivate", key, {"subscribers": "all"})
    assert status == 201 and reply == {"count": 1}
    assert Subscriber.objects.get(pk=crowd["hook"].pk).active
    also = subscribe(page, email_address="fay@example.net", confirmed=False)
    path = f"{base(page)}/resend_confirmation"
    listed = {"subscribers": f"{crowd['dave'].pk},{crowd['carol'].pk}"}  # carol is confirmed
    assert call(client, "POST", path, key, listed)[1] == {"count": 1}
    assert call(client, "POST", path, key, form="subscribers=all")[1] == {"count": 2}
    assert confirmations(crowd["dave"].pk) == 2 and confirmations(also.pk) == 1


# --- incident subscribers -------------------------------------------------------------------


def test_it_tells_an_incident_subscriber_about_that_incident_only(
    client: Client, incident: Incident, key: str
) -> None:
    page = incident.page
    path = f"/v1/pages/{page.pk}/incidents/{incident.pk}/subscribers"
    status, made = call(
        client, "POST", path, key, form="email=ann@example.net&skip_confirmation_notification=true"
    )
    assert status == 201 and made["incident_id"] == incident.pk and made["state"] == "active"
    opened = {
        "incident": {"name": "Webmail is slow", "body": "Looking", "deliver_notifications": False}
    }
    other = call(client, "POST", f"/v1/pages/{page.pk}/incidents", key, opened)[1]
    other_incident = page.incidents.get(pk=other["id"])
    assert hears(made["id"], notify(incident)) and not hears(made["id"], notify(other_incident))
    assert ids(call(client, "GET", path, key)[1]) == ["ann@example.net"]
    elsewhere = f"/v1/pages/{page.pk}/incidents/{other['id']}/subscribers/{made['id']}"
    assert call(client, "GET", elsewhere, key)[0] == 404
    status, gone = call(client, "DELETE", f"{path}/{made['id']}", key)
    assert status == 200 and gone["state"] == "unsubscribed"
    assert call(client, "GET", path, key)[1] == []


def test_it_asks_an_incident_subscriber_to_confirm(
    client: Client, incident: Incident, key: str
) -> None:
    path = f"/v1/pages/{incident.page.pk}/incidents/{incident.pk}/subscribers"
    status, made = call(client, "POST", path, key, {"subscriber": {"email": "bo@example.net"}})
    assert status == 201 and made["state"] == "unconfirmed" and confirmations(made["id"]) == 1
    status, again = call(client, "POST", f"{path}/{made['id']}/resend_confirmation", key)
    assert status == 201 and confirmations(made["id"]) == 2
    assert call(client, "GET", f"{path}/{made['id']}", key)[1]["email"] == "bo@example.net"
    status, reply = call(client, "POST", path, key, {"subscriber": {"phone_number": "1"}})
    assert status == 422 and "SMS" in reply["message"]


# --- who may, and what is kept --------------------------------------------------------------


def test_it_lets_a_read_key_look_but_not_change(client: Client, page: Page, key: str) -> None:
    carol = subscribe(page, email_address="carol@example.net")
    reader = create_key(name="reader", scope="read")[1]
    assert call(client, "GET", base(page), reader)[0] == 200
    assert call(client, "GET", f"{base(page)}/{carol.pk}", reader)[0] == 200
    for method, path, body in [
        ("POST", base(page), {"subscriber": {"email": "x@example.net"}}),
        ("PATCH", f"{base(page)}/{carol.pk}", {}),
        ("DELETE", f"{base(page)}/{carol.pk}", None),
        ("POST", f"{base(page)}/unsubscribe", {"subscribers": "all"}),
    ]:
        status, reply = call(client, method, path, reader, body)
        assert status == 403 and "read-only" in reply["message"], (method, path)
        assert call(client, method, path, None, body)[0] == 401
    assert Subscriber.objects.get().active and Subscriber.objects.count() == 1


def test_it_audits_every_change_without_the_secret(
    settings: Any, client: Client, page: Page, key: str
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "127.0.0.0/8"
    made = add(client, page, key, email="ops@example.net", endpoint="http://127.0.0.1:9/h")[1]
    rotated = call(client, "POST", f"{base(page)}/{made['id']}/rotate_secret", key)[1]
    call(client, "DELETE", f"{base(page)}/{made['id']}", key)
    events = AuditEvent.objects.filter(target_id=made["id"]).order_by("at", "id")
    assert [e.action for e in events] == [
        "subscriber.create",
        "subscriber.rotate_secret",
        "subscriber.unsubscribe",
    ]
    assert {e.actor for e in events} == {"key:bot"}
    logged = json.dumps([[e.before, e.after] for e in events])
    assert made["signing_secret"] not in logged and rotated["signing_secret"] not in logged
    assert "http://127.0.0.1:9/h" in logged
