"""The notification worker: expand, claim, send (asyncio inside), record — in a loop.

Database work happens outside the event loop; only the network I/O is async. A pass
takes one leased batch, so a crash loses at most that batch's in-flight messages to a
repeat (never to silence): their leases run out and another pass sends them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from django.utils import timezone

from heliograph.catalog.models import ComponentGroup
from heliograph.lib.loop import run_until_stopped
from heliograph.notify import outbox
from heliograph.notify.channels import email, webhook
from heliograph.notify.models import EMAIL, Delivery

log = logging.getLogger(__name__)

BATCH = 500
# Longer than a batch can take (webhooks: 30 s per wave of 100); a dead worker's batch is
# sent again once its lease runs out. HELIOGRAPH_NOTIFY_LEASE_SECONDS overrides it.
LEASE_SECONDS = 300.0


def lease_seconds() -> float:
    raw = os.environ.get("HELIOGRAPH_NOTIFY_LEASE_SECONDS", "")
    try:
        return max(float(raw), 1.0) if raw else LEASE_SECONDS
    except ValueError:
        return LEASE_SECONDS


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_once(
    *, owner: str, now: datetime | None = None, limit: int = BATCH,
    lease: float | None = None,
) -> int:  # fmt: skip
    """One pass; returns how many deliveries it claimed (0: nothing was due)."""
    outbox.expand(now=now)
    lease = lease_seconds() if lease is None else lease
    claimed = outbox.claim(owner=owner, limit=limit, lease_seconds=lease, now=now)
    if not claimed:
        return 0
    wanted = [d for d in claimed if outbox.still_wanted(d)]
    keep = {d.pk for d in wanted}
    outbox.record_skipped(
        deliveries=[d for d in claimed if d.pk not in keep], reason="subscriber no longer active"
    )
    batch = _prepare(wanted)
    results = {**batch.known, **asyncio.run(_send(batch.emails, batch.hooks))}
    _record(wanted, results, now)
    return len(claimed)


@dataclass
class _Batch:
    emails: dict[int, EmailMessage] = field(default_factory=dict)
    hooks: dict[int, webhook.Request] = field(default_factory=dict)
    known: dict[int, str | None] = field(default_factory=dict)  # failed before sending


def _prepare(deliveries: list[Delivery]) -> _Batch:
    """The messages and requests to send (rendering each notification once)."""
    batch = _Batch()
    rendered: dict[str, email.Rendered] = {}
    groups = _group_names({d.notification.page_id for d in deliveries})
    for delivery in deliveries:
        try:
            if outbox.channel_of(delivery) == EMAIL:
                batch.emails[delivery.pk] = _email(delivery, rendered, groups)
            else:
                batch.hooks[delivery.pk] = webhook.build_request(delivery)
        except Exception as exc:  # a bad payload fails its deliveries, not the batch
            log.exception("notify: cannot build delivery %s", delivery.pk)
            batch.known[delivery.pk] = f"cannot build the message: {exc}"
    return batch


def _email(
    delivery: Delivery, cache: dict[str, email.Rendered], groups: Mapping[str, str]
) -> EmailMessage:
    if not delivery.subscriber.email:
        raise ValueError("the subscriber has no e-mail address")
    notification = delivery.notification
    if notification.pk not in cache:
        cache[notification.pk] = email.render(notification, groups)
    return email.build_message(delivery, cache[notification.pk])


def _group_names(page_ids: set[str]) -> dict[str, str]:
    return dict(ComponentGroup.objects.filter(page_id__in=page_ids).values_list("pk", "name"))


async def _send(
    emails: Mapping[int, EmailMessage], hooks: Mapping[int, webhook.Request]
) -> dict[int, str | None]:
    """Both channels at once; each bounds its own concurrency."""
    mail, posted = await asyncio.gather(
        email.send_batch(emails) if emails else _nothing(),
        webhook.post_batch(hooks) if hooks else _nothing(),
    )
    return {**mail, **posted}


async def _nothing() -> dict[int, str | None]:
    return {}


def _record(
    deliveries: list[Delivery], results: Mapping[int, str | None], now: datetime | None
) -> None:
    at = now or timezone.now()
    sent = [d for d in deliveries if d.pk in results and results[d.pk] is None]
    outbox.record_success(deliveries=sent, now=at)
    for delivery in deliveries:
        error = results.get(delivery.pk, "no result from the channel")
        if error is not None:
            outbox.record_failure(delivery=delivery, error=error, now=at)


def watch(stop: threading.Event, interval: float = 1.0, owner: str | None = None) -> None:
    """Deliver until ``stop`` is set; a crashed pass's leases lapse and its rows come back."""
    claimant = owner or default_owner()
    run_until_stopped(stop, interval, lambda: run_once(owner=claimant), name="notify")
