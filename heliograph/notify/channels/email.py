"""E-mail: messages rendered from templates, sent concurrently over reused SMTP connections.

Each notification is rendered and serialised once, with stand-ins for what differs per
recipient (address, links, delivery id), which are then stamped into the bytes: a fan-out
to 100,000 addresses neither renders nor builds 100,000 messages (the target: 100,000 in a
minute). Several connections per relay are opened and kept for the whole batch; when the
primary relay cannot be reached, the fallback carries the rest of the batch (the page must
still reach people when your own mail is what is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import io
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
from aiosmtplib import SMTPStatus
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from heliograph.lib.markup import render_markdown
from heliograph.lib.timefmt import local_clock
from heliograph.notify import payloads, rules, smtp_config
from heliograph.notify.channels import Job, Pending, Source, run_jobs, within_deadline
from heliograph.notify.models import (
    CONFIRMATION,
    MAINTENANCE,
    POSTMORTEM,
    QUARANTINE,
    WEBHOOK_WELCOME,
    Delivery,
    Notification,
)
from heliograph.notify.smtp_config import Relay, client_for

UNSUBSCRIBE = "@@UNSUBSCRIBE@@"  # stamped per recipient after rendering
MANAGE = "@@MANAGE@@"

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
    subscriber = delivery.subscriber
    return _message(
        delivery.notification,
        rendered,
        subscriber.email,
        subscriber.unsubscribe_token,
        str(delivery.pk),
        format_datetime(timezone.now()),
    )


def _message(
    notification: Notification,
    rendered: Rendered,
    address: str,
    token: str,
    delivery: str,
    date: str,
) -> EmailMessage:
    page = notification.page
    links = {UNSUBSCRIBE: payloads.unsubscribe_url(token), MANAGE: payloads.manage_url(token)}
    message = EmailMessage(policy=POLICY)
    domain = smtp_config.mail_domain()
    message["From"] = smtp_config.mail_from()
    message["To"] = ascii_address(address)
    message["Subject"] = rendered.subject
    message["Date"] = date
    # Stable across retries, so a receiver (or the recipient's client) can drop a repeat.
    message["Message-ID"] = f"<{notification.pk}.{delivery}@{domain}>"
    message["List-Id"] = rules.list_id(page.name, page.pk, domain)
    message["List-Unsubscribe"] = rules.list_unsubscribe(links[UNSUBSCRIBE])
    message["List-Unsubscribe-Post"] = rules.ONE_CLICK
    message["Auto-Submitted"] = "auto-generated"
    message["X-Heliograph-Delivery"] = delivery
    message.set_content(_stamp(rendered.text, links))
    message.add_alternative(_stamp(rendered.html, links), subtype="html")
    return message


@dataclass(frozen=True)
class Outgoing:
    """One message as it goes to the relay.

    ``plain``: both addresses are plain ASCII (they go on the command lines as they are)
    and ``data`` is already what follows DATA on the wire (CRLF lines, dot-stuffed, ending
    with the lone dot), so nothing is parsed or rewritten per message."""

    sender: str
    recipient: str
    data: bytes
    plain: bool = False


def ascii_address(address: str) -> str:
    """An international domain in its IDNA (xn--) form, which every relay accepts; the
    validator admits no non-ASCII local part, so the address becomes plain ASCII."""
    local, at, domain = address.rpartition("@")
    try:
        return f"{local}{at}{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address  # left as it is: sending it fails that one delivery


def envelope(message: EmailMessage) -> Outgoing:
    """Sender, recipient and the bytes on the wire (with our header line policy)."""
    out = io.BytesIO()
    BytesGenerator(out, policy=POLICY).flatten(message)
    return Outgoing(parseaddr(message["From"])[1], parseaddr(message["To"])[1], out.getvalue())


def wire_form(data: bytes) -> bytes:
    """What follows DATA, as aiosmtplib would send it: CRLF line ends, a dot doubled at the
    start of a line, the lone dot at the end. Stamping a plain address, token or delivery
    id into it keeps it so (none starts a line or holds a line break)."""
    data = LINE_ENDS.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return LEADING_DOT.sub(b"..", data) + b".\r\n"


def _stamp(text: str, links: Mapping[str, str]) -> str:
    for placeholder, url in links.items():
        text = text.replace(placeholder, url)
    return text


# --- stamping on bytes --------------------------------------------------------------------

# Stand-ins for what differs between recipients. A notification's message is built and
# serialised once with them; each recipient's copy replaces them in the bytes. Every
# value they stand for is plain ASCII that the email package writes out unchanged.
ADDRESS_SLOT = "recipient@heliograph-slot.invalid"
DELIVERY_SLOT = "HeliographDeliverySlot"
PLAIN_ADDRESS = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~-]+(\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*",
    re.ASCII,
)
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
LINE_ENDS = re.compile(rb"\r\n|\n|\r(?!\n)")
LEADING_DOT = re.compile(rb"(?m)^\.")


def token_slot(length: int) -> str:
    """A stand-in exactly as long as the token, so no line of the template grows."""
    return ("HeliographTokenSlot" * 4)[:length]


class Composer:
    """Every recipient's message of one notification, from one serialised template.

    The slow path (one EmailMessage per recipient) remains for what the template cannot
    carry: an address or token that is not plain ASCII, or a body the email package chose
    to encode (quoted-printable or base64 for very long lines), where the stand-ins would
    not appear verbatim in the bytes.
    """

    def __init__(self, notification: Notification, rendered: Rendered) -> None:
        self.notification, self.rendered = notification, rendered
        self.date = format_datetime(timezone.now())
        self.templates: dict[int, list[bytes | int] | None] = {}  # by token length
        self.sender = parseaddr(smtp_config.mail_from())[1]
        self.plain_sender = bool(PLAIN_ADDRESS.fullmatch(self.sender))

    def outgoing(self, delivery: Delivery) -> Outgoing:
        address, token = delivery.subscriber.email, delivery.subscriber.unsubscribe_token
        plain = (
            self.plain_sender
            and len(address) <= 320
            and PLAIN_ADDRESS.fullmatch(address)
            and TOKEN.fullmatch(token)
        )
        if plain and len(token) not in self.templates:
            self.templates[len(token)] = self._template(len(token))
        pieces = self.templates.get(len(token)) if plain else None
        if pieces is None:
            return envelope(build_message(delivery, self.rendered))
        values = (address.encode(), token.encode(), str(delivery.pk).encode())
        data = b"".join(values[p] if isinstance(p, int) else p for p in pieces)
        return Outgoing(self.sender, address, data, plain=True)

    def _template(self, length: int) -> list[bytes | int] | None:
        """The message's bytes cut at the stand-ins, each replaced by its index in
        (address, token, delivery id); None when they do not all appear verbatim."""
        slots = [s.encode() for s in (ADDRESS_SLOT, token_slot(length), DELIVERY_SLOT)]
        text = self.rendered.text + self.rendered.html
        expected = [1, 1 + text.count(UNSUBSCRIBE) + text.count(MANAGE), 2]
        address, token, delivery = (slot.decode() for slot in slots)
        message = _message(self.notification, self.rendered, address, token, delivery, self.date)
        data = wire_form(envelope(message).data)
        if [data.count(slot) for slot in slots] != expected:
            return None
        pieces = re.split(b"(" + b"|".join(map(re.escape, slots)) + b")", data)
        return [slots.index(p) if n % 2 else p for n, p in enumerate(pieces)]


# --- sending ------------------------------------------------------------------------------


async def send_from(
    source: Source[Outgoing], relays: list[Relay] | None = None, connections: int | None = None
) -> None:
    """Send what ``source`` gives over ``connections`` SMTP connections, kept open from one
    message to the next, until it has no more."""
    relays = smtp_config.relays() if relays is None else relays
    count = connection_count() if connections is None else connections
    async with asyncio.TaskGroup() as group:  # a failing one stops the others
        for _ in range(count):
            group.create_task(_Sender(relays).drain(source))


def connection_count() -> int:
    return int(settings.HELIOGRAPH_SMTP_CONNECTIONS)


class _Sender:
    """One SMTP connection, kept open across messages; moves to the next relay when the
    current one cannot be reached, and stays there while it has messages to send."""

    def __init__(self, relays: list[Relay]) -> None:
        self.relays = relays
        self.down: set[Relay] = set()
        self.client: aiosmtplib.SMTP | None = None
        self.relay: Relay | None = None
        self.replies = _Replies(self.abort)

    async def drain(self, source: Source[Outgoing]) -> None:
        watching = asyncio.get_running_loop().create_task(self.replies.watch())
        try:
            await run_jobs(source, self.attempt)
        finally:
            watching.cancel()
            await self.close()

    async def attempt(self, job: Job[Outgoing], ready: Pending | None) -> tuple[Result, bool]:
        return await within_deadline(job, self.send(job.message, ready), self.abort)

    async def send(self, message: Outgoing, ready: Pending | None = None) -> Result:
        """``ready`` is awaited before the message's content goes out."""
        if not self.relays:
            return "no SMTP relay configured (HELIOGRAPH_SMTP_URL)"
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
                await _transact(client, self.replies, message, ready)
                return None
            except aiosmtplib.SMTPRecipientsRefused as exc:
                return f"{relay} refused the recipient: {exc}"  # another relay would too
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code >= 500:  # permanent, and about this message
                    return f"{relay} rejected the message: {exc.code} {exc.message}"
                problems.append(f"{relay}: {exc.code} {exc.message}")
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                problems.append(f"{relay}: {exc or type(exc).__name__}")
            except UnicodeError:  # an address no relay can take
                await self.close()
                return f"{message.recipient} cannot be written in ASCII for the relay"
            await self.close()  # dropped or 4xx: this message tries the next relay
        return "; ".join(problems) or "every SMTP relay is unreachable"

    async def connect(self, relay: Relay) -> aiosmtplib.SMTP:
        if self.client is not None and self.relay == relay and self.client.is_connected:
            return self.client
        await self.close()
        client = client_for(relay)
        await client.connect()
        if client.is_ehlo_or_helo_needed:  # as aiosmtplib's own commands do
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        self.client, self.relay = client, relay
        return client

    async def close(self) -> None:
        client, self.client, self.relay = self.client, None, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()

    def abort(self) -> None:
        client, self.client, self.relay = self.client, None, None
        if client is not None:
            client.close()


