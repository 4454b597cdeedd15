"""E-mail notifications, received by a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from heliograph.catalog.models import Component
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.notify import outbox, payloads, recorder, worker
from heliograph.notify.channels.email import connection_count
from heliograph.notify.models import (
    INCIDENT_UPDATE,
    MAINTENANCE,
    Delivery,
    Notification,
    Subscriber,
)
from heliograph.notify.smtp_config import Relay, parse_smtp_url
from heliograph.notify.system_checks import check_notify_settings
from heliograph.publish.build import publish_page
from heliograph.publish.store import SnapshotStore
from tests.support.live import free_port
from tests.support.notify import relay, smtp_sink, subscribe
from tests.support.probe_servers import make_certs, silent, tcp_server
from tests.support.readpath import Response, node

BASE = "http://127.0.0.1:8000"  # settings.BASE_URL in tests


def notify(incident: Incident) -> Notification:
    payload = payloads.incident_payload(incident)
    return outbox.enqueue(
        page=incident.page, kind=INCIDENT_UPDATE, incident=incident, payload=payload
    )


def test_it_emails_an_update_with_one_click_unsubscribe_and_both_parts(
    settings: Any, incident: Incident
) -> None:
    subscriber = subscribe(incident.page, email_address="ops@example.net")
    notification = notify(incident)
    with smtp_sink() as sink:
        relay(settings, sink.port)
        assert worker.run_once(owner="test") == 1
    [message] = sink.messages
    unsubscribe = f"{BASE}/notify/unsubscribe/{subscriber.unsubscribe_token}"
    assert message["To"] == "ops@example.net"
    assert message["From"] == "OpenSRS Status <status@example.com>"
    assert message["Subject"] == "[OpenSRS] Cluster A - Inbound Delays (Resolved)"
    assert message["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == f'"OpenSRS status" <{incident.page_id}.127.0.0.1>'
    delivery = Delivery.objects.get()
    assert message["Message-ID"] == f"<{notification.pk}.{delivery.pk}@127.0.0.1>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Cluster A - Inbound Delays" in part
        assert "Resolved" in part
        assert "Total Duration:26 minutes" in part  # the update's own text
        assert "Hosted Email (Cluster A)" in part
        assert incident.shortlink in part
        assert unsubscribe in part
        assert "EDT" in part and "UTC" in part  # the page's zone, and UTC beside it
        assert "maintenance" not in part
    assert f'href="{incident.shortlink}"' in html and "<p>" in html
    assert delivery.status == "sent" and delivery.sent_at is not None
    assert outbox.counts(notification)["sent"] == 1


def test_it_mails_links_that_work_when_followed(
    settings: Any, incident: Incident, client: Client
) -> None:
    subscribe(incident.page, email_address="ops@example.net")
    notify(incident)
    with smtp_sink() as sink:
        relay(settings, sink.port)
        worker.run_once(owner="test")
    [message] = sink.messages
    text = message.get_body(("plain",)).get_content()
    links = dict(re.findall(r"^(Manage your subscription|Unsubscribe): (\S+)", text, re.M))
    manage = client.get(local(links["Manage your subscription"]))
    assert manage.status_code == 200 and b"active" in manage.content
    publish_page(incident.page)
    store = SnapshotStore()
    store.refresh()
    public = Response(node(store), local(incident.shortlink))
    assert public.status == 200 and b"Cluster A - Inbound Delays" in public.body
    page = client.get(local(links["Unsubscribe"]))  # asks first: scanners open every link
    assert page.status_code == 200 and Subscriber.objects.get().unsubscribed_at is None
    # What a mail client's unsubscribe button does (RFC 8058): POST the header's URL.
    one_click = local(message["List-Unsubscribe"].strip("<>"))
    answer = client.post(
        one_click, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 200 and b"You are unsubscribed" in answer.content
    assert Subscriber.objects.get().unsubscribed_at is not None


def local(url: str) -> str:
    """A link from a message, as the test client asks for it (the host is settings.BASE_URL)."""
    assert url.startswith(BASE), url
    return url[len(BASE) :]


def test_it_sends_many_over_a_few_reused_connections(settings: Any, incident: Incident) -> None:
    for n in range(40):
        subscribe(incident.page, email_address=f"u{n}@example.net")
    notify(incident)
    with smtp_sink() as sink:
        relay(settings, sink.port)
        assert worker.run_once(owner="test") == 40
    assert sorted(m["To"] for m in sink.messages) == sorted(f"u{n}@example.net" for n in range(40))
    assert 1 <= len(sink.sessions) <= connection_count()


@dataclass
class Auditor:
    """An SMTP server that, as each message's content arrives (the message is delivered
    then), looks in the database for the previous message on the same connection: it must
    be recorded as sent already, or a crash at that instant would leave two delivered
    messages of one connection unrecorded (the bound is one, the one in flight). The
    envelope (MAIL, RCPT, DATA's 354) may go ahead of that record; the content may not."""

    last: dict[int, int] = field(default_factory=dict)  # connection → its latest delivery
    checked: list[int] = field(default_factory=list)
    unrecorded: list[int] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        previous = self.last.get(id(session))
        if previous is not None:
            self.checked.append(previous)
            if not await asyncio.to_thread(recorded_as_sent, previous):
                self.unrecorded.append(previous)
        headers = BytesHeaderParser().parsebytes(envelope.content)
        self.last[id(session)] = int(headers["X-Heliograph-Delivery"])
        return "250 OK"


def recorded_as_sent(pk: int) -> bool:
    """From a thread of its own (its own connection), as another process would see it.

    On PostgreSQL only what is committed shows. The test database on SQLite is an
    in-memory one with a shared cache, where a reader would lock the writer out (a file
    in WAL mode, as in production, has no such lock): there the reader reads
    uncommitted rows, which still shows that the result was written first."""
    try:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA read_uncommitted = 1")
        for _ in range(100):
            try:
                return Delivery.objects.filter(pk=pk, status="sent").exists()
            except OperationalError:  # SQLite's shared cache: a writer holds the table
                time.sleep(0.02)
        raise AssertionError("the database stayed locked")
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_it_records_each_message_before_its_connection_delivers_the_next(
    settings: Any, incident: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Commits wait long for company unless a connection waits for one: a connection that
    # went on without waiting for its own would deliver its next message well before its
    # last one is written.
    monkeypatch.setattr(recorder, "LINGER", 0.5)
    for n in range(60):
        subscribe(incident.page, email_address=f"u{n}@example.net")
    notify(incident)
    auditor = Auditor()
    port = free_port()
    controller = Controller(auditor, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        relay(settings, port)
        assert worker.run_once(owner="test") == 60
    finally:
        controller.stop()
    assert len(auditor.checked) >= 60 - connection_count()  # every connection's second message on
    assert auditor.unrecorded == []
    assert Delivery.objects.filter(status="sent").count() == 60


def test_a_line_that_starts_with_a_dot_arrives_as_written(
    settings: Any, incident: Incident
) -> None:
    # Messages go out in their wire form, built once: the dot must be doubled on the
    # wire (and undoubled by the relay), or the line would read differently or end it.
    body = "Mail flows again.\n\n.forward files are read again.\n\n."
    incidents.post_update(
        incident=incident, status="monitoring", body=body, deliver_notifications=False
    )
    for n in range(2):
        subscribe(incident.page, email_address=f"u{n}@example.net")
    notify(incident)
    with smtp_sink() as sink:
        relay(settings, sink.port)
        assert worker.run_once(owner="test") == 2
    assert len(sink.messages) == 2
    for message in sink.messages:
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert "\n.forward files are read again.\n" in text and "\n.\n" in text
        assert "Manage your subscription" in text  # the lone dot did not end it


def test_a_message_that_cannot_be_built_fails_only_its_delivery_on_our_side(
    settings: Any, incident: Incident
) -> None:
    subscribe(incident.page, email_address="")  # no address: nothing to send it to
    notification = notify(incident)
    with smtp_sink() as sink:
        relay(settings, sink.port)
        assert worker.run_once(owner="test") == 1
    assert sink.messages == []
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and "cannot build the message" in delivery.last_error
    assert delivery.history.get().outcome == "ours"
    assert outbox.counts(notification)["pending"] == 1


def test_it_stops_sending_when_results_cannot_be_recorded(
    settings: Any, incident: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(40):
        subscribe(incident.page, email_address=f"u{n}@example.net")
    notify(incident)

    def failing(**kwargs: Any) -> int:
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(outbox, "record_success", failing)
    with smtp_sink() as sink:
        relay(settings, sink.port)
        with pytest.raises(OperationalError):
            worker.run_once(owner="test")
    # A connection's next envelope may have gone out; no content after an unrecorded one.
    assert 1 <= len(sink.messages) <= connection_count()
    assert Delivery.objects.filter(status="pending").count() == 40


def test_it_mails_an_address_with_an_international_domain_in_its_ascii_form(
    settings: Any, incident: Incident
) -> None:
    subscribe(incident.page, email_address="ops@bücher.example")
    subscribe(incident.page, email_address="u0@example.net")
    notification = notify(incident)
    with smtp_sink() as sink:
        relay(settings, sink.port)
        assert worker.run_once(owner="test") == 2
    assert sorted(m["To"] for m in sink.messages) == ["ops@xn--bcher-kva.example", "u0@example.net"]
    assert outbox.counts(notification)["sent"] == 2


def test_it_fails_only_the_delivery_whose_address_no_relay_can_take(
    settings: Any, incident: Incident
) -> None:
    subscribe(incident.page, email_address="jörg@example.net")  # stored before validation
    subscribe(incident.page, email_address="u0@example.net")
    notification = notify(incident)
    with smtp_sink() as sink:
        relay(settings, sink.port)
        assert worker.run_once(owner="test") == 2
    assert [m["To"] for m in sink.messages] == ["u0@example.net"]
    failed = Delivery.objects.get(subscriber__email="jörg@example.net")
    assert failed.status == "pending" and "jörg@example.net" in failed.last_error
    assert outbox.counts(notification)["sent"] == 1


def test_it_falls_back_to_the_second_relay_when_the_first_is_down(
    settings: Any, incident: Incident
) -> None:
    for n in range(3):
        subscribe(incident.page, email_address=f"u{n}@example.net")
    notification = notify(incident)
    with smtp_sink() as fallback:
        relay(settings, free_port(), fallback=fallback.port)  # nothing listens on the first
        assert worker.run_once(owner="test") == 3
    assert len(fallback.messages) == 3
    assert outbox.counts(notification)["sent"] == 3


def test_it_retries_later_when_no_relay_answers(settings: Any, incident: Incident) -> None:
    subscribe(incident.page, email_address="ops@example.net")
    notification = notify(incident)
    now = timezone.now()
    relay(settings, free_port(), fallback=free_port())
    assert worker.run_once(owner="test", now=now) == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "127.0.0.1" in delivery.last_error and delivery.next_attempt_at > now
    with smtp_sink() as sink:
        relay(settings, sink.port)
        assert worker.run_once(owner="test", now=now + timedelta(seconds=5)) == 0  # backing off
        assert worker.run_once(owner="test", now=now + timedelta(minutes=5)) == 1
    assert [m["To"] for m in sink.messages] == ["ops@example.net"]
    assert outbox.counts(notification) == {"sent": 1, "failed": 0, "pending": 0, "skipped": 0}


def test_it_stops_sending_to_a_hanging_relay_before_the_batch_lease_runs_out(
    settings: Any, incident: Incident
) -> None:
    subscribe(incident.page, email_address="ops@example.net")
    notification = notify(incident)
    with tcp_server(silent) as port:  # accepts, never greets
        settings.HELIOGRAPH_SMTP_URL = f"smtp://127.0.0.1:{port}?starttls=0&timeout=30"
        assert worker.run_once(owner="test", lease=2) == 1  # not the relay's 30 s
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == ("pending", worker.UNFINISHED)
    assert delivery.leased_until is None and delivery.next_attempt_at > timezone.now()
    assert outbox.counts(notification)["pending"] == 1


def test_it_logs_in_to_the_relay_over_starttls_and_refuses_an_untrusted_certificate(
    settings: Any, incident: Incident, tmp_path: Path
) -> None:
    subscribe(incident.page, email_address="ops@example.net")
    notify(incident)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        logins.append((data.login, data.password))
        return AuthResult(success=(data.login, data.password) == (b"relay-user", b"s3cret"))

    tls = make_certs(tmp_path).context("selfsigned")
    with smtp_sink(
        tls_context=tls,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
    ) as sink:
        url = f"smtp://relay-user:s3cret@127.0.0.1:{sink.port}?starttls=1&timeout=5"
        settings.HELIOGRAPH_SMTP_URL = url
        settings.HELIOGRAPH_SMTP_FALLBACK_URL = ""
        assert worker.run_once(owner="test") == 1
        delivery = Delivery.objects.get()
        assert delivery.status == "pending" and "certificate" in delivery.last_error.lower()
        assert not sink.messages and not logins  # no password before the server is trusted
        settings.HELIOGRAPH_SMTP_URL = url + "&verify=0"  # the operator's explicit choice
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["next_attempt_at"])
        assert worker.run_once(owner="test") == 1
    assert [m["To"] for m in sink.messages] == ["ops@example.net"]
    assert logins == [(b"relay-user", b"s3cret")]
    assert "s3cret" not in Delivery.objects.get().last_error


def test_it_asks_a_new_address_to_confirm_before_anything_else(
    settings: Any, incident: Incident
) -> None:
    fresh = subscribe(incident.page, email_address="new@example.net", confirmed=False)
    outbox.request_confirmation(subscriber=fresh)
    notify(incident)
    with smtp_sink() as sink:
        relay(settings, sink.port)
        worker.run_once(owner="test")
    [message] = sink.messages
    assert message["Subject"] == "[OpenSRS] Confirm your subscription"
    confirm = f"{BASE}/notify/confirm/{fresh.unsubscribe_token}"
    assert confirm in message.get_body(("plain",)).get_content()
    assert f'href="{confirm}"' in message.get_body(("html",)).get_content()


def test_it_reads_smtp_urls_and_explains_bad_ones() -> None:
    assert parse_smtp_url("smtp://bob:s%40cret@mail.example.com:587?starttls=1") == Relay(
        host="mail.example.com", port=587, username="bob", password="s@cret", start_tls=True
    )
    secure = parse_smtp_url("smtps://mail.example.com")
    assert (secure.port, secure.use_tls, secure.start_tls) == (465, True, False)
    assert parse_smtp_url("smtp://relay").start_tls is None  # STARTTLS when offered
    assert str(parse_smtp_url("smtp://u:p@relay:25")) == "smtp://relay:25"  # no password
    for bad in ("http://mail.example.com", "smtp://", "smtp://h:x", "smtps://h?starttls=1"):
        with pytest.raises(ImproperlyConfigured):
            parse_smtp_url(bad)


def test_it_announces_a_maintenance_with_its_window_in_the_page_zone(
    settings: Any, cluster_a: Component
) -> None:
    start = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    maintenance = incidents.schedule_maintenance(
        page=cluster_a.page,
        name="Cluster A storage upgrade",
        body="Short delays expected.",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        components=[cluster_a],
    )
    subscribe(cluster_a.page, email_address="ops@example.net", components=[cluster_a])
    [notification] = Notification.objects.filter(incident=maintenance)  # queued by scheduling
    assert notification.kind == MAINTENANCE
    with smtp_sink() as sink:
        relay(settings, sink.port)
        worker.run_once(owner="test")
    [message] = sink.messages
    assert message["Subject"] == "[OpenSRS] Cluster A storage upgrade (Scheduled)"
    text = message.get_body(("plain",)).get_content()
    assert (
        "Scheduled: Dec 01, 2026 - 9:00 AM EST (14:00 UTC) to Dec 01, 2026 - 11:00 AM EST" in text
    )
    assert "This maintenance affects: Hosted Email (Cluster A)" in text


def test_it_stops_at_start_up_on_a_bad_mail_setting(settings: Any) -> None:
    settings.HELIOGRAPH_SMTP_URL = "smtp://mail.example.com:25"
    assert check_notify_settings() == []
    settings.HELIOGRAPH_SMTP_URL = "mail.example.com"
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "127.0.0.0/8, localnet"
    assert [p.id for p in check_notify_settings()] == ["notify.E001", "notify.E003"]


def test_a_relay_that_stops_answering_is_given_up_after_its_timeout() -> None:
    """The plain path bounds each reply with one watchdog per connection, not a timer per
    command: a relay silent after EHLO still fails the message after its timeout."""
    from heliograph.notify.channels import email

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mute\r\n")
        while line := await reader.readline():
            if line.upper().startswith(b"EHLO"):
                writer.write(b"250-mute\r\n250 SIZE 1000000\r\n")  # and nothing after

    async def attempt() -> tuple[str | None, float]:
        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        relay = Relay("127.0.0.1", port, None, None, False, False, 1.0, True)
        sender = email._Sender([relay])
        watching = asyncio.get_running_loop().create_task(sender.replies.watch())
        started = time.monotonic()
        message = email.Outgoing("a@example.com", "b@example.net", b"Hi\r\n.\r\n", plain=True)
        result = await sender.send(message)
        watching.cancel()
        server.close()
        return result, time.monotonic() - started

    result, seconds = asyncio.run(attempt())
    assert result is not None and "Timed out waiting for server response" in result
    assert 1.0 <= seconds < 3.5
