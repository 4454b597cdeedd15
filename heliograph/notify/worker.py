"""The notification worker: expand, claim, send (asyncio inside), record — in a loop.

Database work happens outside the event loop; only the network I/O is async. A pass
takes one leased batch, so a crash loses at most that batch's in-flight messages to a
repeat (never to silence): their leases run out and another pass sends them. On
PostgreSQL the next batch is claimed while one is sent; it is not sent yet, so it cannot
repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError, connection
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
SENDING_SHARE = 0.5  # of the lease; the rest covers closing connections and recording
UNFINISHED = "not sent before the batch's time ran out (a slow relay or endpoint)"


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
    taken = _take(owner=owner, now=now, limit=limit, lease=lease)
    if taken is None:
        return 0
    _deliver(taken, now)
    return taken.count


@dataclass
class _Taken:
    """A claimed batch, built and ready to send."""

    count: int  # claimed, including those skipped since
    wanted: list[Delivery]
    batch: _Batch
    lease: float


def _take(
    *, owner: str, now: datetime | None = None, limit: int = BATCH, lease: float | None = None
) -> _Taken | None:
    """Expand, claim a batch, skip who left, build the messages; None: nothing was due."""
    outbox.expand(now=now)
    lease = lease_seconds() if lease is None else lease
    claimed = outbox.claim(owner=owner, limit=limit, lease_seconds=lease, now=now)
    if not claimed:
        return None
    wanted = [d for d in claimed if outbox.still_wanted(d)]
    keep = {d.pk for d in wanted}
    outbox.record_skipped(
        deliveries=[d for d in claimed if d.pk not in keep], reason="subscriber no longer active"
    )
    return _Taken(len(claimed), wanted, _prepare(wanted), lease)


def _deliver(taken: _Taken, now: datetime | None = None) -> None:
    """Send a built batch and record what happened to each delivery."""
    batch = taken.batch
    sent = asyncio.run(_send(batch.emails, batch.hooks, within=taken.lease * SENDING_SHARE))
    results = {**batch.known, **sent}
    _record(taken.wanted, results, now)


@dataclass
class _Batch:
    emails: dict[int, email.Outgoing] = field(default_factory=dict)
    hooks: dict[int, webhook.Request] = field(default_factory=dict)
    known: dict[int, str | None] = field(default_factory=dict)  # failed before sending


def _prepare(deliveries: list[Delivery]) -> _Batch:
    """The messages and requests to send (rendering each notification once)."""
    batch = _Batch()
    composers: dict[str, email.Composer] = {}
    groups = _group_names({d.notification.page_id for d in deliveries})
    for delivery in deliveries:
        try:
            if outbox.channel_of(delivery) == EMAIL:
                batch.emails[delivery.pk] = _email(delivery, composers, groups)
            else:
                batch.hooks[delivery.pk] = webhook.build_request(delivery)
        except Exception as exc:  # a bad payload fails its deliveries, not the batch
            log.exception("notify: cannot build delivery %s", delivery.pk)
            batch.known[delivery.pk] = f"cannot build the message: {exc}"
    return batch


def _email(
    delivery: Delivery, cache: dict[str, email.Composer], groups: Mapping[str, str]
) -> email.Outgoing:
    if not delivery.subscriber.email:
        raise ValueError("the subscriber has no e-mail address")
    notification = delivery.notification
    if notification.pk not in cache:
        cache[notification.pk] = email.Composer(notification, email.render(notification, groups))
    return cache[notification.pk].outgoing(delivery)


def _group_names(page_ids: set[str]) -> dict[str, str]:
    return dict(ComponentGroup.objects.filter(page_id__in=page_ids).values_list("pk", "name"))


async def _send(
    emails: Mapping[int, email.Outgoing], hooks: Mapping[int, webhook.Request], within: float
) -> dict[int, str | None]:
    """Both channels at once, each bounding its own concurrency. Sending stops after
    ``within`` seconds so that the batch is recorded before its lease runs out: otherwise
    another worker could claim it while this one still sends (a hanging relay)."""
    results: dict[int, str | None] = {}
    channels = [
        *([email.send_batch(emails, results=results)] if emails else []),
        *([webhook.post_batch(hooks, results=results)] if hooks else []),
    ]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*channels), within)
    return results


def _record(
    deliveries: list[Delivery], results: Mapping[int, str | None], now: datetime | None
) -> None:
    at = now or timezone.now()
    sent = [d for d in deliveries if d.pk in results and results[d.pk] is None]
    outbox.record_success(deliveries=sent, now=at)
    for delivery in deliveries:
        error = results.get(delivery.pk, UNFINISHED)
        if error is not None:
            outbox.record_failure(delivery=delivery, error=error, now=at)


def watch(stop: threading.Event, interval: float = 1.0, owner: str | None = None) -> None:
    """Deliver until ``stop`` is set; a crashed pass's leases lapse and its rows come back.

    On PostgreSQL, two threads: one sends a batch (and records it) while this one claims
    and builds the next, so the relay does not wait while the database server works. On
    SQLite that work is this process's own CPU, and overlapping it only slows the sending
    (measured with bench/fanout): one pass after another.
    """
    claimant = owner or default_owner()
    if connection.vendor != "postgresql":
        run_until_stopped(stop, interval, lambda: run_once(owner=claimant), name="notify")
        return
    pipeline = _Pipeline(stop, claimant)
    sender = threading.Thread(
        target=run_until_stopped, args=(stop, interval, pipeline.deliver),
        kwargs={"name": "notify"}, name="notify-send", daemon=True,
    )  # fmt: skip
    sender.start()
    try:
        run_until_stopped(stop, interval, pipeline.take, name="notify")
    finally:
        sender.join()
        with contextlib.suppress(DatabaseError):  # if it fails, the leases run out instead
            pipeline.hand_back()
            connection.close()


class _Pipeline:
    """At most one batch is sent at a time, so a crash still repeats at most one batch;
    the one claimed beside it is not sent yet and comes back when its lease runs out (at
    once on a clean stop)."""

    def __init__(self, stop: threading.Event, owner: str) -> None:
        self.stop, self.owner = stop, owner
        self.ready: queue.Queue[_Taken] = queue.Queue()
        self.room = threading.Semaphore(1)  # for one claimed batch that waits to be sent

    def take(self) -> int:
        """A pass of the claiming thread: claim and build the next batch, then wait."""
        while not self.room.acquire(timeout=0.2):
            if self.stop.is_set():
                return 0
        try:
            taken = _take(owner=self.owner)
        except BaseException:
            self.room.release()
            raise
        if taken is None:
            self.room.release()
            return 0
        self.ready.put(taken)
        return taken.count

    def deliver(self) -> bool:
        """A pass of the sending thread; True, so that it waits on the queue, not idly."""
        try:
            taken = self.ready.get(timeout=0.2)
        except queue.Empty:
            return True
        self.room.release()
        if self.stop.is_set():
            outbox.release(deliveries=taken.wanted, owner=self.owner)
        else:
            _deliver(taken)
        return True

    def hand_back(self) -> None:
        """After a stop: unlease what was claimed and not sent, for the next worker."""
        while not self.ready.empty():
            outbox.release(deliveries=self.ready.get_nowait().wanted, owner=self.owner)
