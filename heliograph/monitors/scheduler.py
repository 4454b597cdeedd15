"""Running monitors on time: lease due rows, probe concurrently, apply each result.

One asyncio loop per worker. Every tick it leases the monitors that are due (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, so several workers share the list; SQLite's
IMMEDIATE transactions make the lease atomic there too) and starts a task per monitor,
at most ``concurrency`` probing at once, each under a hard timeout. A long probe (a mail
round trip waits minutes) never holds up the others. Database work runs in a small thread
pool beside the loop. A worker that dies keeps its leases only until they run out
(timeout + a margin, shorter than any interval), then another worker takes the monitors.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from heliograph.monitors.models import Monitor
from heliograph.monitors.probes.base import FAIL, UNKNOWN, ProbeSpec, Result
from heliograph.monitors.probes.registry import probe_module
from heliograph.notify import netguard

log = logging.getLogger(__name__)

TICK = 0.2  # seconds between looks for due monitors
LEASE_MARGIN = 15.0  # seconds a lease outlives the probe's own timeout
CLAIM_LIMIT = 500
# apply(monitor, result, finished_at, lag_ms, duration_ms), called in a database thread.
Apply = Callable[[Monitor, Result, datetime, float, float], None]


def first_run_at(interval: float, now: datetime) -> datetime:
    """Spread new monitors over their interval so they do not all fire together."""
    return now + timedelta(seconds=random.uniform(0, interval))


def next_run_at(due: datetime, interval: float, now: datetime) -> datetime:
    """Keep each monitor's phase; after falling behind, start again from now (jittered)."""
    following = due + timedelta(seconds=interval)
    if following > now:
        return following
    return now + timedelta(seconds=random.uniform(0, min(interval, 5.0)))


def claim_due(*, owner: str, now: datetime, limit: int = CLAIM_LIMIT) -> list[Monitor]:
    due = (
        Monitor.objects.filter(paused=False, next_run_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .order_by("next_run_at")
    )
    if not due.exists():  # an idle tick takes no write lock (SQLite)
        return []
    if connection.vendor == "postgresql":
        due = due.select_for_update(skip_locked=True, of=("self",))
    with transaction.atomic():
        claimed = list(due[:limit])
        for monitor in claimed:
            monitor.leased_until = now + timedelta(seconds=monitor.timeout_seconds + LEASE_MARGIN)
            monitor.lease_owner = owner
        Monitor.objects.bulk_update(claimed, ["leased_until", "lease_owner"])
    return claimed


def release(*, monitor: Monitor, due: datetime, now: datetime) -> None:
    """Schedule the next run and give the lease back (unless another worker took it)."""
    Monitor.objects.filter(pk=monitor.pk, lease_owner=monitor.lease_owner).update(
        next_run_at=next_run_at(due, monitor.interval_seconds, now),
        leased_until=None,
        lease_owner="",
    )


async def run_probe(monitor: Monitor, allowed: list[netguard.rules.Network]) -> Result:
    """The probe's verdict; its own errors become ``unknown``, never an exception."""
    spec = ProbeSpec(
        config=monitor.config, secrets=monitor.secrets, timeout=monitor.timeout_seconds,
        allowed=allowed,
    )  # fmt: skip
    try:
        async with asyncio.timeout(monitor.timeout_seconds + 1.0):
            return await probe_module(monitor.kind).probe(spec)
    except TimeoutError:
        return Result(FAIL, f"no answer within {monitor.timeout_seconds:g} s")
    except Exception as exc:  # a bug in a probe must not stop the scheduler
        log.exception("monitor %s: probe failed", monitor.pk)
        return Result(UNKNOWN, f"the probe itself failed ({type(exc).__name__})")


class Scheduler:
    """Runs due monitors until ``stop`` is set; ``apply`` records each result."""

    def __init__(
        self, *, owner: str, apply: Apply, concurrency: int = 200, db_threads: int = 4
    ) -> None:
        self.owner = owner
        self.apply = apply
        self.concurrency = concurrency
        self.db = ThreadPoolExecutor(db_threads, thread_name_prefix="monitor-db")
        self.running: set[asyncio.Task[None]] = set()

    async def in_db(self, work: Callable[[], object]) -> object:
        def call() -> object:
            close_old_connections()
            return work()

        return await asyncio.get_running_loop().run_in_executor(self.db, call)

    async def run(self, stop: threading.Event) -> None:
        allowed = netguard.allowed_networks()
        try:
            while not stop.is_set():
                try:
                    await self.tick(allowed)
                except Exception:  # the database may be away; the next tick tries again
                    log.exception("monitors: tick failed; retrying")
                await asyncio.sleep(TICK)
            await asyncio.gather(*self.running, return_exceptions=True)
        finally:
            self.db.shutdown(wait=True)

    async def once(self) -> int:
        """One tick, waiting for every probe it started; returns how many ran."""
        try:
            started = await self.tick(netguard.allowed_networks())
            await asyncio.gather(*self.running)
            return started
        finally:
            self.db.shutdown(wait=True)

    async def tick(self, allowed: list[netguard.rules.Network]) -> int:
        free = min(self.concurrency - len(self.running), CLAIM_LIMIT)  # what can start now
        if free <= 0:
            return 0
        now = timezone.now()
        claimed = await self.in_db(lambda: claim_due(owner=self.owner, now=now, limit=free))
        assert isinstance(claimed, list)
        for monitor in claimed:
            task = asyncio.create_task(self.one(monitor, allowed))
            self.running.add(task)
            task.add_done_callback(self.running.discard)
        return len(claimed)

    async def one(self, monitor: Monitor, allowed: list[netguard.rules.Network]) -> None:
        due = monitor.next_run_at
        lag_ms = max((timezone.now() - due).total_seconds() * 1000, 0.0)
        clock = time.perf_counter()
        result = await run_probe(monitor, allowed)
        took_ms = (time.perf_counter() - clock) * 1000

        def record() -> None:
            now = timezone.now()
            try:
                self.apply(monitor, result, now, lag_ms, took_ms)
            finally:
                release(monitor=monitor, due=due, now=now)

        await self.in_db(record)


def run_once(*, owner: str, apply: Apply) -> int:
    """Run the monitors due now, once (``heliograph worker --once``, tests)."""
    return asyncio.run(Scheduler(owner=owner, apply=apply).once())


def watch(stop: threading.Event, apply: Apply, owner: str, concurrency: int = 200) -> None:
    """Run the scheduler in this thread until ``stop``."""
    asyncio.run(Scheduler(owner=owner, apply=apply, concurrency=concurrency).run(stop))
