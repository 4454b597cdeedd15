"""The mail lab's story as customers live it: healthy → delay → loop → MX down → recovery.

Two paths watch Cluster A — an ``smtp`` monitor of its MX and a mail round trip through
that MX into Dovecot — and one signal, the rspamd loop check reading the MX's scans from an
rspamd-style ``/history``; each a real probe run by the scheduler's ``run_probe`` against
the real mail path (tests/support/mail_path.py), the MX behind a proxy that can refuse
every connection. The clock automation sees is injected, one interval (a minute) per sample,
starting just under an hour ago so that every update notifies subscribers for real.

What customers may read — every published artifact and every notification — must name no
host, address, port, token or Message-ID; the title and impact follow the worst state;
every path failing is a major outage; subscribers hear once per change of severity, plus
monitoring and resolved.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone

from heliograph.catalog.models import Component
from heliograph.catalog.status import DEGRADED, MAJOR, OPERATIONAL
from heliograph.incidents.models import Incident
from heliograph.monitors import automation
from heliograph.monitors.models import Monitor
from heliograph.monitors.scheduler import run_probe
from heliograph.notify.models import INCIDENT_UPDATE, Notification
from heliograph.publish.publisher import publish_stale
from tests.support.live import TcpProxy
from tests.support.mail_path import HEALTHY, LOOPBACK, MailPath, Scenario, delayed, looping
from tests.support.mail_path import mail_path as real_mail_path
from tests.support.probe_servers import HttpServer, http_server, rspamd_history

FAST: dict[str, Any] = {
    "ok_seconds": 0.5, "slow_seconds": 1, "give_up_seconds": 2, "poll_seconds": 0.2,
    "duplicate_wait_seconds": 0.6, "healthy_hops": 1,
}  # fmt: skip
INTERVAL = timedelta(minutes=1)


LOOP_QUIET = 3.0  # seconds without a scan of a looping Message-ID: the loop is over


@pytest.fixture(scope="module")
def mail_path() -> Iterator[MailPath]:
    with real_mail_path() as path:
        yield path


@pytest.fixture
def rspamd(mail_path: MailPath) -> Iterator[HttpServer]:
    before = len(mail_path.relay.scans)
    history = rspamd_history(lambda: mail_path.relay.scans[before:])
    with http_server({"/history": history}) as server:
        yield server


class Lab:
    """The monitors of Cluster A, sampled together once per interval."""

    def __init__(self, path: MailPath, component: Component, rspamd: HttpServer) -> None:
        self.path, self.component = path, component
        self.mx = TcpProxy("127.0.0.1", path.smtp_port)
        self.now = timezone.now() - timedelta(minutes=58)
        page = component.page
        self.monitors = [
            Monitor.objects.create(
                page=page,
                component=component,
                name="MX — Cluster A",
                kind="smtp",
                config={"host": "127.0.0.1", "port": self.mx.port, "starttls": "no"},
                automation="publish",
                timeout_seconds=5,
            ),
            Monitor.objects.create(
                page=page,
                component=component,
                name="Round trip — Cluster A",
                kind="mail_roundtrip",
                config=path.probe_config(**FAST, smtp_port=self.mx.port),
                secrets=path.probe_secrets(),
                automation="publish",
                timeout_seconds=8,
            ),
            Monitor.objects.create(
                page=page,
                component=component,
                name="Filter loops — Cluster A",
                kind="rspamd",
                config={
                    "url": rspamd.url(),
                    "mode": "history",
                    "loop_threshold": 3,
                    "window_minutes": 30,
                    "quiet_minutes": LOOP_QUIET / 60,
                },
                automation="publish",
                timeout_seconds=5,
            ),
        ]
        self.verdicts: list[list[str]] = []  # each monitor's, per interval
        self.shown: list[str] = []  # the component's status after each interval

    def sample(self, scenario: Scenario | None = None, times: int = 1) -> None:
        if scenario is not None:
            self.path.scenario = scenario
        for _ in range(times):
            self.now += INTERVAL
            self.verdicts.append([])
            for monitor in self.monitors:
                result = asyncio.run(run_probe(monitor, list(LOOPBACK)))
                self.verdicts[-1].append(result.verdict)
                automation.apply_result(monitor=monitor, result=result, now=self.now)
                monitor.refresh_from_db()
            self.path.wait_idle()
            self.path.clear()
            self.component.refresh_from_db()
            self.shown.append(self.component.status)

    def wait(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @property
    def incident(self) -> Incident:
        return Incident.objects.get(monitors=self.monitors[0])

    def intervals_to(self, status: str, since: int) -> int:
        """Intervals from sample ``since`` (0-based) until the component showed ``status``."""
        return self.shown.index(status, since) - since + 1


def public_text(export: Path) -> str:
    """Every artifact the publisher wrote, as one text."""
    files = [f for f in export.rglob("*") if f.is_file() and f.suffix != ".gz"]
    return "\n".join(f.read_text(errors="replace") for f in files if ".blobs" not in str(f))


def internals(path: MailPath, lab: Lab) -> re.Pattern[str]:
    """What must never reach customers: hosts, addresses, ports, tokens, Message-IDs."""
    ports = "|".join(str(p) for p in (path.smtp_port, path.imap_port, lab.mx.port))
    return re.compile(
        rf"127\.0\.0\.1|localhost|heliograph\.test|monitor\.test|:({ports})\b|hgp-|"
        r"Message-ID|<[^<>\s]+@[^<>\s]+>|Received|hops|SMTP|IMAP",
        re.IGNORECASE,
    )


def test_customers_read_plain_words_and_hear_once_per_change(
    mail_path: MailPath, cluster_a: Component, rspamd: HttpServer
) -> None:
    lab = Lab(mail_path, cluster_a, rspamd)
    lab.sample(HEALTHY, times=2)
    assert lab.shown == [OPERATIONAL, OPERATIONAL]

    lab.sample(delayed(1.5), times=4)  # samples 2–5
    assert lab.intervals_to(DEGRADED, 2) == 2
    incident = lab.incident
    assert (incident.name, incident.impact) == ("Inbound mail delays — Cluster A", "minor")

    lab.sample(looping(8, each_pass=False), times=4)  # samples 6–9: same severity
    assert lab.shown[-4:] == [DEGRADED] * 4
    assert [v[2] for v in lab.verdicts[-3:]] == ["slow"] * 3  # the loop check sees it
    loop_stopped = time.monotonic()

    lab.mx.cut()  # the only MX refuses every connection: every path fails
    lab.sample(times=4)  # samples 10–13
    assert lab.intervals_to(MAJOR, 10) == 3
    # The loop check reports the loop over once it is quiet; it is a signal, not a way
    # mail can take, so the component is in major outage all the same.
    while (quiet := time.monotonic() - loop_stopped) < LOOP_QUIET:
        time.sleep(LOOP_QUIET - quiet)
    lab.sample()
    assert lab.verdicts[-1] == ["fail", "fail", "ok"] and lab.shown[-1] == MAJOR
    incident.refresh_from_db()
    assert (incident.name, incident.impact) == ("Inbound mail outage — Cluster A", "critical")

    lab.mx.reopen()
    lab.sample(HEALTHY, times=3)  # samples 15–17
    assert lab.intervals_to(OPERATIONAL, 15) == 3
    lab.wait(15)
    lab.sample()
    incident.refresh_from_db()
    assert incident.status == "resolved"

    # Subscribers heard: opened (degraded), the outage, monitoring, resolved.
    notices = Notification.objects.filter(page=cluster_a.page, kind=INCIDENT_UPDATE)
    changes_of_severity = 3  # → degraded, → major outage, → operational
    assert notices.count() == 4 <= changes_of_severity + 2
    statuses = [u.status for u in incident.updates.order_by("display_at", "created_at")]
    assert statuses == ["investigating", "investigating", "monitoring", "resolved"]

    publish_stale()
    shown = public_text(Path(settings.EXPORT_DIR))
    told = "\n".join(json.dumps(n.payload) for n in notices)
    forbidden = internals(mail_path, lab)
    assert incident.name in shown and "inbound mail to Cluster A" in shown
    # The page's own public address is the one loopback address customers may read.
    host = urlsplit(settings.BASE_URL).hostname
    read = (shown + told).replace(settings.BASE_URL, "").replace(f"tag:{host},", "")
    assert [m[0] for m in forbidden.finditer(read)] == []
    # Responders have the evidence customers do not see, for each step automation took.
    steps = automation.evidence(incident)
    assert [step["suggestion"] for step in steps] == [
        "Opened the incident",
        "Now partial outage: the update waits for it to settle",  # MX first, then the round trip
        "Told subscribers: a major outage",
        "Operational again: monitoring",
        "Resolved",
    ]
    assert "the connection was refused" in steps[2]["lines"][0]
