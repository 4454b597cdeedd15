"""Shared by the notify tests: subscribers, and real receivers on 127.0.0.1.

``SmtpSink`` is an aiosmtpd server; ``HookSink`` a threaded ``http.server``. Both record
what they received, and both stop when their ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from django.utils import timezone

from heliograph.catalog.models import Component, Page
from heliograph.incidents.models import Incident
from heliograph.notify import outbox, payloads
from heliograph.notify.models import (
    EMAIL,
    INCIDENT_UPDATE,
    WEBHOOK,
    Notification,
    Subscriber,
)
from tests.support.live import free_port


def subscribe(
    page: Page,
    *,
    email_address: str = "",
    endpoint: str = "",
    components: Sequence[Component] = (),
    incident: Incident | None = None,
    confirmed: bool = True,
) -> Subscriber:
    subscriber = Subscriber.objects.create(
        page=page,
        kind=WEBHOOK if endpoint else EMAIL,
        email=email_address,
        endpoint=endpoint,
        incident=incident,
        confirmed_at=timezone.now() if confirmed else None,
    )
    subscriber.components.set(components)
    return subscriber


# --- SMTP -----------------------------------------------------------------------------------


@dataclass
class SmtpSink:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    sessions: set[int] = field(default_factory=set)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.sessions.add(id(session))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@contextlib.contextmanager
def smtp_sink(**smtp_options: Any) -> Iterator[SmtpSink]:
    """``smtp_options`` go to aiosmtpd (``tls_context``, ``require_starttls``, …)."""
    sink = SmtpSink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, **smtp_options)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# --- HTTP -----------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HookSink:
    """Answers each POST with ``answer(n)`` (n = 0-based request number): a status code."""

    answer: Callable[[int], int] = lambda n: 200
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.lock:
                    sink.received.append(Received(self.path, dict(self.headers), body))
                    status = sink.answer(len(sink.received) - 1)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextlib.contextmanager
def hook_sink(answer: Callable[[int], int] = lambda n: 200) -> Iterator[HookSink]:
    sink = HookSink(answer)
    server = ThreadingHTTPServer(("127.0.0.1", 0), sink.handler())
    sink.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def relay(settings: Any, port: int, fallback: int | None = None) -> None:
    settings.HELIOGRAPH_SMTP_URL = f"smtp://127.0.0.1:{port}?starttls=0&timeout=5"
    settings.HELIOGRAPH_SMTP_FALLBACK_URL = (
        f"smtp://127.0.0.1:{fallback}?starttls=0&timeout=5" if fallback else ""
    )
    settings.HELIOGRAPH_MAIL_FROM = "OpenSRS Status <status@example.com>"


def notify(incident: Incident) -> Notification:
    payload = payloads.incident_payload(incident)
    return outbox.enqueue(
        page=incident.page, kind=INCIDENT_UPDATE, incident=incident, payload=payload
    )
