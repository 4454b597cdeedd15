"""Each finished send made durable before its connection sends the next message's content
(group commit, overlapped with the next message's envelope).

A pass's connections (SMTP) and lanes (webhooks) run on an event loop in a thread of their
own; the recorder commits their results on the thread that owns a database connection. A
connection hands over each result and goes on with its next message up to the point where
the content would go out (SMTP: MAIL, RCPT and DATA's 354; a webhook request is all
content), and waits there until that result is committed. Meanwhile the recorder commits
everything handed over since its last commit in one transaction, so the wait is about one
commit, shared by every connection, and mostly hidden behind the envelope's round trips. A
worker killed at any instant has therefore delivered at most one unrecorded message per
connection or lane: those in flight, which go out again (same delivery id) once their
leases run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from heliograph.notify import outbox
from heliograph.notify.channels import Pending, Unrecorded
from heliograph.notify.models import Delivery

log = logging.getLogger(__name__)

# Seconds a commit may wait for more results, unless a connection needs one soon: an SMTP
# connection says so once its next MAIL is answered, so the commit overlaps RCPT and DATA
# (it started only once a connection was already waiting: every connection then waited for
# a whole commit, in step, and the relay idled meanwhile).
LINGER = 0.004

_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]
_Item = tuple["Done", _Waiter | None] | Callable[[], object]


@dataclass(frozen=True)
class Done:
    """One attempt's result: ``error`` None when sent; ``outcome`` SENT, FAILED or OURS."""

    delivery: Delivery
    error: str | None
    outcome: str


class Recorder:
    """Results in, group commits out; ``run`` on a thread with a database connection,
    ``submit`` on the event loop's."""

    def __init__(self, owner: str, now: datetime | None = None) -> None:
        self.owner, self.now = owner, now
        # Set by a connection that waits for a commit: make it now, do not linger.
        self.wanted = threading.Event()
        self.inbox: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self.broken: Exception | None = None  # recording failed: nothing more may start

    def submit(self, done: Done) -> Pending:
        """Hand over one result; the answer is done once it is committed (at once if
        recording broke, since then nothing more is sent and the leases bring the rest
        back). On the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if self.broken is not None:
            future.set_result(None)
        else:
            self.inbox.put((done, (loop, future)))
        return _Commit(future, self)

    def note(self, done: Done) -> None:
        """Hand over a result nobody waits for (from any thread)."""
        self.inbox.put((done, None))

    def then(self, job: Callable[[], object]) -> None:
        """Run ``job`` on the recording thread once what was handed over before it is
        committed (from any thread)."""
        self.inbox.put(job)

    def close(self) -> None:
        """No more results: ``run`` returns once it has committed what it was handed."""
        self.inbox.put(None)

    def run(self) -> None:
        """Commit results as they come until ``close``; re-raises what broke recording."""
        last = False
        while not last:
            group, last = self._next_group()
            results = [item for item in group if isinstance(item, tuple)]
            if results:
                self._commit(results)
            for job in group:
                if not isinstance(job, tuple):
                    self._run_job(job)
        if self.broken is not None:
            raise self.broken

    def _next_group(self) -> tuple[list[_Item], bool]:
        """What arrives until a connection needs a result soon, or for at most LINGER after the
        first result (a commit per message would cost more CPU than the sending); True
        once ``close`` was seen."""
        first = self.inbox.get()
        if first is None:
            return [], True
        if not self.wanted.is_set():
            self.wanted.wait(LINGER)  # one wake-up, not one per result: CPU is what is short
        self.wanted.clear()
        group = [first]
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return group, False
            if item is None:
                return group, True
            group.append(item)

    def _commit(self, group: list[tuple[Done, _Waiter | None]]) -> None:
        if self.broken is None:
            try:
                self._write([done for done, _ in group])
            except Exception as exc:  # the senders must not wait for ever
                log.warning("notify: cannot record %d results (%s)", len(group), exc)
                self.broken = exc
        _wake([waiter for _, waiter in group if waiter is not None])

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
                    delivery=done.delivery,
                    error=done.error or "",
                    now=at,
                    outcome=done.outcome,
                    owner=self.owner,
                )

    def _run_job(self, job: Callable[[], object]) -> None:
        if self.broken is not None:
            return  # the database is gone for now: leases bring the rows back
        try:
            job()
        except Exception as exc:
            log.warning("notify: cannot hand deliveries back (%s); their leases will", exc)


class _Commit:
    """A ``Pending`` result: done once committed (``Unrecorded`` if it could not be).
    Whoever awaits it before that, or says it soon will, asks the recorder to commit
    now."""

    __slots__ = ("future", "recorder")

    def __init__(self, future: asyncio.Future[None], recorder: Recorder) -> None:
        self.future, self.recorder = future, recorder

    def hurry(self) -> None:
        if not self.future.done():
            self.recorder.wanted.set()

    def __await__(self) -> Generator[Any, None, None]:
        if not self.future.done():
            self.recorder.wanted.set()
            yield from self.future.__await__()
        if self.recorder.broken is not None:
            raise Unrecorded(str(self.recorder.broken))


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
        if not future.done():  # a connection cut at its deadline stopped waiting
            future.set_result(None)
