"""E-mail: messages rendered from templates, sent concurrently over reused SMTP connections.

Each notification is rendered once (with placeholders for the per-subscriber links), then
stamped per recipient, so a fan-out to 100,000 addresses does not render 100,000 times.
A few connections per relay are opened and kept for the whole batch; when the primary
relay cannot be reached, the fallback carries the rest of the batch (DESIGN §8: the page
must still reach people when your own mail is what is down).
"""

from __future__ import annotations

import asyncio
import email.policy
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
from django.template.loader import render_to_string
from django.utils import timezone

from heliograph.lib.markup import render_markdown
from heliograph.lib.timefmt import local_clock
from heliograph.notify import payloads, rules, smtp_config
from heliograph.notify.models import (
    CONFIRMATION,
    MAINTENANCE,
    POSTMORTEM,
    QUARANTINE,
    WEBHOOK_WELCOME,
    Delivery,
    Notification,
)
from heliograph.notify.smtp_config import Relay

UNSUBSCRIBE = "@@UNSUBSCRIBE@@"  # stamped per recipient after rendering
MANAGE = "@@MANAGE@@"
CONNECTIONS = 4  # per batch; most relays throttle more than this per client

Result = str | None  # None = accepted by a relay; else why not
# Long header lines are legal up to 998 octets; unfolded, the one-click URL stays one token
# for the simplest List-Unsubscribe parsers.
POLICY = email.policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


# --- rendering ----------------------------------------------------------------------------


def render(notification: Notification, group_names: Mapping[str, str]) -> Rendered:
    """Subject and both bodies, with placeholders for the subscriber's own links."""
    page = notification.page
    context: dict[str, Any] = {
        "page_name": page.name,
        "unsubscribe_url": UNSUBSCRIBE,
        "manage_url": MANAGE,
        "payload": notification.payload,
    }
    if notification.kind == CONFIRMATION:
        template, subject = "confirmation", f"[{page.name}] Confirm your subscription"
    elif notification.kind == QUARANTINE:
        template, subject = "quarantine", f"[{page.name}] Your webhook was quarantined"
    elif notification.kind == WEBHOOK_WELCOME:
        template, subject = "webhook_welcome", f"[{page.name}] Your webhook is registered"
        assert notification.subscriber is not None  # targeted kinds always name one
        context["signing_secret"] = notification.subscriber.signing_secret
    else:
        template = "incident"
        context.update(_incident_context(notification, page.zone, group_names))
        subject = f"[{page.name}] {context['name']} ({context['status_label']})"
        if context["is_reminder"]:
            subject = f"[{page.name}] Upcoming maintenance: {context['name']} ({context['starts']})"
    return Rendered(
        subject=subject,
        text=render_to_string(f"notify/email/{template}.txt", context),
        html=render_to_string(f"notify/email/{template}.html", context),
    )


def _incident_context(
    notification: Notification, zone: ZoneInfo, group_names: Mapping[str, str]
) -> dict[str, Any]:
    incident = notification.payload["incident"]
    updates = incident.get("incident_updates") or []
    latest = updates[0] if updates else {}
    if notification.kind == POSTMORTEM:
        status, body, at = "postmortem", incident.get("postmortem_body") or "", None
    else:
        status, body = latest.get("status", incident["status"]), latest.get("body", "")
        at = latest.get("display_at")
    reminder = notification.kind == MAINTENANCE and payloads.is_reminder(notification.payload)
    label = "Upcoming maintenance" if reminder else status.replace("_", " ").capitalize()
    return {
        "name": incident["name"],
        "status_label": label,
        "is_maintenance": notification.kind == MAINTENANCE or bool(incident.get("scheduled_for")),
        "is_reminder": reminder,
        "starts": _starts(incident.get("scheduled_for"), zone),
        "body": body,
        "body_html": render_markdown(body),
        "posted": "" if reminder else _when(at, zone),
        "scheduled_for": _when(incident.get("scheduled_for"), zone),
        "scheduled_until": _when(incident.get("scheduled_until"), zone),
        "components": [_component_name(c, group_names) for c in incident.get("components", [])],
        "link": incident.get("shortlink", ""),
    }


def _component_name(component: Mapping[str, Any], group_names: Mapping[str, str]) -> str:
    group = group_names.get(component.get("group_id") or "")
    return f"{group} ({component['name']})" if group else str(component["name"])


def _when(value: str | None, zone: ZoneInfo) -> str:
    """``Jul 08, 2021 - 12:04 PM EDT (16:04 UTC)``: the page's zone first."""
    if not value:
        return ""
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    local = at.astimezone(zone)
    utc = at.astimezone(ZoneInfo("UTC"))
    return f"{local:%b %d, %Y} - {local_clock(at, zone)} ({utc:%H:%M} UTC)"


def _starts(value: str | None, zone: ZoneInfo) -> str:
    """``starts Dec 01, 9:00 AM EST``, short enough for a subject line."""
    if not value:
        return ""
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"starts {at.astimezone(zone):%b %d}, {local_clock(at, zone)}"


