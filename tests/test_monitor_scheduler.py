"""The scheduler: leases shared between workers, phases kept, probes run for real."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone

from heliograph.catalog.models import Component
from heliograph.monitors import automation, scheduler
from heliograph.monitors.models import Monitor
from tests.support.probe_servers import Reply, http_server
from tests.support.world import NOW

LOOPBACK = "127.0.0.0/8"


def monitor(
    component: Component, name: str, url: str = "http://127.0.0.1:9/", **fields: Any
) -> Monitor:
    return Monitor.objects.create(
        page=component.page,
        component=component,
        name=name,
        kind="http",
        config={"url": url, "slow_ms": 2000},
        interval_seconds=60,
        timeout_seconds=2,
        next_run_at=fields.pop("next_run_at", NOW),
        **fields,
    )


def test_it_leases_each_due_monitor_to_one_worker_until_the_lease_runs_out(
    cluster_a: Component,
) -> None:
    due = [monitor(cluster_a, f"path {n}") for n in range(3)]
    monitor(cluster_a, "later", next_run_at=NOW + timedelta(minutes=1))
    monitor(cluster_a, "paused", paused=True)
    first = scheduler.claim_due(owner="worker-1", now=NOW)
    assert {m.pk for m in first} == {m.pk for m in due}
    assert scheduler.claim_due(owner="worker-2", now=NOW + timedelta(seconds=5)) == []
    # worker-1 died: its leases lapse within timeout + margin, well inside one interval
    after = NOW + timedelta(seconds=2 + scheduler.LEASE_MARGIN + 1)
    taken = scheduler.claim_due(owner="worker-2", now=after)
    assert {m.pk for m in taken} == {m.pk for m in due}
    assert set(Monitor.objects.filter(lease_owner="worker-2").values_list("pk", flat=True)) == {
        m.pk for m in due
    }


def test_it_keeps_each_monitors_phase_and_restarts_one_that_fell_behind() -> None:
    assert scheduler.next_run_at(NOW, 60, NOW + timedelta(seconds=3)) == NOW + timedelta(seconds=60)
    late = scheduler.next_run_at(NOW, 60, NOW + timedelta(seconds=200))
    assert NOW + timedelta(seconds=200) <= late <= NOW + timedelta(seconds=205)
    spread = {scheduler.first_run_at(60, NOW) for _ in range(20)}
    assert len(spread) > 1 and all(NOW <= t <= NOW + timedelta(seconds=60) for t in spread)


@pytest.mark.django_db(transaction=True)  # probes record from the scheduler's DB threads
def test_it_runs_due_monitors_and_marks_cluster_a_degraded_after_two_bad_samples(
    settings: Any, cluster_a: Component
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    with http_server({"/health": Reply(503, b"down")}) as server:
        checked = monitor(
            cluster_a, "Webmail", url=server.url("/health"), next_run_at=timezone.now()
        )
        assert scheduler.run_once(owner="test", apply=automation.apply) == 1
        cluster_a.refresh_from_db()
        assert cluster_a.status == "operational"  # one bad sample changes nothing
        Monitor.objects.filter(pk=checked.pk).update(next_run_at=timezone.now())
        assert scheduler.run_once(owner="test", apply=automation.apply) == 1
    cluster_a.refresh_from_db()
    checked.refresh_from_db()
    assert cluster_a.status == "degraded_performance"
    assert cluster_a.status_changes.last().source == "monitor"
    assert (checked.last_verdict, checked.lease_owner) == ("fail", "")
    assert checked.next_run_at > timezone.now() + timedelta(seconds=50)  # phase kept
    assert [r.verdict for r in checked.results.all()] == ["fail", "fail"]
    assert "503" in checked.last_reason


@pytest.mark.django_db(transaction=True)
def test_it_keeps_probing_in_the_background_until_stopped(
    settings: Any, cluster_a: Component
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    stop = threading.Event()
    with http_server({"/": Reply(200, b"fine")}) as server:
        checked = monitor(cluster_a, "Site", url=server.url("/"), next_run_at=timezone.now())
        thread = threading.Thread(
            target=scheduler.watch, args=(stop, automation.apply, "test"), daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not _has_results(checked) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(10)
    assert not thread.is_alive()
    [result] = checked.results.all()
    assert result.verdict == "ok" and result.values["status_code"] == 200
    assert result.lag_ms < 5000


def _has_results(checked: Monitor) -> bool:
    try:
        return checked.results.exists()
    except OperationalError:  # SQLite's shared in-memory test database: the worker writes
        return False


@pytest.mark.django_db(transaction=True)
def test_it_runs_due_monitors_in_one_worker_pass(settings: Any, cluster_a: Component) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = LOOPBACK
    out = io.StringIO()
    with http_server({"/": Reply(200, b"fine")}) as server:
        checked = monitor(cluster_a, "Site", url=server.url("/"), next_run_at=timezone.now())
        call_command("worker", "--once", stdout=out)
    assert "1 monitor(s) run" in out.getvalue()
    assert checked.results.get().verdict == "ok"
