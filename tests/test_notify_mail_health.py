"""E-mail that is honest about itself: no promise of a message that will not come, a
console that says when e-mail is missing or failing, and a test e-mail on demand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.test import Client

from heliograph.catalog.models import Page
from heliograph.incidents.models import Incident
from heliograph.notify import outbox, payloads, worker
from heliograph.notify.models import INCIDENT_UPDATE, Subscriber
from tests.support.cli import Installation
from tests.support.live import free_port
from tests.support.notify import relay, smtp_sink, subscribe


def console(as_role: Callable[[str], Client]) -> str:
    return as_role("viewer").get("/console/").content.decode()


def test_without_a_relay_the_public_page_offers_feeds_and_webhooks_only(
    settings: Any, page: Page
) -> None:
    settings.HELIOGRAPH_SMTP_URL = ""
    client = Client()
    shown = client.get("/notify/subscribe").content.decode()
    assert "This page does not send e-mail yet" in shown and 'type="email"' not in shown
    assert 'href="/history.atom"' in shown and "mode=webhook" in shown
    refused = client.post("/notify/subscribe", {"email": "reader@example.org"})
    assert refused.status_code == 422
    assert b"does not send e-mail yet" in refused.content
    api = client.post("/api/v2/subscribers.json", {"subscriber[email]": "reader@example.org"})
    assert api.status_code == 422 and "does not send e-mail" in api.json()["error"]
    assert not Subscriber.objects.exists()  # nothing half-written
    # A webhook needs no relay to be delivered.
    hook = {"mode": "webhook", "endpoint": "https://93.184.216.34/x", "email": "a@b.org"}
    registered = client.post("/notify/subscribe", hook)
    assert registered.status_code == 200, registered.content


def test_the_dashboard_says_e_mail_is_missing(
    settings: Any, page: Page, as_role: Callable[[str], Client]
) -> None:
    settings.HELIOGRAPH_SMTP_URL = ""
    assert "no SMTP relay is configured (set HELIOGRAPH_SMTP_URL)" in console(as_role)
    settings.HELIOGRAPH_SMTP_URL = "smtp://127.0.0.1:25"
    assert "HELIOGRAPH_SMTP_URL" not in console(as_role)


def test_the_dashboard_shows_the_relays_last_answer_while_e_mail_fails(
    settings: Any, incident: Incident, as_role: Callable[[str], Client]
) -> None:
    subscribe(incident.page, email_address="ops@example.net")
    payload = payloads.incident_payload(incident)
    page = incident.page
    outbox.enqueue(page=page, kind=INCIDENT_UPDATE, incident=incident, payload=payload)
    relay(settings, free_port())  # nothing listens there
    assert worker.run_once(owner="test") == 1
    shown = console(as_role)
    assert "E-mail to subscribers is failing" in shown and "127.0.0.1" in shown
    with smtp_sink() as sink:
        relay(settings, sink.port)
        outbox.enqueue(page=page, kind=INCIDENT_UPDATE, incident=incident, payload=payload)
        assert worker.run_once(owner="test") >= 1
    assert sink.messages and "is failing" not in console(as_role)


def test_mail_test_sends_one_message_and_prints_the_relays_answer(tmp_path: Path) -> None:
    cli = Installation(tmp_path, None)  # no database needed
    with smtp_sink() as sink:
        url = f"smtp://127.0.0.1:{sink.port}?starttls=0"
        sent = cli.run("mail", "test", "me@example.org", env={"HELIOGRAPH_SMTP_URL": url})
    assert sent.returncode == 0, sent.stderr
    assert f"smtp://127.0.0.1:{sink.port}: accepted: " in sent.stdout and "OK" in sent.stdout
    [message] = sink.to("me@example.org")
    assert message["Subject"] == "Heliograph test e-mail"

    down = f"smtp://127.0.0.1:{free_port()}?starttls=0&timeout=2"
    failed = cli.run("mail", "test", "me@example.org", env={"HELIOGRAPH_SMTP_URL": down})
    assert failed.returncode != 0 and "refused: " in failed.stdout
    assert "no relay accepted the test e-mail" in failed.stderr and "Traceback" not in failed.stderr
    missing = cli.run("mail", "test", "me@example.org", env={"HELIOGRAPH_SMTP_URL": ""})
    assert missing.returncode != 0 and "HELIOGRAPH_SMTP_URL" in missing.stderr
