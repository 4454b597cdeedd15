"""A pass's sending side: the channels' connections on an event loop of their own, fed
claimed batch after claimed batch and kept open from one to the next, so the relay never
waits for a batch to be claimed, built, or for the slowest connection of the one before.

Each batch keeps to its lease, counted from its claim: no message starts after the first
share of it, and one still going at the second share is cut off, so that it is recorded
before the lease runs out and no other worker claims what this one still sends. A message
cut off may have arrived: an attempt on our side (never held against the receiver),
retried after the usual backoff. One never started goes back untouched, claimable again
at once, as soon as its batch is done.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from heliograph.notify import outbox
from heliograph.notify.channels import Job, Pending, email, webhook
from heliograph.notify.models import FAILED, OURS, SENT, Delivery
from heliograph.notify.recorder import Done, Recorder

T = TypeVar("T")

# Of the lease, counted from the claim: no message starts after the first share; one
# still going at the second is cut off (recorded before the lease runs out).
SENDING_SHARE, CUT_SHARE = 0.5, 0.8
UNFINISHED = "cut off when the batch's time ran out (a slow relay or endpoint); retried"
AHEAD = 2  # batches fed and not all taken yet: one sending, the next one waiting


@dataclass(eq=False)
class Batch:
    """One claimed batch as the stream sees it (touched on the event loop only, until
    the loop has stopped)."""

    deliveries: Mapping[int, Delivery]
    start_by: float  # loop time
    cut_at: float
    untaken: int  # messages no connection has taken yet
    open: int  # messages neither finished nor left unstarted
    started: set[int] = field(default_factory=set)
    reported: set[int] = field(default_factory=set)
    unstarted: list[int] = field(default_factory=list)
    settled: bool = False


class Stream:
    """``feed`` batches (from one thread), ``close``, ``join``; each result goes to the
    recorder, which also hands back what a batch did not start."""

    def __init__(
        self,
        recorder: Recorder,
        owner: str,
        stop: threading.Event | None = None,
        now: datetime | None = None,
    ) -> None:
        self.recorder, self.owner, self.stop, self.now = recorder, owner, stop, now
        self.loop = asyncio.new_event_loop()
        self.room = threading.Semaphore(AHEAD)
        self.batches: list[Batch] = []
        self.feeds: dict[str, _Feed[Any]] = {}
        self.closed = asyncio.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="notify-io", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wait_for_room(self) -> bool:
        """Block until fewer than AHEAD batches wait to be taken; False once stopping, or
        once nothing more can start (claiming more would only lease rows for nothing)."""
        while not self.room.acquire(timeout=0.2):
            if self._ending():
                return False
        return not self._ending()

    def _ending(self) -> bool:
        if self.error is not None or self.recorder.broken is not None:
            return True
        return self.stop is not None and self.stop.is_set()

    def feed(
        self,
        deliveries: Mapping[int, Delivery],
        emails: Mapping[int, email.Outgoing],
        hooks: Mapping[int, webhook.Request],
        claimed_at: float,
        lease: float,
    ) -> None:
        """Queue a batch's messages (``claimed_at`` in time.monotonic(), the loop's time);
        it holds one unit of ``room`` until every message of it was taken."""
        count = len(emails) + len(hooks)
        batch = Batch(
            deliveries,
            claimed_at + lease * SENDING_SHARE,
            claimed_at + lease * CUT_SHARE,
            count,
            count,
        )
        # Those settled are done with (a fan-out's deliveries are not all kept till its end).
        self.batches = [b for b in self.batches if not b.settled]
        self.batches.append(batch)
        self.loop.call_soon_threadsafe(self._enqueue, batch, emails, hooks)

    def close(self) -> None:
        """Nothing more comes: the connections finish what was fed, then close."""
        self.loop.call_soon_threadsafe(self.closed.set)

    def join(self) -> None:
        self.thread.join()

    def settle_leftovers(self) -> None:
        """After the loop stopped, on a thread with a database connection: a batch the
        loop could not finish (it failed) is settled here."""
        for batch in self.batches:
            if not batch.settled:
                for pk in batch.started - batch.reported:
                    outbox.record_failure(
                        delivery=batch.deliveries[pk],
                        error=UNFINISHED,
                        now=self.now,
                        outcome=OURS,
                        owner=self.owner,
                    )
                idle = [pk for pk in batch.deliveries if pk not in batch.started]
                outbox.release(deliveries=idle, owner=self.owner)
                batch.settled = True

    # --- on the event loop --------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # handed to the pass's thread, which raises it
            self.error = exc
        finally:
            self.loop.close()
            self.recorder.close()

    async def _main(self) -> None:
        await self.closed.wait()
        for feed in self.feeds.values():
            feed.end()
        if self.feeds:
            await asyncio.wait([feed.task for feed in self.feeds.values()])
        if self.error is not None:
            raise self.error

    def _enqueue(
        self,
        batch: Batch,
        emails: Mapping[int, email.Outgoing],
        hooks: Mapping[int, webhook.Request],
    ) -> None:
        if emails:
            self._feed("email", email.send_from).put(batch, emails)
        if hooks:
            self._feed("webhook", webhook.post_from).put(batch, hooks)
        if batch.untaken == 0:
            self.room.release()
            self._settle(batch)

    def _feed(
        self, channel: str, start: Callable[[_Feed[T]], Coroutine[Any, Any, None]]
    ) -> _Feed[T]:
        if channel not in self.feeds:  # connections open when their channel has work
            feed: _Feed[T] = _Feed(self)
            feed.task = self.loop.create_task(start(feed))
            feed.task.add_done_callback(self._ended)
            self.feeds[channel] = feed
        return self.feeds[channel]

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A channel's connections failed (a bug): nothing more starts, on any channel;
        what waits is left unstarted, so the pass ends and hands it back."""
        if task.cancelled() or task.exception() is None:
            return
        self.error = self.error or task.exception()
        for feed in self.feeds.values():
            feed.drop()

    def may_start(self, batch: Batch) -> bool:
        if self.loop.time() >= batch.start_by or self.recorder.broken is not None:
            return False
        if self.error is not None:
            return False
        return self.stop is None or not self.stop.is_set()

    def taken(self, batch: Batch) -> None:
        batch.untaken -= 1
        if batch.untaken == 0:
            self.room.release()

    def closed_one(self, batch: Batch) -> None:
        batch.open -= 1
        if batch.open == 0:
            self._settle(batch)

    def _settle(self, batch: Batch) -> None:
        batch.settled = True
        if batch.unstarted:
            release = functools.partial(
                outbox.release, deliveries=batch.unstarted, owner=self.owner
            )
            self.recorder.then(release)


