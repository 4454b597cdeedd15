"""The channels (e-mail, webhooks) and what they ask of whoever feeds them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Job(Generic[T]):
    """One message for a connection to send."""

    key: int
    message: T
    deadline: float  # loop time: a send still going then is cut off
    batch: Any = None  # the feeder's own bookkeeping


class Unrecorded(Exception):
    """Raised by awaiting a result's commit when recording failed: the next message's
    content must not go out (the connection stops; the leases bring the rest back)."""


class Pending(Protocol):
    """A result on its way to the database: awaited before the next message's content
    goes out. ``hurry``: it will be awaited soon, so commit it without waiting for more."""

    def __await__(self) -> Generator[Any, None, None]: ...

    def hurry(self) -> None: ...


class Source(Protocol[T]):
    """Feeds a channel's connections and takes their results (the worker's stream).

    A connection sends one message at a time and hands each result over before it takes
    the next; the awaitable it gets back is done once that result is durable. It awaits
    that before it sends the next message's content (an SMTP envelope or a webhook's
    address lookup may go first), so a crash can repeat at most one message per
    connection.
    """

    async def take(self) -> Job[T] | None:
        """The next message to send; None: no more (the connection closes)."""
        ...

    def finished(self, job: Job[T], result: str | None, *, cut: bool = False) -> Pending:
        """``result`` None: delivered; else why not. ``cut``: cut off at its deadline."""
        ...


Attempt = Callable[[Job[T], Pending | None], Awaitable[tuple[str | None, bool]]]


async def run_jobs(source: Source[T], attempt: Attempt[T]) -> None:
    """One connection's loop: each message is attempted once the result before it is on
    its way to the database (``attempt`` awaits that before any content goes out)."""
    committed: Pending | None = None  # the previous result, being recorded
    while (job := await source.take()) is not None:
        result, cut = await attempt(job, committed)
        committed = source.finished(job, result, cut=cut)
    if committed is not None:
        with contextlib.suppress(Unrecorded):  # nothing waits on it any more
            await committed


async def within_deadline(
    job: Job[T], sending: Awaitable[str | None], abort: Callable[[], None]
) -> tuple[str | None, bool]:
    """``sending``'s result, and whether it was cut off: at the job's deadline, or because
    the result before it could not be recorded (then the connection is dropped: it may be
    mid-conversation)."""
    scope = asyncio.timeout_at(job.deadline)
    try:
        async with scope:
            return await sending, False
    except Unrecorded:
        abort()
        return "not sent: the result before it could not be recorded", True
    except TimeoutError:
        if not scope.expired():
            raise
        abort()
        return "cut off at the batch's deadline", True
