"""`heliograph run` keeps its processes running: whatever is killed comes back, and the
page goes on serving and publishing meanwhile."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from heliograph.lib import heartbeat
from heliograph.lib.supervisor import Child, Supervisor
from tests.support.live import Server, running_demo, scratch_database, wait_for

ROLES = {"web": "web", "publish": "publisher", "worker": "worker"}


def children(pid: int) -> dict[str, int]:
    """The supervisor's children by role."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            # A child between fork and exec still shows the supervisor's own command.
            if len(argv) > 3 and argv[1:3] == [b"-m", b"heliograph"] and argv[3] != b"demo":
                found[ROLES[argv[3].decode()]] = int(child)
    return found


def web_worker(web_pid: int) -> int:
    return int(Path(f"/proc/{web_pid}/task/{web_pid}/children").read_text().split()[0])


def process_report(server: Server, role: str) -> dict:
    """What /healthz says of a role's process; {} while nothing answers."""
    try:
        return next(p for p in server.health()["processes"] if p["role"] == role)
    except (OSError, StopIteration):
        return {}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Server]:
    with scratch_database() as url, running_demo(tmp_path, url) as server:
        yield server


def test_it_brings_back_every_process_that_is_killed(node: Server) -> None:
    top = node.process.pid
    assert wait_for(lambda: set(children(top)) == {"web", "publisher", "worker"}, 10)
    for role in ("worker", "publisher", "web"):
        before = children(top)[role]
        os.kill(before, signal.SIGKILL)
        assert wait_for(lambda: children(top).get(role, before) != before, 5), role  # noqa: B023
        assert wait_for(lambda: node.status_of("/api/v2/status.json") == 200, 10)
    killed = {"restarts": 1, "last_exit": "was killed by SIGKILL", "state": "running"}
    for role in ("worker", "publisher", "web"):
        report = lambda: process_report(node, role)  # noqa: B023, E731
        assert wait_for(lambda: report().items() >= killed.items(), 10), report()  # noqa: B023
    # The web server's own worker process: replaced by the web server, the page stays up.
    granian = children(top)["web"]
    assert wait_for(lambda: _has_worker(granian), 10)
    os.kill(web_worker(granian), signal.SIGKILL)
    assert wait_for(lambda: node.status_of("/") == 200, 10)
    assert children(top)["web"] == granian
    # And the publisher that came back publishes: a change reaches the page.
    changed = node.cli("component", "set", "Cluster A", "major_outage", "--page", "OpenSRS")
    assert changed.returncode == 0, changed.stderr
    assert wait_for(lambda: _status(node) == "Major System Outage", 10)
    assert node.process.poll() is None


def _has_worker(pid: int) -> bool:
    try:
        return bool(web_worker(pid))
    except (OSError, IndexError):
        return False


def _status(server: Server) -> str:
    """The page's status; "" while the node cannot be reached (this asks whether the new
    publisher publishes; staying up through a kill is asserted on its own above)."""
    try:
        return str(json.loads(server.get("/api/v2/status.json")[2])["status"]["description"])
    except OSError:
        return ""


def test_it_backs_off_from_a_child_that_keeps_crashing(caplog: pytest.LogCaptureFixture) -> None:
    crashing = Child("crashing", [sys.executable, "-c", "raise SystemExit(3)"])
    steady = Child("steady", [sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor = Supervisor([crashing, steady])
    runner = threading.Thread(target=supervisor.run)
    with caplog.at_level(logging.WARNING, logger="heliograph.supervisor"):
        runner.start()
        try:
            assert wait_for(lambda: crashing.restarts >= 4, 20)
            steady_pid = steady.process.pid if steady.process else None
        finally:
            supervisor.stop.set()
            runner.join()
    pauses = [r.getMessage() for r in caplog.records if "restarting it in" in r.getMessage()]
    assert pauses[:4] == [
        f"crashing exited with code 3; restarting it in {pause} s"
        for pause in ("0.25", "0.50", "1.00", "2.00")
    ]
    assert steady.restarts == 0 and steady_pid is not None
    assert steady.process is not None and steady.process.poll() is not None  # stopped with us


def test_it_reports_a_silent_process_as_stale_and_one_being_restarted() -> None:
    now = 1_000_000.0
    records = [
        {"role": "web", "pid": 11, "state": "running", "beat": now - 0.4},
        {"role": "publisher", "pid": 12, "state": "running", "beat": now - 30},
        {
            "role": "supervisor",
            "pid": 10,
            "state": "running",
            "beat": now,
            "children": {
                "web": {"state": "running", "restarts": 0, "last_exit": ""},
                "publisher": {"state": "running", "restarts": 0, "last_exit": ""},
                "worker": {"state": "restarting", "restarts": 2, "last_exit": "exited with code 1"},
            },
        },
    ]
    report = {entry["role"]: entry for entry in heartbeat.describe(records, now)}
    assert report["web"]["state"] == "running" and report["web"]["seconds_since_heartbeat"] == 0.4
    assert report["publisher"]["state"] == "stale"  # stuck, or gone without a word
    assert report["worker"] == {
        "role": "worker",
        "state": "restarting",
        "restarts": 2,
        "last_exit": "exited with code 1",
    }
    assert "supervisor" not in report