class _Feed(Generic[T]):
    """One channel's queue: a ``channels.Source`` for its connections."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.queue: asyncio.Queue[tuple[int, T, Batch] | None] = asyncio.Queue()
        self.task: asyncio.Task[None]

    def put(self, batch: Batch, messages: Mapping[int, T]) -> None:
        for key, message in messages.items():
            self.queue.put_nowait((key, message, batch))

    def end(self) -> None:
        """Once the queue is empty, every connection's next ``take`` gets None."""
        self.queue.put_nowait(None)

    def drop(self) -> None:
        """Leave everything that waits unstarted."""
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item is None:
                self.queue.put_nowait(None)
                return
            key, _, batch = item
            self.stream.taken(batch)
            batch.unstarted.append(key)
            self.stream.closed_one(batch)

    async def take(self) -> Job[T] | None:
        while (item := await self.queue.get()) is not None:
            key, message, batch = item
            self.stream.taken(batch)
            if self.stream.may_start(batch):
                batch.started.add(key)
                return Job(key, message, batch.cut_at, batch)
            batch.unstarted.append(key)
            self.stream.closed_one(batch)
        self.queue.put_nowait(None)  # for the next connection that asks
        return None

    def finished(self, job: Job[T], result: str | None, *, cut: bool = False) -> Pending:
        batch: Batch = job.batch
        if cut:
            done = Done(batch.deliveries[job.key], UNFINISHED, OURS)
        else:
            done = Done(batch.deliveries[job.key], result, SENT if result is None else FAILED)
        committed = self.stream.recorder.submit(done)
        batch.reported.add(job.key)
        self.stream.closed_one(batch)
        return committed
