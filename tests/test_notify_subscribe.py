"""Subscribing from the public page and the public API: confirm, unsubscribe, manage."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from heliograph.catalog.models import Component, Page
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.notify import rules, views, worker
from heliograph.notify.models import EMAIL, WEBHOOK, Notification, Subscriber
from heliograph.publish import html
from heliograph.publish.build import publish_page
from heliograph.publish.store import SnapshotStore
from heliograph.publish.world import load_world
from tests.support.notify import hook_sink, notify, relay, smtp_sink, subscribe
from tests.support.readpath import Response, node

API = "/api/v2/subscribers.json"


@pytest.fixture(autouse=True)
def fresh_rate_limit() -> Iterator[None]:
    views.reset_rate_limit()
    yield
    views.reset_rate_limit()


def api_subscribe(client: Client, **fields: Any) -> Any:
    data = {f"subscriber[{k}]": v for k, v in fields.items() if k != "component_ids"}
    if "component_ids" in fields:
        data["subscriber[component_ids][]"] = fields["component_ids"]
    return client.post(API, data)


def test_it_confirms_a_new_address_from_the_link_in_the_e_mail(
    settings: Any, client: Client, cluster_a: Component
) -> None:
    form = client.get("/notify/subscribe")
    assert form.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in form.content and b"Cluster A" in form.content
    answer = client.post(
        "/notify/subscribe", {"email": "ann@example.net", "component_ids": [cluster_a.pk]}
    )
    assert answer.status_code == 200
    assert b"Check your inbox" in answer.content
    subscriber = Subscriber.objects.get(email="ann@example.net")
    assert subscriber.confirmed_at is None and list(subscriber.components.all()) == [cluster_a]

    with smtp_sink() as sink:
        relay(settings, sink.port)
        assert worker.run_once(owner="test") == 1
    [message] = sink.to("ann@example.net")
    link = re.search(r"https?://\S+/notify/confirm/\S+", message.get_body(("plain",)).get_content())
    assert link is not None
    asked = client.get(urlsplit(link.group(0)).path)  # what a link scanner does, too
    assert b"Confirm subscription" in asked.content and b"ann@example.net" in asked.content
    subscriber.refresh_from_db()
    assert not subscriber.active
    confirmed = client.post(urlsplit(link.group(0)).path)
    assert confirmed.status_code == 200 and b"Subscription confirmed" in confirmed.content
    subscriber.refresh_from_db()
    assert subscriber.active


def test_it_gives_the_same_answer_for_an_address_already_subscribed(
    client: Client, page: Page
) -> None:
    subscribe(page, email_address="known@example.net")
    known = api_subscribe(client, email="known@example.net")
    new = api_subscribe(client, email="new@example.net")
    assert known.status_code == new.status_code == 201
    assert known.json() == new.json()
    assert Subscriber.objects.filter(email="known@example.net").count() == 1
    # The confirmed subscriber is sent nothing new; the new one gets its confirmation.
    assert [n.subscriber.email for n in Notification.objects.all()] == ["new@example.net"]
    form_known = client.post("/notify/subscribe", {"email": "known@example.net"})
    form_new = client.post("/notify/subscribe", {"email": "other@example.net"})
    assert form_known.content.replace(b"known", b"x") == form_new.content.replace(b"other", b"x")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-address"}, "not a valid e-mail address"),
        ({"email": ""}, "e-mail address is required"),
        ({"email": "a@example.net", "component_ids": ["nope"]}, "unknown component"),
        (
            {"email": "a@example.net", "endpoint": "http://127.0.0.1:9/hook"},
            "private or reserved",
        ),
        ({"email": "a@example.net", "endpoint": "ftp://example.com/x"}, "not an http(s) URL"),
        ({"email": "a@example.net", "endpoint": "http://[::1/x"}, "not a valid URL"),
        ({"email": "a@example.net", "endpoint": "http://a..b/x"}, "not a valid host name"),
        ({"email": "a@example.net", "endpoint": f"http://{'a' * 64}.com/"}, "not a valid host"),
        ({"email": "a@example.net", "endpoint": "http://example.com:99999/"}, "not a valid URL"),
    ],
)
def test_it_refuses_bad_input_with_a_message_and_writes_nothing(
    client: Client, page: Page, fields: dict[str, Any], message: str
) -> None:
    answer = api_subscribe(client, **fields)
    assert answer.status_code == 422
    assert message in answer.json()["error"]
    assert not Subscriber.objects.exists() and not Notification.objects.exists()


@pytest.mark.parametrize(
    "request_line",
    [
        ("post", "/api/v2/subscribers.json", {"subscriber[email]": "a\x00@example.net"}),
        ("post", "/api/v2/subscribers.json", {"subscriber[component_ids][]": "\x00"}),
        ("post", "/notify/subscribe", {"email": "a@example.net", "component_ids": "x\x00"}),
        ("get", "/notify/subscribe", {"incident": "\x00"}),
        ("get", "/notify/manage/%00", {}),
    ],
)
def test_it_refuses_a_nul_character_anywhere_in_a_request(
    client: Client, page: Page, request_line: tuple[str, str, dict[str, str]]
) -> None:
    method, path, fields = request_line
    answer = getattr(client, method)(path, fields)
    assert answer.status_code == 400
    assert b"NUL character" in answer.content
    assert not Subscriber.objects.exists()


def test_it_shows_the_form_again_with_the_problem(client: Client, page: Page) -> None:
    answer = client.post("/notify/subscribe", {"email": "nope"})
    assert answer.status_code == 422
    assert b"not a valid e-mail address" in answer.content and b'value="nope"' in answer.content
    assert not Subscriber.objects.exists()


def test_it_subscribes_a_webhook_at_once_and_mails_its_contact_the_signing_secret(
    settings: Any, client: Client, incident: Incident
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "127.0.0.0/8"
    cluster_a = incident.components.get()
    with hook_sink() as hooks, smtp_sink() as mail:
        relay(settings, mail.port)
        answer = api_subscribe(
            client, email="ops@example.net", endpoint=hooks.url, component_ids=[cluster_a.pk]
        )
        assert answer.status_code == 201 and answer.json()["subscriber"]["mode"] == "webhook"
        assert Subscriber.objects.get(kind=WEBHOOK).active  # no opt-in for webhooks
        worker.run_once(owner="test")
        [welcome] = mail.to("ops@example.net")
        text = welcome.get_body(("plain",)).get_content()
        secret = re.search(r"^ {4}([\w-]+)\s*$", text, re.M)
        assert welcome["Subject"] == "[OpenSRS] Your webhook is registered" and secret
        assert hooks.url in text and "/notify/manage/" in text
        notify(incident)
        worker.run_once(owner="test")
    [received] = hooks.received
    signature = received.headers["X-Heliograph-Signature"]
    assert rules.verify(secret.group(1), received.body, signature)


def test_it_sends_the_secret_of_a_known_webhook_only_to_its_contact_of_record(
    settings: Any, client: Client, page: Page
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "127.0.0.0/8"
    endpoint = "http://127.0.0.1:9/hook"
    first = api_subscribe(client, email="ops@example.net", endpoint=endpoint)
    again = api_subscribe(client, email="mallory@example.org", endpoint=endpoint)
    assert (first.status_code, first.json()) == (again.status_code, again.json())
    with smtp_sink() as mail:
        relay(settings, mail.port)
        worker.run_once(owner="test")
    assert len(mail.to("ops@example.net")) == 2 and mail.to("mallory@example.org") == []
    assert Subscriber.objects.get().email == "ops@example.net"


def test_it_unsubscribes_with_one_click(client: Client, page: Page) -> None:
    subscriber = subscribe(page, email_address="bob@example.net")
    url = f"/notify/unsubscribe/{subscriber.unsubscribe_token}"
    ask = client.get(url)
    assert ask.status_code == 200 and b"bob@example.net" in ask.content
    subscriber.refresh_from_db()
    assert subscriber.active  # looking at the page changes nothing
    one_click = Client(enforce_csrf_checks=True).post(url, {"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and b"You are unsubscribed" in one_click.content
    subscriber.refresh_from_db()
    assert not subscriber.active and subscriber.unsubscribed_at is not None
    assert client.get("/notify/unsubscribe/not-a-token").status_code == 404


def test_it_shows_what_a_subscriber_gets(client: Client, cluster_a: Component) -> None:
    subscriber = subscribe(cluster_a.page, email_address="cy@example.net", components=[cluster_a])
    answer = client.get(f"/notify/manage/{subscriber.unsubscribe_token}")
    assert answer.status_code == 200
    assert b"Cluster A" in answer.content and b"active" in answer.content
    assert f"/notify/unsubscribe/{subscriber.unsubscribe_token}".encode() in answer.content


def test_a_subscriber_chooses_components_from_the_manage_page(
    client: Client, cluster_a: Component
) -> None:
    subscriber = subscribe(cluster_a.page, email_address="cy@example.net")
    manage = f"/notify/manage/{subscriber.unsubscribe_token}"
    assert b"every incident and maintenance on OpenSRS" in client.get(manage).content
    chosen = client.post(manage + "/components", {"component_ids": [cluster_a.pk]})
    assert chosen.status_code == 302 and chosen["Location"] == manage
    assert list(subscriber.components.all()) == [cluster_a]
    assert b"incidents and maintenance affecting Cluster A" in client.get(manage).content
    assert client.post(manage + "/components", {}).status_code == 302  # none: everything
    assert not subscriber.components.exists()
    refused = client.post(manage + "/components", {"component_ids": ["nope"]})
    assert (
        refused.status_code == 422
        and b"Unknown component id(s) on this page: nope" in refused.content
    )
    assert not subscriber.components.exists()  # nothing half-written


def test_it_slows_down_a_client_that_subscribes_too_often(client: Client, page: Page) -> None:
    for n in range(views.SUBSCRIBE_BURST):
        assert api_subscribe(client, email=f"s{n}@example.net").status_code == 201
    answer = api_subscribe(client, email="one-more@example.net")
    assert answer.status_code == 429 and int(answer["Retry-After"]) > 0
    assert "Too many requests" in answer.json()["error"]
    assert client.post("/notify/subscribe", {"email": "x@example.net"}).status_code == 429
    elsewhere = Client(REMOTE_ADDR="192.0.2.7")
    assert api_subscribe(elsewhere, email="else@example.net").status_code == 201
    assert Subscriber.objects.filter(kind=EMAIL).count() == views.SUBSCRIBE_BURST + 1


def test_it_links_the_public_header_to_the_subscribe_page(client: Client, page: Page) -> None:
    assert b'href="/notify/subscribe">Subscribe</a>' in client.get("/notify/subscribe").content
    publish_page(page)
    store = SnapshotStore()
    store.refresh()
    home = Response(node(store), "/")
    assert b'href="/notify/subscribe">Subscribe</a>' in home.body


def test_it_passes_subscribe_writes_to_django_and_keeps_reads_on_the_snapshot(
    page: Page,
) -> None:
    publish_page(page)
    store = SnapshotStore()
    store.refresh()
    app = node(store)
    assert Response(app, API, "POST").body == b"django"
    assert Response(app, "/notify/subscribe", "POST").body == b"django"
    assert Response(app, "/notify/unsubscribe/abc", "POST").body == b"django"
    summary = Response(app, "/api/v2/summary.json")
    assert summary.status == 200 and summary.body != b"django"
    assert Response(app, "/api/v2/summary.json", "POST").status == 405


def test_it_lets_a_reader_follow_one_open_incident_from_its_page(
    settings: Any, client: Client, cluster_a: Component
) -> None:
    page = cluster_a.page
    open_now = incidents.open_incident(
        page=page,
        name="Inbound mail delays",
        body="Looking into it.",
        components={cluster_a: "degraded_performance"},
    )
    incident_page = html.render(load_world(page))[f"/incidents/{open_now.pk}"][1].decode()
    link = re.search(
        r'href="(/notify/subscribe\?incident=\w+)">Get updates by e-mail', incident_page
    )
    assert link is not None
    form = client.get(link.group(1))
    assert b"Inbound mail delays" in form.content and b'name="component_ids"' not in form.content
    client.post("/notify/subscribe", {"email": "dee@example.net", "incident": open_now.pk})
    follower = Subscriber.objects.get(email="dee@example.net")
    assert follower.incident == open_now
    with smtp_sink() as mail:
        relay(settings, mail.port)
        worker.run_once(owner="test")  # the confirmation
        client.post(f"/notify/confirm/{follower.unsubscribe_token}")
        incidents.post_update(incident=open_now, status="resolved", body="Mail flows again.")
        worker.run_once(owner="test")
    assert [m["Subject"] for m in mail.to("dee@example.net")][-1] == (
        "[OpenSRS] Inbound mail delays (Resolved)"
    )
    resolved_page = html.render(load_world(page))[f"/incidents/{open_now.pk}"][1]
    assert b"Get updates by e-mail" not in resolved_page


def test_it_ignores_a_resolved_incident_named_in_the_subscribe_form(
    client: Client, incident: Incident
) -> None:
    form = client.get(f"/notify/subscribe?incident={incident.pk}")
    assert incident.name.encode() not in form.content and b"Cluster A" in form.content
    client.post("/notify/subscribe", {"email": "eve@example.net", "incident": incident.pk})
    assert Subscriber.objects.get(email="eve@example.net").incident is None  # the whole page


def test_it_registers_a_webhook_from_the_public_form(
    settings: Any, client: Client, page: Page
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = ""
    form = client.get("/notify/subscribe?mode=webhook")
    assert b'name="endpoint"' in form.content and b"Contact e-mail address" in form.content
    data = {"mode": "webhook", "endpoint": "http://127.0.0.1:9/hook", "email": "ops@example.net"}
    refused = client.post("/notify/subscribe", data)
    assert refused.status_code == 422 and b"private" in refused.content
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "127.0.0.0/8"
    answer = client.post("/notify/subscribe", data)
    assert answer.status_code == 200 and b"Webhook registered" in answer.content
    assert Subscriber.objects.get().endpoint == "http://127.0.0.1:9/hook"


def test_it_lets_a_webhook_contact_reactivate_and_renew_the_secret_from_the_manage_page(
    settings: Any, page: Page
) -> None:
    hook = subscribe(page, endpoint="http://127.0.0.1:9/hook", email_address="ops@example.net")
    Subscriber.objects.filter(pk=hook.pk).update(quarantined_at=timezone.now())
    browser = Client(enforce_csrf_checks=True)
    manage = browser.get(f"/notify/manage/{hook.unsubscribe_token}")
    assert b"paused after repeated delivery failures" in manage.content
    assert hook.signing_secret.encode() not in manage.content
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', manage.content)
    assert token is not None
    csrf = {"csrfmiddlewaretoken": token.group(1).decode()}
    answer = browser.post(f"/notify/manage/{hook.unsubscribe_token}/reactivate", csrf)
    assert answer.status_code == 200 and b"receives notifications again" in answer.content
    hook.refresh_from_db()
    assert hook.active
    old_secret = hook.signing_secret
    answer = browser.post(f"/notify/manage/{hook.unsubscribe_token}/secret", csrf)
    assert b"on its way to ops@example.net" in answer.content
    hook.refresh_from_db()
    assert hook.signing_secret != old_secret
    with smtp_sink() as mail:
        relay(settings, mail.port)
        worker.run_once(owner="test")
    [welcome] = mail.to("ops@example.net")
    assert hook.signing_secret in welcome.get_body(("plain",)).get_content()
    forged = Client(enforce_csrf_checks=True).post(
        f"/notify/manage/{hook.unsubscribe_token}/secret"
    )
    assert forged.status_code == 403
