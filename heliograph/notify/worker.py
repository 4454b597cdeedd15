"""The notification worker: expand, claim, send (asyncio inside), record — in a loop.

A pass claims a batch, builds its messages and feeds them to the stream (``stream``): the
channels' connections on an event loop in a thread of their own, kept open from batch to
batch. While they send, the pass claims and builds the next batch, and the recorder
(``recorder``) commits each result before its connection sends the next message's
content. A crash therefore repeats (never loses) only the messages in flight: at most one
per SMTP connection and one per webhook lane, with the same delivery id; the rest was
recorded as it went, or was not sent yet and comes back when its lease runs out.

Only a receiver's own failure (its answer, its refusal, its timeout) counts towards a
webhook's quarantine: never a batch that ran out of its time, nor a lease that lapsed
because a worker died.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection

from heliograph.catalog.models import ComponentGroup
from heliograph.lib.loop import run_until_stopped
from heliograph.notify import outbox
from heliograph.notify.channels import email, webhook
from heliograph.notify.models import EMAIL, OURS, Delivery, Notification
from heliograph.notify.recorder import Done, Recorder
from heliograph.notify.stream import UNFINISHED, Stream

log = logging.getLogger(__name__)

__all__ = ["UNFINISHED", "run_once", "watch"]

BATCH = 500
# Subscribers a pass expands before each claim: more than a batch, so expansion keeps
# ahead; few enough that the first messages go out at once and that SQLite's write lock
# (the results' commits wait for it) is held only briefly.
EXPAND_RUN = 4 * BATCH


def lease_seconds() -> float:
    """Longer than a batch can take (webhooks: 30 s per wave of 100); a dead worker's batch
    is sent again once its lease runs out."""
    return float(settings.HELIOGRAPH_NOTIFY_LEASE_SECONDS)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_once(
    *,
    owner: str,
    now: datetime | None = None,
    limit: int = BATCH,
    lease: float | None = None,
    stop: threading.Event | None = None,
) -> int:
    """One batch, everything on this thread's database connection; returns how many
    deliveries it claimed (0: nothing was due). Once ``stop`` is set no message starts;
    those not started are handed back at once."""
    taken = _take(_Cache(), owner=owner, now=now, limit=limit, lease=lease)
    if taken is None:
        return 0
    recorder = Recorder(owner, now)
    stream = Stream(recorder, owner, stop, now)
    stream.start()
    _feed(stream, recorder, taken)
    stream.close()
    try:
        recorder.run()
    finally:
        stream.join()
        stream.settle_leftovers()
    if stream.error is not None:
        raise stream.error
    return taken.count


def _drain(owner: str, stop: threading.Event) -> int:
    """A pass of ``watch``: batch after batch until nothing is due, each claimed and built
    while the ones before it send; results recorded on a thread (and database connection)
    of their own. Returns how many deliveries it claimed."""
    cache = _Cache()
    taken = _take(cache, owner=owner)
    if taken is None:
        return 0
    recorder = Recorder(owner)
    stream = Stream(recorder, owner, stop)
    recording = _Recording(recorder)
    stream.start()
    recording.start()
    stream.room.acquire()  # the first batch's place (free)
    count = 0
    try:
        while taken is not None:
            _feed(stream, recorder, taken)  # it holds its place until all of it is taken
            count += taken.count
            taken = None
            if stream.wait_for_room():
                taken = _take(cache, owner=owner)
                if taken is None:
                    stream.room.release()
    finally:
        stream.close()
        stream.join()
        recording.join()
        stream.settle_leftovers()
    for error in (recording.error, stream.error):  # the cause first
        if error is not None:
            raise error
    return count


class _Recording(threading.Thread):
    """``Recorder.run`` on a database connection of its own, closed at the end."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(name="notify-record", daemon=True)
        self.recorder = recorder
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.recorder.run()
        except BaseException as exc:  # handed to the pass's thread, which raises it
            self.error = exc
        finally:
            connection.close()


