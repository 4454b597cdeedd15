"""Running monitors on time: lease due rows, probe concurrently, apply each result.

One asyncio loop per worker. Every tick it leases the monitors that are due, or due
within ``AHEAD`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers share the
list; SQLite's IMMEDIATE transactions make the lease atomic there too) and starts a task
per monitor that waits for the monitor's moment, at most ``concurrency`` at once, each
probe under a hard timeout. A long probe (a mail
round trip waits minutes) never holds up the others. Database work runs in a small thread
pool beside the loop: finished runs are recorded in batches, one transaction per batch and
a savepoint per run (a run the database refuses is recorded again alone), so thousands of
checks a minute cost a few transactions a second. HTTP probes share one client per TLS
setting while the loop runs (each check still opens a connection of its own).

A worker that dies keeps its leases only until they run out: a lease lasts ``AHEAD`` +
the timeout + ``LEASE_MARGIN`` from the claim (``lease_seconds``), and the services refuse
a timeout that leaves less than ``LEASE_ROOM`` of the interval, so every lease is at most
one interval long and another worker takes a dead worker's monitors within one interval.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from heliograph.lib import netguard, networks
from heliograph.monitors.models import Monitor
from heliograph.monitors.probes import common
from heliograph.monitors.probes.base import FAIL, UNKNOWN, ProbeSpec, Result
from heliograph.monitors.probes.registry import probe_module

log = logging.getLogger(__name__)

TICK = 0.2  # seconds between looks for due monitors
# Monitors due this soon are claimed already and wait for their moment in the loop, so a
# tick's granularity or a slow claim (a busy database) does not make them start late.
AHEAD = 1.0
# Seconds a lease outlives the probe's timeout: the hard stop's 1 s grace (run_probe) and
# recording the result. Small, because a lease must fit in the shortest interval.
LEASE_MARGIN = 5.0
LEASE_ROOM = AHEAD + LEASE_MARGIN  # of each interval that the timeout must leave free
CLAIM_LIMIT = 500
BATCH = 50  # finished runs recorded in one transaction, at most (SQLite: its write lock)
GATHER = 0.1  # seconds a batch waits for the runs that finish beside the first one
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


def lease_seconds(timeout: float, ahead: float = AHEAD) -> float:
    """How long a claim holds a monitor: at most its interval when the timeout leaves
    ``LEASE_ROOM`` of it (services.check makes sure), so a dead worker's monitors move on
    within one interval."""
    return ahead + timeout + LEASE_MARGIN


def claim_due(
    *, owner: str, now: datetime, limit: int = CLAIM_LIMIT, ahead: float = 0.0
) -> list[Monitor]:
    """Lease the monitors due by ``now`` (+ ``ahead`` seconds), the most overdue first."""
    due = (
        Monitor.objects.filter(paused=False, next_run_at__lte=now + timedelta(seconds=ahead))
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .order_by("next_run_at")
    )
    if not due.exists():  # an idle tick takes no write lock (SQLite)
        return []
    if connection.vendor == "postgresql":
        due = due.select_for_update(skip_locked=True, of=("self",))
    with transaction.atomic():
        claimed = list(due[:limit])
        leases: dict[datetime, list[str]] = {}
        for monitor in claimed:
            lease = lease_seconds(monitor.timeout_seconds, ahead)
            monitor.leased_until = now + timedelta(seconds=lease)
            monitor.lease_owner = owner
            leases.setdefault(monitor.leased_until, []).append(monitor.pk)
        for until, ids in leases.items():  # one UPDATE per timeout, not a CASE per row
            Monitor.objects.filter(pk__in=ids).update(leased_until=until, lease_owner=owner)
    return claimed


def release(*, monitor: Monitor, due: datetime, now: datetime) -> None:
    """Schedule the next run and give the lease back (unless another worker took it)."""
    Monitor.objects.filter(pk=monitor.pk, lease_owner=monitor.lease_owner).update(
        next_run_at=next_run_at(due, monitor.interval_seconds, now),
        leased_until=None,
        lease_owner="",
    )


@dataclass(frozen=True)
class Finished:
    """A run whose result waits to be recorded."""

    monitor: Monitor
    result: Result
    due: datetime
    lag_ms: float
    took_ms: float


def record_batch(apply: Apply, batch: Sequence[Finished]) -> None:
    """Record ``batch`` in one transaction, each run in a savepoint of its own. Runs the
    database refused (a deadlock with another worker's batch, say) are recorded again
    alone after it, and so is the whole batch when its transaction fails."""
    alone = len(batch) == 1
    try:
        with transaction.atomic():
            refused = [run for run in batch if not _record(apply, run, alone=alone)]
    except Exception:  # the database went away: alone, the lease runs out and it runs again
        log.exception("monitors: recording %d result(s) failed", len(batch))
        refused = [] if alone else list(batch)
    for run in refused:
        record_batch(apply, [run])


def _record(apply: Apply, run: Finished, *, alone: bool) -> bool:
    """Apply one run and release its monitor; False (nothing done) when the database
    refused it in a batch. A failing ``apply`` is logged; the lease is given back anyway."""
    now = timezone.now()
    try:
        with transaction.atomic():
            apply(run.monitor, run.result, now, run.lag_ms, run.took_ms)
    except DatabaseError:
        if not alone:
            return False
        log.exception("monitor %s: recording the result failed", run.monitor.pk)
    except Exception:
        log.exception("monitor %s: recording the result failed", run.monitor.pk)
    release(monitor=run.monitor, due=run.due, now=now)
    return True


async def run_probe(monitor: Monitor, allowed: list[networks.Network]) -> Result:
    """The probe's verdict; its own errors become ``unknown``, never an exception."""
    spec = ProbeSpec(
        config=monitor.config,
        secrets=monitor.secrets,
        timeout=monitor.timeout_seconds,
        allowed=allowed,
    )
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
        # Monitors being run here: a lease that lapsed while recording was slow may come
        # back in a claim of ours, and must not start a second run beside the first.
        self.active: set[str] = set()
        self.finished: list[tuple[Finished, asyncio.Future[None]]] = []
        self.recorder: asyncio.Task[None] | None = None

    async def in_db(self, work: Callable[[], object]) -> object:
        def call() -> object:
            close_old_connections()
            return work()

        return await asyncio.get_running_loop().run_in_executor(self.db, call)

    async def run(self, stop: threading.Event) -> None:
        allowed = netguard.allowed_networks()
        try:
            async with common.shared_clients():
                healthy = True
                while not stop.is_set():
                    try:
                        await self.tick(allowed)
                        healthy = True
                    except DatabaseError as exc:  # away: the next tick tries again
                        if healthy:
                            log.warning("monitors: database unavailable (%s); retrying", exc)
                        healthy = False
                    except Exception:  # a bug in one tick must not stop the monitors
                        log.exception("monitors: tick failed; retrying")
                    await asyncio.sleep(TICK)
                await asyncio.gather(*self.running, return_exceptions=True)
        finally:
            self.db.shutdown(wait=True)

    async def once(self) -> int:
        """One tick, waiting for every probe it started; returns how many ran."""
        try:
            async with common.shared_clients():
                started = await self.tick(netguard.allowed_networks(), ahead=0.0)
                await asyncio.gather(*self.running)
            return started
        finally:
            self.db.shutdown(wait=True)

    async def tick(self, allowed: list[networks.Network], ahead: float = AHEAD) -> int:
        free = min(self.concurrency - len(self.running), CLAIM_LIMIT)  # what can start now
        if free <= 0:
            return 0
        now = timezone.now()
        claimed = await self.in_db(
            lambda: claim_due(owner=self.owner, now=now, limit=free, ahead=ahead)
        )
        assert isinstance(claimed, list)
        started = [m for m in claimed if m.pk not in self.active]
        for monitor in started:
            self.active.add(monitor.pk)
            task = asyncio.create_task(self.one(monitor, allowed))
            self.running.add(task)
            task.add_done_callback(self.running.discard)
            task.add_done_callback(functools.partial(self._done, monitor.pk))
        return len(started)

    def _done(self, monitor_id: str, _task: asyncio.Task[None]) -> None:
        self.active.discard(monitor_id)

    async def one(self, monitor: Monitor, allowed: list[networks.Network]) -> None:
        due = monitor.next_run_at
        # Claimed ahead: start on the first tick at or after the due time, with the other
        # runs due then (the loop serves a crowd of them in one pass, cheaper than one each).
        if (early := math.ceil(due.timestamp() / TICK) * TICK - time.time()) > 0:
            await asyncio.sleep(early)
        lag_ms = max((timezone.now() - due).total_seconds() * 1000, 0.0)
        clock = time.perf_counter()
        result = await run_probe(monitor, allowed)
        took_ms = (time.perf_counter() - clock) * 1000
        await self.record(Finished(monitor, result, due, lag_ms, took_ms))

    async def record(self, run: Finished) -> None:
        """Queue ``run`` for the next batch; returns once it is recorded."""
        done = asyncio.get_running_loop().create_future()
        self.finished.append((run, done))
        if self.recorder is None or self.recorder.done():
            self.recorder = asyncio.create_task(self.drain())
        await done

    async def drain(self) -> None:
        """Record the finished runs, a batch at a time, until none is left."""
        while self.finished:
            if len(self.finished) < BATCH:
                await asyncio.sleep(GATHER)  # let the runs finishing now join this batch
            batch, self.finished = self.finished[:BATCH], self.finished[BATCH:]
            runs = [run for run, _ in batch]
            try:
                await self.in_db(functools.partial(record_batch, self.apply, runs))
            except Exception:  # record_batch logs the database's refusals itself
                log.exception("monitors: recording %d result(s) failed", len(runs))
            for _, done in batch:
                if not done.done():  # its task may have been cancelled meanwhile
                    done.set_result(None)


def run_once(*, owner: str, apply: Apply) -> int:
    """Run the monitors due now, once (``heliograph worker --once``, tests)."""
    return asyncio.run(Scheduler(owner=owner, apply=apply).once())


def watch(stop: threading.Event, apply: Apply, owner: str, concurrency: int = 200) -> None:
    """Run the scheduler in this thread until ``stop``."""
    asyncio.run(Scheduler(owner=owner, apply=apply, concurrency=concurrency).run(stop))