WATCH_EVERY = 1.0  # seconds between a connection's looks at the reply it waits for


class _Replies:
    """The plain path's commands and replies on one connection. Each wait for a reply is
    bounded by the relay's timeout, as aiosmtplib's own commands bound theirs, but by one
    timer per connection instead of one per command (four per message, each made and
    cancelled: more of the sending loop's time than the commands' own work)."""

    def __init__(self, drop: Callable[[], None]) -> None:
        self.drop = drop  # closes the connection: the wait then ends at once
        self.answer_by = math.inf  # loop time
        self.late = False

    async def watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_EVERY)
            if loop.time() > self.answer_by:
                self.late, self.answer_by = True, math.inf
                self.drop()

    async def ask(self, client: aiosmtplib.SMTP, line: bytes) -> aiosmtplib.SMTPResponse:
        """Send ``line`` (a command, or a message's content in its wire form), read the reply."""
        protocol = client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        if client.timeout is not None:
            self.answer_by = asyncio.get_running_loop().time() + client.timeout
        self.late = False
        try:
            protocol.write(line)
            return await protocol.read_response(timeout=None)
        except aiosmtplib.SMTPServerDisconnected:
            client.close()
            if self.late:
                raise aiosmtplib.SMTPReadTimeoutError(
                    "Timed out waiting for server response"
                ) from None
            raise
        finally:
            self.answer_by = math.inf