@dataclass
class _Cache:
    """What one pass reuses from batch to batch: the notifications (payloads parsed once)
    and each one's message, rendered once."""

    notifications: dict[str, Notification] = field(default_factory=dict)
    composers: dict[str, email.Composer] = field(default_factory=dict)


@dataclass
class _Taken:
    """A claimed batch, built and ready to send."""

    count: int  # claimed, including those skipped since
    deliveries: dict[int, Delivery]  # still wanted
    batch: _Batch
    lease: float
    claimed_at: float  # time.monotonic()


def _take(
    cache: _Cache,
    *,
    owner: str,
    now: datetime | None = None,
    limit: int = BATCH,
    lease: float | None = None,
) -> _Taken | None:
    """Expand (a run at a time: sending starts after the first), claim a batch, skip who
    left, build the messages; None: nothing was due."""
    outbox.expand(now=now, batch=EXPAND_RUN, runs=1)
    lease = lease_seconds() if lease is None else lease
    claimed_at = time.monotonic()
    claimed = outbox.claim(
        owner=owner,
        limit=limit,
        lease_seconds=lease,
        now=now,
        notifications=cache.notifications,
    )
    if not claimed:
        return None
    wanted = {d.pk: d for d in claimed if outbox.still_wanted(d)}
    outbox.record_skipped(
        deliveries=[d for d in claimed if d.pk not in wanted], reason="subscriber no longer active"
    )
    batch = _prepare(list(wanted.values()), cache.composers)
    return _Taken(len(claimed), wanted, batch, lease, claimed_at)


def _feed(stream: Stream, recorder: Recorder, taken: _Taken) -> None:
    """A message we could not build is our failure, not held against the receiver."""
    for pk, error in taken.batch.known.items():
        recorder.note(Done(taken.deliveries[pk], error, OURS))
    stream.feed(
        taken.deliveries, taken.batch.emails, taken.batch.hooks, taken.claimed_at, taken.lease
    )


@dataclass
class _Batch:
    emails: dict[int, email.Outgoing] = field(default_factory=dict)
    hooks: dict[int, webhook.Request] = field(default_factory=dict)
    known: dict[int, str] = field(default_factory=dict)  # failed before sending


def _prepare(deliveries: list[Delivery], composers: dict[str, email.Composer]) -> _Batch:
    """The messages and requests to send (rendering each notification once)."""
    batch = _Batch()
    for delivery in outbox.paced(deliveries):  # the connections send meanwhile
        try:
            if outbox.channel_of(delivery) == EMAIL:
                batch.emails[delivery.pk] = _email(delivery, composers)
            else:
                batch.hooks[delivery.pk] = webhook.build_request(delivery)
        except Exception as exc:  # a bad payload fails its deliveries, not the batch
            log.exception("notify: cannot build delivery %s", delivery.pk)
            batch.known[delivery.pk] = f"cannot build the message: {exc}"
    return batch


def _email(delivery: Delivery, cache: dict[str, email.Composer]) -> email.Outgoing:
    if not delivery.subscriber.email:
        raise ValueError("the subscriber has no e-mail address")
    notification = delivery.notification
    if notification.pk not in cache:
        groups = _group_names({notification.page_id})
        cache[notification.pk] = email.Composer(notification, email.render(notification, groups))
    return cache[notification.pk].outgoing(delivery)


def _group_names(page_ids: set[str]) -> Mapping[str, str]:
    return dict(ComponentGroup.objects.filter(page_id__in=page_ids).values_list("pk", "name"))


def watch(stop: threading.Event, interval: float = 1.0, owner: str | None = None) -> None:
    """Deliver until ``stop`` is set; a crashed pass's leases lapse and its rows come back."""
    claimant = owner or default_owner()
    # What the process holds by now (Django, the apps, templates) lives as long as it
    # does: a full collection during a fan-out would walk all of it, the GIL held, every
    # connection stalled (80 ms each, a few times per 100,000 messages).
    gc.freeze()
    try:
        run_until_stopped(stop, interval, lambda: _drain(claimant, stop), name="notify")
    finally:
        with contextlib.suppress(DatabaseError):
            connection.close()