def build_message(delivery: Delivery, rendered: Rendered) -> EmailMessage:
    """The message for one recipient: their links, the list headers, a stable Message-ID."""
    subscriber, notification = delivery.subscriber, delivery.notification
    page = notification.page
    token = subscriber.unsubscribe_token
    links = {UNSUBSCRIBE: payloads.unsubscribe_url(token), MANAGE: payloads.manage_url(token)}
    message = EmailMessage(policy=POLICY)
    domain = smtp_config.mail_domain()
    message["From"] = smtp_config.mail_from()
    message["To"] = subscriber.email
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(timezone.now())
    # Stable across retries, so a receiver (or the recipient's client) can drop a repeat.
    message["Message-ID"] = f"<{notification.pk}.{delivery.pk}@{domain}>"
    message["List-Id"] = rules.list_id(page.name, page.pk, domain)
    message["List-Unsubscribe"] = rules.list_unsubscribe(links[UNSUBSCRIBE])
    message["List-Unsubscribe-Post"] = rules.ONE_CLICK
    message["Auto-Submitted"] = "auto-generated"
    message["X-Heliograph-Delivery"] = str(delivery.pk)
    message.set_content(_stamp(rendered.text, links))
    message.add_alternative(_stamp(rendered.html, links), subtype="html")
    return message


def envelope(message: EmailMessage) -> tuple[str, list[str], bytes]:
    """Sender, recipients and the bytes on the wire (with our header line policy)."""
    out = io.BytesIO()
    BytesGenerator(out, policy=POLICY).flatten(message)
    return parseaddr(message["From"])[1], [parseaddr(message["To"])[1]], out.getvalue()


def _stamp(text: str, links: Mapping[str, str]) -> str:
    for placeholder, url in links.items():
        text = text.replace(placeholder, url)
    return text


# --- sending ------------------------------------------------------------------------------


async def send_batch(
    messages: Mapping[int, EmailMessage],
    relays: list[Relay] | None = None,
    connections: int = CONNECTIONS,
) -> dict[int, Result]:
    """Send every message; returns, per key, None (accepted) or the reason it was not."""
    relays = smtp_config.relays() if relays is None else relays
    if not relays:
        return {key: "no SMTP relay configured (HELIOGRAPH_SMTP_URL)" for key in messages}
    queue: asyncio.Queue[tuple[int, EmailMessage]] = asyncio.Queue()
    for item in messages.items():
        queue.put_nowait(item)
    results: dict[int, Result] = {}
    workers = [_Sender(relays) for _ in range(max(1, min(connections, len(messages))))]
    await asyncio.gather(*(w.drain(queue, results) for w in workers))
    return results


class _Sender:
    """One SMTP connection, kept open across messages; moves to the next relay when the
    current one cannot be reached, and stays there for the rest of the batch."""

    def __init__(self, relays: list[Relay]) -> None:
        self.relays = relays
        self.down: set[Relay] = set()
        self.client: aiosmtplib.SMTP | None = None
        self.relay: Relay | None = None

    async def drain(
        self, queue: asyncio.Queue[tuple[int, EmailMessage]], results: dict[int, Result]
    ) -> None:
        try:
            while not queue.empty():
                key, message = queue.get_nowait()
                results[key] = await self.send(message)
        finally:
            await self.close()

    async def send(self, message: EmailMessage) -> Result:
        sender, recipients, data = envelope(message)
        problems = []
        for relay in self.relays:
            if relay in self.down:
                continue
            try:
                client = await self.connect(relay)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self.down.add(relay)  # unreachable or refusing us: use the next relay
                problems.append(f"{relay}: {exc or type(exc).__name__}")
                await self.close()
                continue
            try:
                await client.sendmail(sender, recipients, data)
                return None
            except aiosmtplib.SMTPRecipientsRefused as exc:
                return f"{relay} refused the recipient: {exc}"  # another relay would too
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code >= 500:  # permanent, and about this message
                    return f"{relay} rejected the message: {exc.code} {exc.message}"
                problems.append(f"{relay}: {exc.code} {exc.message}")
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                problems.append(f"{relay}: {exc or type(exc).__name__}")
            await self.close()  # dropped or 4xx: this message tries the next relay
        return "; ".join(problems) or "every SMTP relay is unreachable"

    async def connect(self, relay: Relay) -> aiosmtplib.SMTP:
        if self.client is not None and self.relay == relay and self.client.is_connected:
            return self.client
        await self.close()
        client = aiosmtplib.SMTP(
            hostname=relay.host, port=relay.port, username=relay.username,
            password=relay.password, use_tls=relay.use_tls, start_tls=relay.start_tls,
            timeout=relay.timeout, validate_certs=relay.validate_certs,
        )  # fmt: skip
        await client.connect()
        self.client, self.relay = client, relay
        return client

    async def close(self) -> None:
        client, self.client, self.relay = self.client, None, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
