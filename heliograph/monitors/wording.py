"""What automation tells customers, in the page's voice (architecture: Monitors).

Public texts say what is affected, since when (the page's zone and UTC) and what customers
may notice. They never name a probe, a host, an address, a token or a Message-ID: those
are evidence, kept for responders (``IncidentAutomation.evidence``, the console).

The texts come from the page's incident templates named ``Automatic: …``, made from the
built-in ones below on first use, so admins edit them where they edit every template.
A template's title and body may use these fields, in braces:

``{component}`` ``{summary}`` (``Inbound mail outage``) ``{effect}`` (``inbound mail to
Cluster A is delayed by about 12 minutes``) ``{severity}`` (``a partial outage``)
``{since}`` (``4:04 PM EDT (20:04 UTC)``) ``{quiet}`` (``15 minutes``) ``{after}``
(how long after the resolution it came back).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED, MAJOR, OPERATIONAL, PARTIAL
from heliograph.incidents.lifecycle import Status
from heliograph.incidents.models import IncidentTemplate
from heliograph.lib.timefmt import local_clock

OPENED, WORSE, BETTER, MONITORING, RESOLVED, CAME_BACK = (
    "opened", "worse", "better", "monitoring", "resolved", "came back",
)  # fmt: skip
TITLE = "{summary} — {component}"
BUILT_IN: dict[str, tuple[str, str, str]] = {
    OPENED: (
        Status.INVESTIGATING,
        TITLE,
        "Since {since}, {effect}. We are investigating and will post updates here.",
    ),
    WORSE: (Status.INVESTIGATING, TITLE, "Since {since}, {effect}. We are working on it."),
    BETTER: (
        Status.INVESTIGATING,
        TITLE,
        "It is better, not over: since {since}, {effect}. We are still working on it.",
    ),
    MONITORING: (
        Status.MONITORING,
        TITLE,
        "{component} has been working normally since {since}. We are monitoring the result.",
    ),
    RESOLVED: (
        Status.RESOLVED,
        TITLE,
        "{component} has been working normally for {quiet}. This incident has been resolved.",
    ),
    CAME_BACK: (
        Status.INVESTIGATING,
        TITLE,
        "The problem came back {after} after it was resolved: since {since}, {effect}. "
        "We are investigating.",
    ),
}
PREFIX = "Automatic: "
FIELD = re.compile(r"\{(\w+)\}")

SEVERITY_WORDS = {
    DEGRADED: "degraded performance",
    PARTIAL: "a partial outage",
    MAJOR: "a major outage",
    OPERATIONAL: "normal operation",
}


@dataclass(frozen=True)
class Service:
    """How customers name what a kind of monitor watches, and what they notice."""

    name: str  # "Inbound mail"
    slow: str  # "inbound mail to {component} is delayed{by}"
    down: str  # "inbound mail to {component} is not being delivered"
    trouble: str = "problems"  # the title's word short of an outage
    partial: str = "{component} is not responding for some customers"  # some paths down
    # Other things a probe can notice short of an outage (its ``noticed`` detail).
    noticed: Mapping[str, str] = field(default_factory=dict)


MAIL = Service(
    "Inbound mail",
    "inbound mail to {component} is delayed{by}",
    "inbound mail to {component} is not being delivered; senders' servers retry, so "
    "messages arrive late rather than being lost",
    "delays",
    "some inbound mail to {component} is not being delivered; senders' servers retry, so "
    "those messages arrive late rather than being lost",
    {
        "loop": "some inbound mail to {component} arrives late or more than once while it "
        "is processed",
        "junk": "some inbound mail to {component} is wrongly filed as junk",
    },
)
SERVICES: dict[str, Service] = {
    "mail_roundtrip": MAIL,
    "smtp": MAIL,
    "rspamd": Service(
        "Inbound mail",
        "some inbound mail to {component} is delayed while it is processed",
        "inbound mail to {component} is held up while it is processed",
        "delays",
        "some inbound mail to {component} is held up while it is processed",
    ),
    "imap": Service(
        "Mailbox access",
        "opening mailboxes on {component} is slow",
        "mailboxes on {component} cannot be opened",
        partial="some mailboxes on {component} cannot be opened",
    ),
}
GENERIC = Service("", "{component} is responding slowly", "{component} is not responding")


def service(kind: str) -> Service:
    return SERVICES.get(kind, GENERIC)


def summary(kind: str, status: str) -> str:
    """The title's words: ``Inbound mail delays``, ``Partial inbound mail outage``."""
    name = service(kind).name
    if not name:
        return {DEGRADED: "Degraded performance", PARTIAL: "Partial outage"}.get(status, "Outage")
    if status == DEGRADED:
        return f"{name} {service(kind).trouble}"
    if status == PARTIAL:
        return f"Partial {name[0].lower()}{name[1:]} outage"
    return f"{name} outage"


def effect(
    kind: str,
    status: str,
    down: bool,
    values: Mapping[str, float],
    component: Component,
    noticed: str = "",
) -> str:
    """What customers notice, as a clause: ``inbound mail to Cluster A is delayed by …``;
    ``down`` says the worst path is down, ``status`` whether all of them are."""
    named = service(kind)
    text = named.noticed.get(noticed, named.slow)
    if down:
        text = named.partial if status == PARTIAL else named.down
    return text.format(component=component.name, by=_delay(values))


def _delay(values: Mapping[str, float]) -> str:
    """`` by about 12 minutes`` from a round trip's numbers; empty when there are none."""
    if (seconds := values.get("delivery_seconds")) is not None:
        return f" by about {spoken_seconds(seconds)}"
    if (seconds := values.get("waited_seconds")) is not None:
        return f" by more than {spoken_seconds(seconds)}"
    return ""


def spoken_seconds(seconds: float) -> str:
    """``12 seconds``, ``4 minutes``, ``2 hours``: rounded as a person would say it."""
    if seconds < 90:
        n, unit = max(1, round(seconds)), "second"
    elif seconds < 90 * 60:
        n, unit = round(seconds / 60), "minute"
    else:
        n, unit = round(seconds / 3600), "hour"
    return f"{n} {unit}{'' if n == 1 else 's'}"


def since(at: datetime, zone: ZoneInfo) -> str:
    """``4:04 PM EDT (20:04 UTC)``."""
    return f"{local_clock(at, zone)} ({at.astimezone(UTC):%H:%M} UTC)"


def template(page: Page, step: str) -> IncidentTemplate:
    """The page's template for an automatic ``step``, made from the built-in one at first."""
    status, title, body = BUILT_IN[step]
    found, _ = IncidentTemplate.objects.get_or_create(
        page=page,
        name=PREFIX + step,
        defaults={"title": title, "body": body, "update_status": status},
    )
    return found


def fill(text: str, fields: Mapping[str, Any]) -> str:
    """``text`` with its ``{field}``s filled; anything else stays as typed (an admin's
    typo in a template must not stop an incident from being posted)."""
    return FIELD.sub(lambda m: str(fields.get(m[1], m[0])), text)
