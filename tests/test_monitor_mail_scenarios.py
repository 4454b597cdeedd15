"""The Cluster A story end to end: a mail round-trip monitor over a real MX and Dovecot.

Every sample is a real probe run (aiosmtpd MX relaying into Dovecot on 127.0.0.1, in the
scenario the test switches to); the clock the automation sees is injected, two minutes
per sample, so the 15-minute quiet period and the 30-minute reopen window need no sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from heliograph.catalog.models import Component
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.monitors import automation
from heliograph.monitors.models import Monitor
from heliograph.monitors.probes import mail_roundtrip
from tests.mail_path import DOWN, HEALTHY, MailPath, Scenario, delayed, looping, mail_path

FAST: dict[str, Any] = {
    "ok_seconds": 0.5, "slow_seconds": 1, "give_up_seconds": 2, "poll_seconds": 0.2,
    "duplicate_wait_seconds": 0.6, "healthy_hops": 1,
}  # fmt: skip
SAMPLE = timedelta(minutes=2)


@pytest.fixture(scope="module")
def shared_path() -> Iterator[MailPath]:
    with mail_path() as path:
        yield path


class Story:
    def __init__(self, path: MailPath, monitor: Monitor, start: datetime) -> None:
        self.path, self.monitor, self.now = path, monitor, start
        self.verdicts: list[str] = []

    def sample(self, scenario: Scenario, times: int = 1) -> None:
        self.path.scenario = scenario
        for _ in range(times):
            self.now += SAMPLE
            spec = self.path.spec(timeout=8, **FAST)
            result = asyncio.run(mail_roundtrip.probe(spec))
            self.verdicts.append(result.verdict)
            automation.apply_result(monitor=self.monitor, result=result, now=self.now)
            self.path.wait_idle()
            self.path.clear()

    def wait(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @property
    def incident(self) -> Incident:
        self.monitor.refresh_from_db()
        assert self.monitor.incident is not None
        return self.monitor.incident


def statuses(component: Component) -> list[str]:
    return [c.new_status for c in component.status_changes.filter(source="monitor")]


def test_it_tells_the_whole_cluster_a_story_from_real_mail(
    shared_path: MailPath, cluster_a: Component
) -> None:
    start = timezone.now() - timedelta(hours=3)
    rollout = incidents.record_change(
        page=cluster_a.page, title="rspamd filter rollout", components=[cluster_a],
        at=start + timedelta(minutes=1), source="config",
    )  # fmt: skip
    monitor = Monitor.objects.create(
        page=cluster_a.page, component=cluster_a, name="Inbound — Cluster A",
        kind="mail_roundtrip", config=shared_path.probe_config(**FAST),
        secrets=shared_path.probe_secrets(), automation="publish", timeout_seconds=8,
    )  # fmt: skip
    story = Story(shared_path, monitor, start)

    story.sample(HEALTHY)
    assert (story.verdicts, statuses(cluster_a)) == (["ok"], [])

    story.sample(looping(3), times=2)  # the filter loop: copies and hops grow
    assert story.verdicts[-2:] == ["slow", "slow"]
    assert statuses(cluster_a) == ["degraded_performance"]
    opened = story.incident
    assert opened.status == "investigating" and not opened.draft
    assert "copies" in opened.updates.last().body
    assert rollout.title in opened.updates.last().body  # the change just before

    story.sample(DOWN, times=3)  # accepted and dropped: nothing arrives
    assert story.verdicts[-3:] == ["fail", "fail", "fail"]
    assert statuses(cluster_a)[-1] == "major_outage"

    story.sample(HEALTHY, times=3)
    assert statuses(cluster_a)[-1] == "operational"
    assert story.incident.status == "monitoring"

    story.wait(16)
    story.sample(HEALTHY)
    assert story.incident.status == "resolved"

    story.wait(10)  # 2:04 PM: the delays are back within the reopen window
    story.sample(delayed(1.5), times=2)
    assert story.verdicts[-2:] == ["slow", "slow"]
    assert story.incident.pk == opened.pk  # the same incident, reopened
    assert story.incident.status == "investigating"
    assert story.incident.updates.filter(reopened=True).exists()
    assert statuses(cluster_a) == [
        "degraded_performance", "major_outage", "operational", "degraded_performance",
    ]  # fmt: skip
