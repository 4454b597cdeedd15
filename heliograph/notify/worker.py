"""The notification worker: expand, claim, send (asyncio inside), record — in a loop.

Database work happens outside the event loop; only the network I/O is async, in a thread
of its own while the pass's thread records (``recorder``): each result is committed
before the connection that sent it starts its next message. A crash therefore repeats
(never loses) only the messages in flight: at most one per SMTP connection and one per
webhook lane, with the same delivery id; the rest of the batch was recorded as it went
or was not sent yet, and comes back when its lease runs out. On PostgreSQL the next
batch is claimed while one is sent; it is not sent yet, so it cannot repeat.

Only a receiver's own failure (its answer, its refusal, its timeout) counts towards a
webhook's quarantine: never a batch that ran out of its time, nor a lease that lapsed
because a worker died.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection

from heliograph.catalog.models import ComponentGroup
from heliograph.lib.loop import run_until_stopped
from heliograph.notify import outbox
from heliograph.notify.channels import email, webhook
from heliograph.notify.models import EMAIL, FAILED, OURS, SENT, Delivery
from heliograph.notify.recorder import Done, Recorder

log = logging.getLogger(__name__)

BATCH = 500
# Longer than a batch can take (webhooks: 30 s per wave of 100); a dead worker's batch is
# sent again once its lease runs out. HELIOGRAPH_NOTIFY_LEASE_SECONDS overrides it.
LEASE_SECONDS = 300.0
# Of the lease, counted from when a batch starts sending: no message starts after the
# first share; one still going at the second is cut off, so that the batch is recorded
# before its lease runs out and no other worker claims what this one still sends.
SENDING_SHARE, CUT_SHARE = 0.5, 0.8
UNFINISHED = "cut off when the batch's time ran out (a slow relay or endpoint); retried"


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
    lease: float | None = None, stop: threading.Event | None = None,
) -> int:  # fmt: skip
    """One pass; returns how many deliveries it claimed (0: nothing was due). Once
    ``stop`` is set no message starts; those not started are handed back at once."""
    taken = _take(owner=owner, now=now, limit=limit, lease=lease)
    if taken is None:
        return 0
    _deliver(taken, now, stop)
    return taken.count


@dataclass
class _Taken:
    """A claimed batch, built and ready to send."""

    count: int  # claimed, including those skipped since
    wanted: list[Delivery]
    batch: _Batch
    lease: float
    owner: str


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
    return _Taken(len(claimed), wanted, _prepare(wanted), lease, owner)


def _deliver(
    taken: _Taken, now: datetime | None = None, stop: threading.Event | None = None
) -> None:
    """Send a built batch, each result recorded before its connection sends again; then
    record the cut-off sends and hand back those never started."""
    # A batch claimed ahead (PostgreSQL) waited: its leases start again now, and any that
    # lapsed meanwhile are left to whoever holds them.
    held = outbox.renew(
        deliveries=taken.wanted, owner=taken.owner, lease_seconds=taken.lease, now=now
    )
    deliveries = {d.pk: d for d in taken.wanted if d.pk in held}
    for pk, error in taken.batch.known.items():
        if pk in deliveries:  # our failure to build it: not held against the receiver
            outbox.record_failure(
                delivery=deliveries[pk], error=error, now=now, outcome=OURS, owner=taken.owner
            )
    recorder = Recorder(taken.owner, now)
    pacer = _Pacer(recorder, deliveries, taken.lease * SENDING_SHARE, stop)
    emails = {k: m for k, m in taken.batch.emails.items() if k in deliveries}
    hooks = {k: r for k, r in taken.batch.hooks.items() if k in deliveries}
    sending = _Sending(lambda: _send(emails, hooks, pacer, taken.lease * CUT_SHARE), recorder)
    sending.start()
    try:
        recorder.run()
    finally:
        sending.join()
    if sending.error is not None:
        raise sending.error
    _settle(pacer, deliveries, [*emails, *hooks], taken.owner, now)


def _settle(
    pacer: _Pacer, deliveries: Mapping[int, Delivery], sendable: Iterable[int], owner: str,
    now: datetime | None,
) -> None:  # fmt: skip
    """A send cut off at the deadline may have arrived: an attempt (ours, so never held
    against the receiver), retried after the usual backoff. One never started is handed
    back untouched, claimable again at once."""
    for pk in pacer.started - pacer.reported:
        outbox.record_failure(
            delivery=deliveries[pk], error=UNFINISHED, now=now, outcome=OURS, owner=owner
        )
    idle = [pk for pk in sendable if pk not in pacer.started]
    outbox.release(deliveries=idle, owner=owner)


class _Pacer:
    """Lets a connection start a message until the batch's sending time is up (or the
    worker stops, or recording broke), and records each result before it goes on."""

    def __init__(
        self, recorder: Recorder, deliveries: Mapping[int, Delivery], within: float,
        stop: threading.Event | None,
    ) -> None:  # fmt: skip
        self.recorder, self.deliveries, self.stop = recorder, deliveries, stop
        self.until = time.monotonic() + within
        self.started: set[int] = set()
        self.reported: set[int] = set()
        self.busy = 0  # connections sending a message (the others wait for a commit)
        recorder.idle.set()

    def may_start(self, key: int) -> bool:
        if time.monotonic() >= self.until or self.recorder.broken is not None:
            return False
        if self.stop is not None and self.stop.is_set():
            return False
        self.started.add(key)
        self.busy += 1
        if self.busy == 1:
            self.recorder.idle.clear()
        return True

    async def finished(self, key: int, result: str | None) -> None:
        self.reported.add(key)
        self.busy -= 1
        if self.busy == 0:  # every connection waits for the recorder: commit now
            self.recorder.idle.set()
        outcome = SENT if result is None else FAILED
        await self.recorder.record(Done(self.deliveries[key], result, outcome))


class _Sending(threading.Thread):
    """The batch's event loop, beside the thread that records (it owns the database
    connection); tells the recorder when it is done, however it ends."""

    def __init__(self, main: Callable[[], Coroutine[Any, Any, None]], recorder: Recorder) -> None:
        super().__init__(name="notify-io", daemon=True)
        self.main, self.recorder = main, recorder
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.main())
        except BaseException as exc:  # handed to the pass's thread, which raises it
            self.error = exc
        finally:
            self.recorder.close()


@dataclass
class _Batch:
    emails: dict[int, email.Outgoing] = field(default_factory=dict)
    hooks: dict[int, webhook.Request] = field(default_factory=dict)
    known: dict[int, str] = field(default_factory=dict)  # failed before sending


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
    emails: Mapping[int, email.Outgoing], hooks: Mapping[int, webhook.Request],
    pacer: _Pacer, cut: float,
) -> None:  # fmt: skip
    """Both channels at once, each bounding its own concurrency. What still sends after
    ``cut`` seconds is cut off (a hanging relay), so that the batch is recorded before its
    lease runs out: otherwise another worker could claim it while this one still sends."""
    channels = [
        *([email.send_batch(emails, pacer=pacer)] if emails else []),
        *([webhook.post_batch(hooks, pacer=pacer)] if hooks else []),
    ]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*channels), cut)


def watch(stop: threading.Event, interval: float = 1.0, owner: str | None = None) -> None:
    """Deliver until ``stop`` is set; a crashed pass's leases lapse and its rows come back.

    On PostgreSQL, two threads: one sends a batch (and records it) while this one claims
    and builds the next, so the relay does not wait while the database server works. On
    SQLite that work is this process's own CPU, and overlapping it only slows the sending
    (measured with bench/fanout): one pass after another.
    """
    claimant = owner or default_owner()
    if connection.vendor != "postgresql":
        pass_ = functools.partial(run_once, owner=claimant, stop=stop)
        run_until_stopped(stop, interval, pass_, name="notify")
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
            _deliver(taken, stop=self.stop)
        return True

    def hand_back(self) -> None:
        """After a stop: unlease what was claimed and not sent, for the next worker."""
        while not self.ready.empty():
            outbox.release(deliveries=self.ready.get_nowait().wanted, owner=self.owner)
