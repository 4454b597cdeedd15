"""``heliograph worker`` as a real process, on the database under test."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.live import Server, scratch_database, wait_for
from tests.support.worker import heliograph, query, workers


@pytest.fixture
def bare_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a new, empty database (no tables yet)."""
    with scratch_database() as url:
        environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
        environ["HELIOGRAPH_DATA"] = str(tmp_path)
        if url:
            environ["DATABASE_URL"] = url
        yield environ


@pytest.fixture
def env(bare_env: dict[str, str]) -> dict[str, str]:
    heliograph(bare_env, "migrate")
    return bare_env


def schedule_current(env: dict[str, str], page: str) -> tuple[str, Callable[[], bool]]:
    """A maintenance on a new page whose window is already open; and "is it in progress?"."""
    heliograph(env, "page", "create", page)
    heliograph(env, "component", "create", "MX", "--page", page)
    now = datetime.now(UTC)
    scheduled = heliograph(
        env,
        "maintenance",
        "schedule",
        "MX upgrade",
        "--page",
        page,
        "--component",
        "MX",
        "--start",
        (now - timedelta(minutes=1)).isoformat(),
        "--end",
        (now + timedelta(hours=1)).isoformat(),
        "--json",
    )
    maintenance = json.loads(scheduled)["id"]
    sql = query(env)

    def in_progress() -> bool:
        rows = sql("SELECT status FROM incidents_incident WHERE id = %s", [maintenance])
        return rows == [("in_progress",)]

    return maintenance, in_progress


def test_it_starts_a_current_maintenance_and_stops_on_sigterm(env: dict[str, str]) -> None:
    maintenance, in_progress = schedule_current(env, "Acme")
    sql = query(env)

    with workers(env, 2) as running:  # two at once must not both start it
        assert wait_for(in_progress, timeout=20)
        time.sleep(1)  # several more passes of both workers
        for process in running:
            process.send_signal(signal.SIGTERM)
        assert [process.wait(timeout=10) for process in running] == [0, 0]
    assert sql("SELECT status FROM catalog_component WHERE name = %s", ["MX"]) == [
        ("under_maintenance",)
    ]
    updates = sql(
        "SELECT status FROM incidents_incidentupdate WHERE incident_id = %s ORDER BY display_at",
        [maintenance],
    )
    assert updates == [("scheduled",), ("in_progress",)]


def test_it_runs_the_worker_beside_the_web_server(demo_server: Server) -> None:
    _, in_progress = schedule_current(demo_server.env, "Worker check")
    assert wait_for(in_progress, timeout=20)


def test_it_waits_out_a_database_that_is_not_usable_yet(bare_env: dict[str, str]) -> None:
    with workers(bare_env, 1) as [worker]:
        time.sleep(1.5)  # several passes fail: no tables
        assert worker.poll() is None
        heliograph(bare_env, "migrate")
        _, in_progress = schedule_current(bare_env, "Acme")
        assert wait_for(in_progress, timeout=20)
        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=10) == 0
