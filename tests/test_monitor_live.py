"""`heliograph run` runs the monitors too: one node, nothing else started (`demo` is `run`
with the example loaded, so that a page is there to publish)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.live import running_demo, scratch_database

MONITORS = """\
page = "OpenSRS"

[[monitor]]
name = "Status page itself"
component = "Cluster A"
kind = "http"
interval = 10
timeout = 3
[monitor.config]
url = "{url}/healthz"
"""


def test_it_runs_a_monitor_applied_from_a_file_without_a_separate_worker(
    tmp_path: Path,
) -> None:
    loopback = {"HELIOGRAPH_ALLOW_PRIVATE_TARGETS": "127.0.0.0/8"}
    with scratch_database() as url, running_demo(tmp_path, url, "demo", loopback) as server:
        listed = tmp_path / "monitors.toml"
        listed.write_text(MONITORS.format(url=server.url))
        applied = server.cli("monitors", "apply", str(listed))
        assert applied.returncode == 0, applied.stderr
        up = 'heliograph_monitor_up{monitor="Status page itself"'
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            metrics = server.get("/metrics")[2].decode()
            if up in metrics:
                break
            time.sleep(0.5)
        line = next(row for row in metrics.splitlines() if row.startswith(up))
        assert line.endswith(" 1"), metrics
