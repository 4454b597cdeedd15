"""``heliograph worker`` as a real process, on the database under test."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.live import Server, scratch_database


def heliograph(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "heliograph", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def workers(env: dict[str, str], count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    command = [sys.executable, "-m", "heliograph", "worker", "--interval", "0.2"]
    started = [subprocess.Popen(command, env=env, start_new_session=True) for _ in range(count)]
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def query(env: dict[str, str]) -> Callable[[str, list[Any]], list[tuple]]:
    """Read the worker's database directly (no Django in this process touches it)."""
    data_dir = Path(env["HELIOGRAPH_DATA"])

    def run(sql: str, params: list[Any]) -> list[tuple]:
        if "DATABASE_URL" in env:
            with psycopg.connect(env["DATABASE_URL"]) as conn:
                return conn.execute(sql, params).fetchall()
        with closing(sqlite3.connect(data_dir / "heliograph.sqlite3", timeout=20)) as conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()

    return run


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


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
