"""Each finished send made durable before its connection sends again (group commit).

A batch's connections (SMTP) and lanes (webhooks) run on an event loop in a thread of
their own; the thread that owns the database connection records. A connection hands
over each result and waits until it is committed; meanwhile the recorder commits
everything that finished since its last commit in one transaction, so the wait is about
one commit, shared by every connection, not one per message. A worker killed at any
instant has therefore sent at most one unrecorded message per connection or lane: those
in flight, which go out again (same delivery id) once their leases run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from heliograph.notify import outbox
from heliograph.notify.models import Delivery

log = logging.getLogger(__name__)

LINGER = 0.004  # seconds a commit may wait for more results to share it

_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


@dataclass(frozen=True)
class Done:
    """One attempt's result: ``error`` None when sent; ``outcome`` SENT, FAILED or OURS."""

    delivery: Delivery
    error: str | None
    outcome: str


class Recorder:
    """Results in, group commits out; ``run`` on the database's thread, ``record`` on the
    event loop's."""

    def __init__(self, owner: str, now: datetime | None = None) -> None:
        self.owner, self.now = owner, now
        # Set by whoever drives the connections while none is sending (all wait for us).
        self.idle = threading.Event()
        self.inbox: queue.SimpleQueue[tuple[Done, _Waiter] | None] = queue.SimpleQueue()
        self.broken: Exception | None = None  # recording failed: nothing more may start

    async def record(self, done: Done) -> None:
        """Hand over one result; returns once it is committed (at once if recording broke,
        since then nothing more is sent and the leases bring the rest back)."""
        if self.broken is not None:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self.inbox.put((done, (loop, future)))
        await future

    def close(self) -> None:
        """No more results: ``run`` returns once it has committed what it was handed."""
        self.inbox.put(None)

    def run(self) -> None:
        """Commit results as they come until ``close``; re-raises what broke recording."""
        last = False
        while not last:
            group, last = self._next_group()
            if group:
                self._commit(group)
        if self.broken is not None:
            raise self.broken

    def _next_group(self) -> tuple[list[tuple[Done, _Waiter]], bool]:
        """What arrives until every connection waits for us, or for at most LINGER after
        the first result (a commit per message would cost more CPU than the sending);
        True once ``close`` was seen."""
        first = self.inbox.get()
        if first is None:
            return [], True
        self.idle.wait(LINGER)  # one wake-up, not one per result: CPU is what is short
        group = [first]
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return group, False
            if item is None:
                return group, True
            group.append(item)

    def _commit(self, group: list[tuple[Done, _Waiter]]) -> None:
        if self.broken is None:
            try:
                self._write([done for done, _ in group])
            except Exception as exc:  # the senders must not wait for ever
                log.warning("notify: cannot record %d results (%s)", len(group), exc)
                self.broken = exc
        _wake([waiter for _, waiter in group])

    def _write(self, results: list[Done]) -> None:
        at = self.now or timezone.now()
        sent = [done.delivery for done in results if done.error is None]
        failed = [done for done in results if done.error is not None]
        # Successes alone (the usual group) are one statement on PostgreSQL: no BEGIN.
        with transaction.atomic() if failed else contextlib.nullcontext():
            if sent:
                outbox.record_success(deliveries=sent, now=at, owner=self.owner)
            for done in failed:
                outbox.record_failure(
                    delivery=done.delivery, error=done.error or "", now=at,
                    outcome=done.outcome, owner=self.owner,
                )  # fmt: skip


def _wake(waiters: list[_Waiter]) -> None:
    """Let the connections go on: one call into each event loop for the whole group."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = defaultdict(list)
    for loop, future in waiters:
        by_loop[loop].append(future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits
            loop.call_soon_threadsafe(_resolve, futures)


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a connection cut at the batch's deadline stopped waiting
            future.set_result(None)
