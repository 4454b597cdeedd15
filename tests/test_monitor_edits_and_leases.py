"""Monitors edited while workers run them: edits never clobber what the workers wrote, and a
dead worker's monitors move to another worker within one interval."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from heliograph.catalog.models import Component
from heliograph.lib import netguard
from heliograph.lib.errors import InputError
from heliograph.monitors import automation, scheduler, services
from heliograph.monitors.models import Monitor
from heliograph.monitors.probes import common
from heliograph.monitors.probes.base import FAIL, Result
from tests.support.probe_servers import Reply, http_server
from tests.support.world import NOW

LOOPBACK = "127.0.0.0/8"
DOWN = Result(FAIL, "https://webmail.example.net/ answered HTTP 503")
# What the scheduler and the automation own: an edit must leave these as they found them.
WORKER_FIELDS = (
    "state", "incident_id", "last_run_at", "last_verdict", "last_reason", "next_run_at",
    "leased_until", "lease_owner",
)  # fmt: skip


def webmail(component: Component, **fields: Any) -> Monitor:
    return services.create_monitor(
        page=component.page,
        name="Webmail",
        kind="http",
        component=component,
        config={"url": "https://webmail.example.net/"},
        automation="draft",
        **fields,
    )


def worker_fields(monitor: Monitor) -> dict[str, Any]:
    fresh = Monitor.objects.get(pk=monitor.pk)
    return {name: getattr(fresh, name) for name in WORKER_FIELDS}


# --- edits from a stale copy ------------------------------------------------------------------


def test_it_keeps_what_a_worker_wrote_when_an_edit_is_saved_from_a_stale_copy(
    cluster_a: Component,
) -> None:
    stale = webmail(cluster_a)  # as an edit form loaded it
    [running] = scheduler.claim_due(owner="worker-1", now=stale.next_run_at)
    for minute in (0, 1):  # meanwhile a worker sees it down twice: degraded, incident opened
        now = timezone.now() + timedelta(minutes=minute)
        automation.apply_result(monitor=running, result=DOWN, now=now)
    worked = worker_fields(stale)
    assert worked["incident_id"] and worked["state"] and worked["last_verdict"] == FAIL
    assert worked["lease_owner"] == "worker-1"

    services.update_monitor(
        monitor=stale,
        name="Webmail (EU)",
        config={"url": "https://eu.webmail.example.net/"},
        timeout_seconds=20,
        actor="user:alice",
    )
    saved = Monitor.objects.get(pk=stale.pk)
    assert (saved.name, saved.config["url"], saved.timeout_seconds) == (
        "Webmail (EU)",
        "https://eu.webmail.example.net/",
        20.0,
    )
    assert worker_fields(saved) == worked


def test_it_reschedules_from_the_stored_next_run_when_the_interval_changes(
    cluster_a: Component,
) -> None:
    stale = webmail(cluster_a, interval_seconds=3600)
    pressed = timezone.now() - timedelta(seconds=1)
    Monitor.objects.filter(pk=stale.pk).update(next_run_at=pressed)  # "run now", meanwhile
    services.update_monitor(monitor=stale, interval_seconds=60)
    saved = Monitor.objects.get(pk=stale.pk)
    assert saved.interval_seconds == 60 and saved.next_run_at == pressed  # still due now


def test_it_forgets_the_old_paths_state_but_keeps_the_rest(cluster_a: Component) -> None:
    stale = webmail(cluster_a)
    worker_copy = Monitor.objects.get(pk=stale.pk)
    automation.apply_result(monitor=worker_copy, result=DOWN, now=timezone.now())
    worked = worker_fields(stale)
    assert worked["state"] and worked["last_verdict"] == FAIL
    services.update_monitor(monitor=stale, component=None, automation="off")
    after = worker_fields(stale)
    assert after["state"] == {}  # the hysteresis belonged to the old path
    assert {**after, "state": worked["state"]} == worked


def test_it_says_so_when_the_monitor_was_deleted_meanwhile(cluster_a: Component) -> None:
    stale = webmail(cluster_a)
    Monitor.objects.filter(pk=stale.pk).delete()
    with pytest.raises(InputError, match="monitor 'Webmail' was deleted meanwhile"):
        services.update_monitor(monitor=stale, name="Webmail (EU)")
    assert not Monitor.objects.exists()  # not brought back by the edit


# --- dead workers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "timeout"),
    [(10, None), (60, None), (156, 150.0), (3600, 3594.0)],
    ids=["10 s, default timeout", "60 s, default timeout", "mail round trip", "hourly"],
)
def test_it_moves_a_dead_workers_monitor_to_another_within_one_interval(
    cluster_a: Component, interval: int, timeout: float | None
) -> None:
    made = webmail(cluster_a, interval_seconds=interval, timeout_seconds=timeout)
    Monitor.objects.filter(pk=made.pk).update(next_run_at=NOW)
    claimed_at = NOW - timedelta(seconds=scheduler.AHEAD)  # the loop claims a moment ahead
    first = scheduler.claim_due(owner="worker-1", now=claimed_at, ahead=scheduler.AHEAD)
    assert [m.pk for m in first] == [made.pk]
    # worker-1 dies now. Until its lease lapses no one else runs the monitor (no overlap)...
    lease = timedelta(seconds=scheduler.lease_seconds(first[0].timeout_seconds))
    assert lease <= timedelta(seconds=interval)
    assert scheduler.claim_due(owner="worker-2", now=claimed_at + lease * 0.999) == []
    # ...and one interval after the claim at the latest, worker-2 has taken it.
    later = claimed_at + timedelta(seconds=interval)
    assert [m.pk for m in scheduler.claim_due(owner="worker-2", now=later)] == [made.pk]
    assert Monitor.objects.get(pk=made.pk).lease_owner == "worker-2"


def test_it_fits_the_default_timeout_into_a_short_interval(cluster_a: Component) -> None:
    assert webmail(cluster_a, interval_seconds=10).timeout_seconds == 4.0
    assert services.default_timeout(60) == 30.0


@pytest.mark.django_db(transaction=True)  # the scheduler works from its own DB threads
def test_it_never_runs_a_monitor_twice_at_once_when_its_own_lease_lapses(
    settings: Any, cluster_a: Component
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    with http_server({"/": Reply(200, b"fine", delay=0.5)}) as server:
        made = Monitor.objects.create(
            page=cluster_a.page,
            name="Slow site",
            kind="http",
            config={"url": server.url("/")},
            interval_seconds=60,
            timeout_seconds=4,
            next_run_at=timezone.now(),
        )
        started = asyncio.run(_tick_twice_while_running(made))
    assert started == (1, 0)
    assert len(server.seen) == 1 and made.results.count() == 1
    assert Monitor.objects.get(pk=made.pk).lease_owner == ""  # given back after the run


async def _tick_twice_while_running(monitor: Monitor) -> tuple[int, int]:
    """Start its run, let its lease lapse (a slow database, say), then look again."""
    runner = scheduler.Scheduler(owner="worker-1", apply=automation.apply)
    allowed = netguard.allowed_networks()
    try:
        async with common.shared_clients():
            first = await runner.tick(allowed, ahead=0.0)
            lapse = Monitor.objects.filter(pk=monitor.pk)
            await runner.in_db(lambda: lapse.update(leased_until=timezone.now()))
            second = await runner.tick(allowed, ahead=0.0)
            await asyncio.gather(*runner.running)
        return first, second
    finally:
        runner.db.shutdown(wait=True)