async def _transact(
    client: aiosmtplib.SMTP, replies: _Replies, message: Outgoing, ready: Pending | None
) -> None:
    """MAIL, RCPT, DATA, as aiosmtplib's ``sendmail`` does them for one recipient, minus
    its parses of the addresses and of the content per message (a plain message was
    checked and made ready for the wire when built). The content waits for ``ready``."""
    if not message.plain:
        if ready is not None:
            await ready
        await client.sendmail(message.sender, [message.recipient], message.data)
        return
    size = b" SIZE=%d" % len(message.data) if client.supports_extension("size") else b""
    try:
        reply = await replies.ask(client, b"MAIL FROM:<%s>%s\r\n" % (message.sender.encode(), size))
        if reply.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, message.sender)
        if ready is not None:  # needed after RCPT and DATA: commit it meanwhile
            ready.hurry()
        reply = await replies.ask(client, b"RCPT TO:<%s>\r\n" % message.recipient.encode())
        if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            refused = aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, message.recipient)
            raise aiosmtplib.SMTPRecipientsRefused([refused])
        reply = await replies.ask(client, b"DATA\r\n")
        if reply.code != SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        if ready is not None:
            await ready
        reply = await replies.ask(client, message.data)
        if reply.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPException):
            await client.rset()  # a clean envelope for the connection's next message
        raise
