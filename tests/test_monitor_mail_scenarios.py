"""The Cluster A story end to end: a mail round-trip monitor over a real MX and Dovecot.

Every sample is a real probe run (aiosmtpd MX relaying into Dovecot on 127.0.0.1, in the
scenario the test switches to); the clock the automation sees is injected, two minutes
per sample, so the 15-minute quiet period and the 30-minute reopen window need no sleeps.
Each sample records its verdict, its reason and what automation did to the incident
(``open``, ``escalate``, ``monitor``, ``resolve``, ``reopen`` or ``none``).
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
from heliograph.incidents.models import Incident, IncidentUpdate
from heliograph.monitors import automation
from heliograph.monitors.models import Monitor
from heliograph.monitors.probes import mail_roundtrip
from heliograph.monitors.probes.base import Result
from tests.support.mail_path import DOWN, HEALTHY, MailPath, Scenario, delayed, looping, mail_path

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
        self.reasons: list[str] = []
        self.actions: list[str] = []
        self.incidents: set[str] = set()  # every incident automation acted on

    def sample(self, scenario: Scenario, times: int = 1) -> None:
        self.path.scenario = scenario
        for _ in range(times):
            self.now += SAMPLE
            spec = self.path.spec(timeout=8, **FAST)
            result: Result = asyncio.run(mail_roundtrip.probe(spec))
            self.verdicts.append(result.verdict)
            self.reasons.append(result.reason)
            outcome = automation.apply_result(monitor=self.monitor, result=result, now=self.now)
            self.actions.append(str(outcome.action))
            if outcome.incident is not None:
                self.incidents.add(outcome.incident.pk)
            self.path.wait_idle()
            self.path.clear()

    def wait(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @property
    def incident(self) -> Incident:
        self.monitor.refresh_from_db()
        assert self.monitor.incident is not None
        return self.monitor.incident

    def latest_update(self) -> IncidentUpdate:
        found = self.incident.updates.order_by("-display_at", "-created_at").first()
        assert found is not None
        return found


def statuses(component: Component) -> list[str]:
    return [c.new_status for c in component.status_changes.filter(source="monitor")]


def problems(reason: str) -> list[str]:
    """What made a delivered canary slow besides its delivery time ("; "-separated)."""
    return reason.split("; ")[1:]


def test_it_tells_the_whole_cluster_a_story_from_real_mail(
    shared_path: MailPath, cluster_a: Component
) -> None:
    start = timezone.now() - timedelta(hours=3)
    rollout = incidents.record_change(
        page=cluster_a.page,
        title="rspamd filter rollout",
        components=[cluster_a],
        at=start + timedelta(minutes=1),
        source="config",
    )
    monitor = Monitor.objects.create(
        page=cluster_a.page,
        component=cluster_a,
        name="Inbound — Cluster A",
        kind="mail_roundtrip",
        config=shared_path.probe_config(**FAST),
        secrets=shared_path.probe_secrets(),
        automation="publish",
        timeout_seconds=8,
    )
    story = Story(shared_path, monitor, start)

    story.sample(HEALTHY)
    assert (story.verdicts, story.actions, statuses(cluster_a)) == (["ok"], ["none"], [])

    # The filter loop. First every pass delivers a copy: 3 copies (3 hops: within 1 + 5).
    story.sample(looping(3))
    assert story.verdicts[-1] == "slow"
    assert problems(story.reasons[-1]) == ["3 copies arrived (a mail loop?)"]
    # Then the loop lets a single copy out, 8 Received hops deep: the hop rule alone.
    story.sample(looping(8, each_pass=False))
    assert story.verdicts[-1] == "slow", story.reasons[-1]
    assert "slow (≥" not in story.reasons[-1]  # not slow for its delivery time
    assert problems(story.reasons[-1]) == ["8 Received hops, more than the healthy 1 + 5"]
    assert story.actions[-2:] == ["none", "open"]  # two slow samples in a row
    assert statuses(cluster_a) == ["degraded_performance"]
    opened = story.incident
    assert opened.status == "investigating" and not opened.draft
    assert opened.impact == "minor"
    assert opened.name == "Inbound mail delays — Cluster A"
    opening = story.latest_update().body
    assert "arrives late or more than once while it is processed" in opening
    assert "hops" not in opening and "@" not in opening and "127.0.0.1" not in opening
    # The evidence and the change just before are the responders'.
    [step] = automation.evidence(opened)
    assert "check: slow — delivered in" in step["lines"][0]
    assert "8 Received hops, more than the healthy 1 + 5" in step["lines"][0]
    assert {"hops: 8", "copies: 1"} <= set(step["lines"])
    assert any(rollout.title in line for line in step["lines"])

    # The relay accepts and drops: the third failure in a row is an outage, and automation
    # escalates the open incident with an update of its own.
    story.sample(DOWN, times=3)
    assert story.verdicts[-3:] == ["fail", "fail", "fail"]
    assert story.actions[-3:] == ["none", "none", "escalate"]
    assert statuses(cluster_a) == ["degraded_performance", "major_outage"]
    escalated = story.latest_update()
    assert escalated.status == "investigating"
    assert escalated.body.startswith("Since ") and escalated.body.endswith(
        "inbound mail to Cluster A is not being delivered; senders' servers retry, so "
        "messages arrive late rather than being lost. We are working on it."
    )
    assert story.incident.name == "Inbound mail outage — Cluster A"
    assert escalated.affected_components == [
        {
            "code": cluster_a.pk,
            "name": cluster_a.name,
            "old_status": "degraded_performance",
            "new_status": "major_outage",
        },
    ]
    outage = cluster_a.status_changes.get(new_status="major_outage")
    assert (outage.incident_id, outage.actor) == (opened.pk, "monitor:Inbound — Cluster A")
    assert story.incident.impact == "critical"
    assert story.incident.updates.count() == 2  # opened, escalated

    story.sample(HEALTHY, times=3)
    assert story.actions[-3:] == ["none", "none", "monitor"]  # three ok samples in a row
    assert statuses(cluster_a)[-1] == "operational"
    assert story.incident.status == "monitoring"

    story.wait(16)
    story.sample(HEALTHY)
    assert story.actions[-1] == "resolve"
    assert story.incident.status == "resolved"

    story.wait(10)  # 2:04 PM: the delays are back within the reopen window
    story.sample(delayed(1.5), times=2)
    assert story.verdicts[-2:] == ["slow", "slow"]
    assert story.actions[-2:] == ["none", "reopen"]
    assert story.incident.pk == opened.pk  # the same incident, reopened
    assert story.incident.status == "investigating"
    assert story.incident.updates.filter(reopened=True).exists()

    # Delayed, then down: the reopened incident escalates as well.
    story.sample(DOWN, times=3)
    assert story.actions[-3:] == ["none", "none", "escalate"]
    again = story.latest_update()
    assert again.status == "investigating" and not again.reopened
    assert "inbound mail to Cluster A is not being delivered" in again.body
    assert story.incident.impact == "critical"

    assert story.verdicts == [
        "ok",
        "slow",
        "slow",
        "fail",
        "fail",
        "fail",
        "ok",
        "ok",
        "ok",
        "ok",
        "slow",
        "slow",
        "fail",
        "fail",
        "fail",
    ]
    assert story.actions == [
        "none",
        "none",
        "open",
        "none",
        "none",
        "escalate",
        "none",
        "none",
        "monitor",
        "resolve",
        "none",
        "reopen",
        "none",
        "none",
        "escalate",
    ]
    assert statuses(cluster_a) == [
        "degraded_performance",
        "major_outage",
        "operational",
        "degraded_performance",
        "major_outage",
    ]
    assert story.incidents == {opened.pk}  # one incident, never a second one
    assert [u.status for u in story.incident.updates.order_by("display_at", "created_at")] == [
        "investigating",
        "investigating",
        "monitoring",
        "resolved",
        "investigating",
        "investigating",
    ]
