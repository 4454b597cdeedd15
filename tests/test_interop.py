"""Third-party Statuspage consumers read Heliograph unchanged."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import feedparser

from tests.support.live import Server

EXPORTER = Path(sys.executable).with_name("statuspage-prometheus-exporter")


def export_metrics(server: Server, tmp_path: Path) -> dict[str, float]:
    """Run statuspage-prometheus-exporter once against the server; its metrics by series."""
    services = tmp_path / "services.json"
    services.write_text(
        json.dumps({"opensrs": {"url": f"{server.url}/api/v2/summary.json", "name": "OpenSRS"}})
    )
    metrics = tmp_path / "statuspage.prom"
    env = {
        **os.environ,
        "RUN_MODE": "once",
        "SERVICES_JSON_PATH": str(services),
        "METRICS_TEXTFILE_PATH": str(metrics),
        "CLEAR_CACHE": "true",
    }
    done = subprocess.run([EXPORTER], env=env, cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    series = {}
    for line in metrics.read_text().splitlines():
        if match := re.fullmatch(r"(\w+\{.*\}|\w+) (\S+)", line):
            series[match[1]] = float(match[2])
    return series


def value(series: dict[str, float], name: str, **labels: str) -> float | None:
    for key, number in series.items():
        if key.startswith(name + "{") and all(f'{k}="{v}"' in key for k, v in labels.items()):
            return number
    return None


def test_it_reads_the_example_as_operational(demo_server: Server, tmp_path: Path) -> None:
    series = export_metrics(demo_server, tmp_path)
    assert value(series, "statuspage_service_status", service_name="OpenSRS") == 1.0
    assert value(series, "statuspage_component_status", component_name="Cluster A") == 1.0
    assert value(series, "statuspage_component_status", component_name="Hosted Email") == 1.0
    assert value(series, "statuspage_incident_info", incident_id="none") == 0.0


def test_it_reads_an_open_incident(demo_server: Server, tmp_path: Path) -> None:
    opened = demo_server.cli(
        "incident",
        "open",
        "Inbound mail delays on Cluster A",
        "--page",
        "OpenSRS",
        "--body",
        "Investigating.",
        "--component",
        "Cluster A=major_outage",
        "--json",
    )
    assert opened.returncode == 0, opened.stderr
    incident = json.loads(opened.stdout)
    try:
        deadline = time.monotonic() + 10
        while b"Inbound mail delays" not in demo_server.get("/api/v2/summary.json")[2]:
            assert time.monotonic() < deadline, "the incident never reached summary.json"
            time.sleep(0.1)
        series = export_metrics(demo_server, tmp_path)
        assert value(series, "statuspage_service_status", service_name="OpenSRS") == 0.0
        assert value(series, "statuspage_component_status", component_name="Cluster A") == 0.0
        info = value(
            series,
            "statuspage_incident_info",
            incident_id=incident["id"],
            incident_name="Inbound mail delays on Cluster A",
            impact="critical",
        )
        assert info == 1.0
    finally:
        demo_server.cli(
            "incident",
            "update",
            incident["id"],
            "--page",
            "OpenSRS",
            "--status",
            "resolved",
            "--body",
            "Resolved.",
            "--component",
            "Cluster A=operational",
        )


def test_it_parses_both_feeds(demo_server: Server) -> None:
    for path in ("/history.atom", "/history.rss"):
        feed = feedparser.parse(demo_server.get(path)[2])
        assert not feed.bozo, feed.bozo_exception
        entry = next(e for e in feed.entries if e.title == "Cluster A - Inbound Delays")
        assert "/incidents/" in entry.link
        first_status = re.search(r"<strong>(.*?)</strong>", entry.summary)
        assert first_status and first_status[1] == "Resolved"
