"""Applying probe results: the Cluster A story, told by a monitor with an injected clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page, StatusChange
from heliograph.catalog.status import DEGRADED, MAINTENANCE, MAJOR, OPERATIONAL, PARTIAL
from heliograph.incidents import maintenance as mt
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.monitors import automation, correlation
from heliograph.monitors.automation import Outcome, apply_result
from heliograph.monitors.evaluator import Action
from heliograph.monitors.models import IncidentAutomation, MetricPoint, Monitor, ProbeResult
from heliograph.monitors.probes.base import Result
from heliograph.publish.world import load_world
from tests.support.world import make_user

# The real incident: inbound delays on Cluster A from 11:57 AM ET (15:57 UTC), but in 2026.
T0 = datetime(2026, 7, 8, 15, 57, tzinfo=UTC)
SLOW = Result(
    "slow",
    "delivery took 187 s (slow ≥ 120 s)",
    values={"delivery_seconds": 187.0, "hops": 9, "copies": 1},
    details={"message_id": "<probe-1@heliograph.test>", "received": ["mx1", "rspamd", "mx1"]},
)
FAIL = Result("fail", "the probe message did not arrive within 600 s", values={"hops": 0})
OK = Result("ok", "delivered in 4 s", values={"delivery_seconds": 4.0, "hops": 4, "copies": 1})
HOLD = Result("hold", "delivered in 80 s", values={"delivery_seconds": 80.0})
UNKNOWN = Result("unknown", "the prober's IMAP login failed")
BY_VERDICT = {r.verdict: r for r in (SLOW, FAIL, OK, HOLD, UNKNOWN)}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def make_monitor(
    page: Page,
    component: Component,
    *,
    name: str = "Inbound mail delays",
    automation: str = "publish",
    kind: str = "mail_roundtrip",
    **fields: Any,
) -> Monitor:
    return Monitor.objects.create(
        page=page,
        name=name,
        kind=kind,
        **fields,
        config={},
        component=component,
        automation=automation,
        created_at=at(-60),
    )


def feed(monitor: Monitor, verdicts: Iterable[str], start: float) -> Outcome:
    """One sample a minute from ``start``; the last outcome."""
    outcome = None
    for i, verdict in enumerate(verdicts):
        outcome = apply_result(monitor=monitor, result=BY_VERDICT[verdict], now=at(start + i))
    assert outcome is not None
    return outcome


def status_of(component: Component) -> str:
    component.refresh_from_db()
    return component.status


def automated(incident: Incident) -> list[tuple[str, bool]]:
    """(status, reopened) of each update, oldest first."""
    return [(u.status, u.reopened) for u in incident.updates.order_by("display_at", "created_at")]


@pytest.fixture
def rspam_upgrade(page: Page, cluster_a: Component) -> Incident:
    """A planned maintenance on Cluster A that began 3 minutes before the trouble showed."""
    m = incidents.schedule_maintenance(
        page=page,
        name="rspam upgrade",
        body="Upgrading rspam.",
        at=at(-600),
        scheduled_for=at(-2),
        scheduled_until=at(-1),
        components=[cluster_a],
    )
    mt.run_due(now=at(-2))
    assert status_of(cluster_a) == MAINTENANCE
    mt.run_due(now=at(-1))
    assert status_of(cluster_a) == OPERATIONAL
    return m


# --- the whole story ------------------------------------------------------------------------


def test_the_cluster_a_story(page: Page, cluster_a: Component, rspam_upgrade: Incident) -> None:
    monitor = make_monitor(page, cluster_a)
    assert feed(monitor, ["slow"], 0).status == OPERATIONAL  # one bad sample changes nothing
    assert not Incident.objects.filter(kind="incident", started_at__gte=T0).exists()

    opened = feed(monitor, ["slow"], 1)
    incident = opened.incident
    assert (opened.action, status_of(cluster_a)) == (Action.OPEN, DEGRADED)
    assert incident is not None and not incident.draft
    assert incident.name == "Inbound mail delays — Cluster A"
    assert (incident.status, incident.impact, incident.started_at) == (
        "investigating",
        "minor",
        at(1),
    )
    # Customers read what they notice, in the page's zone and UTC; no probe mechanics.
    assert incident.updates.get().body == (
        "Since 11:58 AM EDT (15:58 UTC), inbound mail to Cluster A is delayed by about "
        "3 minutes. We are investigating and will post updates here."
    )
    # Responders get the evidence, and what changed shortly before.
    [opened_step] = automation.evidence(incident)
    assert opened_step["suggestion"] == "Opened the incident"
    assert {"delivery seconds: 187", "hops: 9", "copies: 1", "received: 3"} <= set(
        opened_step["lines"]
    )
    assert any(
        'began 3 minutes after maintenance "rspam upgrade" started' in line
        for line in opened_step["lines"]
    )
    monitor.refresh_from_db()
    assert monitor.incident_id == incident.pk

    escalated = feed(monitor, ["fail", "fail", "fail"], 2)
    assert (escalated.action, status_of(cluster_a)) == (Action.ESCALATE, MAJOR)
    incident.refresh_from_db()
    assert (incident.impact, incident.name) == ("critical", "Inbound mail outage — Cluster A")
    titles = IncidentAutomation.objects.get(incident=incident).titles
    assert [t["title"] for t in titles] == [
        "Inbound mail delays — Cluster A",
        "Inbound mail outage — Cluster A",
    ]
    # Responders see every step with its evidence, and the titles it had.
    shown = Client()
    shown.force_login(make_user("viewer"))
    console = shown.get(f"/console/incidents/{incident.pk}").content.decode()
    assert "Opened the incident" in console and "<li>delivery seconds: 187</li>" in console
    assert "Inbound mail delays — Cluster A → Inbound mail outage — Cluster A" in console

    recovered = feed(monitor, ["ok", "ok", "ok"], 5)
    assert (recovered.action, status_of(cluster_a)) == (Action.MONITOR, OPERATIONAL)
    incident.refresh_from_db()
    assert (incident.status, incident.monitoring_at) == ("monitoring", at(7))

    assert feed(monitor, ["ok"] * 14, 8).action is Action.NONE  # 14 quiet minutes: not yet
    assert feed(monitor, ["ok"], 22).action is Action.RESOLVE
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at) == ("resolved", at(22))

    # 2:04 PM: it comes back 19 minutes after the resolution — the same incident recurs.
    again = feed(monitor, ["slow", "slow"], 40)
    assert (again.action, again.incident, status_of(cluster_a)) == (
        Action.REOPEN,
        incident,
        DEGRADED,
    )
    incident.refresh_from_db()
    assert incident.status == "investigating"
    assert automated(incident) == [
        ("investigating", False),
        ("investigating", False),
        ("monitoring", False),
        ("resolved", False),
        ("investigating", True),
    ]
    assert "came back 19 minutes after it was resolved" in incident.updates.first().body


def test_every_status_it_writes_comes_from_the_monitor(
    page: Page, cluster_a: Component, rspam_upgrade: Incident
) -> None:
    monitor = make_monitor(page, cluster_a)
    feed(monitor, ["slow", "slow", "fail", "fail", "fail", "ok", "ok", "ok"], 0)
    written = StatusChange.objects.filter(component=cluster_a, at__gte=T0)
    assert [(c.new_status, c.source, c.actor) for c in written] == [
        (DEGRADED, "monitor", "monitor:Inbound mail delays"),
        (MAJOR, "monitor", "monitor:Inbound mail delays"),
        (OPERATIONAL, "monitor", "monitor:Inbound mail delays"),
    ]
    incident = Incident.objects.get(monitors=monitor)
    assert {c.incident_id for c in written} == {incident.pk}  # its impact window
    first = incident.updates.order_by("display_at").first()
    assert first.affected_components == [
        {
            "code": cluster_a.pk,
            "name": "Cluster A",
            "old_status": OPERATIONAL,
            "new_status": DEGRADED,
        }
    ]


def test_after_the_reopen_window_it_opens_a_new_incident(page: Page, cluster_a: Component) -> None:
    monitor = make_monitor(page, cluster_a)
    first = feed(monitor, ["slow", "slow", "ok", "ok", "ok"], 0).incident
    assert feed(monitor, ["ok"], 19).action is Action.RESOLVE  # 15 min after monitoring at 4
    later = feed(monitor, ["slow", "slow"], 19 + 31)
    assert later.action is Action.OPEN and later.incident != first
    assert first is not None and first.recurrences.count() == 0
    first.refresh_from_db()
    assert first.status == "resolved"


def test_draft_automation_opens_an_incident_for_responders_only(
    page: Page, cluster_a: Component
) -> None:
    monitor = make_monitor(page, cluster_a, automation="draft")
    incident = feed(monitor, ["fail", "fail"], 0).incident
    assert incident is not None and incident.draft
    assert incident.name == "Inbound mail delays — Cluster A"
    assert status_of(cluster_a) == DEGRADED
    assert feed(monitor, ["fail"], 2).action is Action.ESCALATE
    incident.refresh_from_db()
    assert incident.name == "Inbound mail outage — Cluster A"
    world = load_world(page, now=at(3))
    assert incident.pk not in {i.pk for i in world.incidents}


def test_with_automation_off_it_only_moves_the_component(page: Page, cluster_a: Component) -> None:
    monitor = make_monitor(page, cluster_a, automation="off")
    outcome = feed(monitor, ["fail", "fail", "fail"], 0)
    assert (outcome.action, outcome.incident, status_of(cluster_a)) == (Action.NONE, None, MAJOR)
    assert not Incident.objects.filter(kind="incident", started_at__gte=T0).exists()


# --- several paths --------------------------------------------------------------------------


def test_one_path_down_of_two_is_a_partial_outage(page: Page, cluster_a: Component) -> None:
    mx1 = make_monitor(page, cluster_a, name="Inbound via mx1")
    mx2 = make_monitor(page, cluster_a, name="Inbound via mx2")
    feed(mx2, ["ok"], 0)
    feed(mx1, ["fail", "fail"], 0)
    assert status_of(cluster_a) == DEGRADED
    outcome = feed(mx1, ["fail"], 2)
    assert (outcome.status, status_of(cluster_a)) == (PARTIAL, PARTIAL)
    incident = outcome.incident
    assert incident is not None and incident.name == "Partial inbound mail outage — Cluster A"
    both = feed(mx2, ["fail", "fail", "fail"], 3)
    assert (both.action, both.incident, status_of(cluster_a)) == (Action.ESCALATE, incident, MAJOR)
    incident.refresh_from_db()
    assert incident.name == "Inbound mail outage — Cluster A"
    mx2.refresh_from_db()
    assert mx2.incident_id == incident.pk  # one incident per component, whichever path saw it


def test_a_paused_or_silent_path_does_not_count(page: Page, cluster_a: Component) -> None:
    mx1 = make_monitor(page, cluster_a, name="Inbound via mx1")
    make_monitor(page, cluster_a, name="Inbound via mx2")  # never ran: no opinion
    paused = make_monitor(page, cluster_a, name="Inbound via mx3")
    feed(paused, ["ok"], 0)
    Monitor.objects.filter(pk=paused.pk).update(paused=True)
    assert feed(mx1, ["fail", "fail", "fail"], 0).status == MAJOR


# --- paths and signals ----------------------------------------------------------------------


def cluster_a_monitors(page: Page, cluster_a: Component, **loop: Any) -> list[Monitor]:
    """The README's monitors of Cluster A: the MX and the round trip (paths), and the rspamd
    loop check (a signal by its kind, unless ``loop`` says otherwise)."""
    return [
        make_monitor(page, cluster_a, name="MX — Cluster A", kind="smtp"),
        make_monitor(page, cluster_a, name="Inbound — Cluster A", kind="mail_roundtrip"),
        make_monitor(
            page, cluster_a, name="Filter loop — Cluster A", kind="rspamd", automation="off", **loop
        ),
    ]


def test_it_shows_a_major_outage_when_every_path_fails_though_the_loop_check_is_fine(
    page: Page, cluster_a: Component
) -> None:
    mx, trip, loop = cluster_a_monitors(page, cluster_a)
    for minute in range(3):  # the verdicts: MX fail, round trip fail, filter loop ok
        apply_result(monitor=loop, result=OK, now=at(minute))
        apply_result(monitor=mx, result=FAIL, now=at(minute))
        last = apply_result(monitor=trip, result=FAIL, now=at(minute + 0.5))
    assert (last.status, status_of(cluster_a)) == (MAJOR, MAJOR)
    assert last.incident is not None and last.incident.impact == "critical"
    # Counted as a path, the loop check would still say some mail gets through (the bug).
    Monitor.objects.filter(pk=loop.pk).update(role="path")
    assert feed(trip, ["fail"], 4).status == PARTIAL


def test_it_lets_a_signal_make_the_component_worse_and_never_better(
    page: Page, cluster_a: Component
) -> None:
    mx, trip, loop = cluster_a_monitors(page, cluster_a, severity=PARTIAL)
    feed(mx, ["ok"], 0)
    feed(trip, ["ok"], 0)
    assert feed(loop, ["slow"], 1).status == OPERATIONAL  # one sample: nothing yet
    assert (feed(loop, ["slow"], 2).status, status_of(cluster_a)) == (PARTIAL, PARTIAL)
    assert feed(mx, ["slow", "slow"], 3).status == PARTIAL  # the worse of the two
    assert feed(mx, ["ok", "ok", "ok"], 5).status == PARTIAL  # the loop still says so
    assert feed(loop, ["ok", "ok", "ok"], 8).status == OPERATIONAL
    assert feed(loop, ["fail"] * 3, 11).status == PARTIAL  # down or degraded: its severity


# --- what never changes the status ---------------------------------------------------------


def test_unknown_changes_nothing_but_alerts_the_operators(page: Page, cluster_a: Component) -> None:
    monitor = make_monitor(page, cluster_a)
    feed(monitor, ["slow", "slow"], 0)
    changes = StatusChange.objects.count()
    updates = Incident.objects.get(monitors=monitor).updates.count()
    outcome = feed(monitor, ["unknown"] * 5, 2)
    assert (outcome.status, status_of(cluster_a), outcome.action) == (
        DEGRADED,
        DEGRADED,
        Action.NONE,
    )
    assert StatusChange.objects.count() == changes
    assert Incident.objects.get(monitors=monitor).updates.count() == updates
    monitor.refresh_from_db()
    assert monitor.state["alert"] and monitor.last_verdict == "unknown"
    feed(monitor, ["hold"], 7)
    monitor.refresh_from_db()
    assert not monitor.state["alert"] and status_of(cluster_a) == DEGRADED


def test_probes_never_move_a_component_under_maintenance(page: Page, cluster_a: Component) -> None:
    m = incidents.schedule_maintenance(
        page=page,
        name="MX swap",
        body="Swapping MX hosts.",
        at=at(-600),
        scheduled_for=at(-1),
        scheduled_until=at(10),
        components=[cluster_a],
    )
    mt.run_due(now=at(-1))
    monitor = make_monitor(page, cluster_a)
    outcome = feed(monitor, ["fail"] * 5, 0)
    assert (outcome.status, outcome.action, status_of(cluster_a)) == (
        None,
        Action.NONE,
        MAINTENANCE,
    )
    assert not StatusChange.objects.filter(source="monitor").exists()
    # The window ends with the path still down: now it counts, and the change is named.
    mt.run_due(now=at(10))
    after = feed(monitor, ["fail"], 11)
    assert (after.action, status_of(cluster_a)) == (Action.OPEN, MAJOR)
    assert after.incident is not None
    [opened] = automation.evidence(after.incident)
    assert any('maintenance "MX swap" started' in line for line in opened["lines"])
    assert m.pk


# --- never fight a human --------------------------------------------------------------------


def test_once_a_human_posts_automation_only_adds_evidence(
    page: Page, cluster_a: Component, as_role: Callable[[str], Client]
) -> None:
    monitor = make_monitor(page, cluster_a)
    incident = feed(monitor, ["slow", "slow"], 0).incident
    assert incident is not None
    incidents.post_update(
        incident=incident,
        status="identified",
        body="An rspam loop; reverting.",
        at=at(2),
        actor="user:alice",
    )
    worse = feed(monitor, ["fail", "fail", "fail"], 3)
    assert (worse.action, status_of(cluster_a)) == (Action.NONE, MAJOR)  # status, no update
    calm = feed(monitor, ["ok", "ok", "ok"], 6)
    assert (calm.action, status_of(cluster_a)) == (Action.NONE, OPERATIONAL)
    feed(monitor, ["ok"] * 16, 9)
    incident.refresh_from_db()
    assert incident.status == "identified" and incident.updates.count() == 2
    suggestions = [e["suggestion"] for e in automation.evidence(incident)]
    assert suggestions == [
        "Opened the incident",
        "Hosted Email (Cluster A) looks worse (major outage): consider escalating",
        "Hosted Email (Cluster A) looks operational again: consider monitoring",
        "Hosted Email (Cluster A) looks operational for 15 minutes: consider resolving",
    ]
    entry = automation.evidence(incident)[1]
    assert (entry["verdict"], entry["monitor"], entry["at"]) == (
        "fail",
        "Inbound mail delays",
        at(5).isoformat(),
    )
    # Responders read them on the incident's console page, newest first.
    shown = as_role("viewer").get(f"/console/incidents/{incident.pk}").content.decode()
    assert "What the monitors saw" in shown
    assert shown.index("consider resolving") < shown.index("consider escalating")
    assert "Inbound mail delays: fail" in shown
    # A responder's metadata edit keeps the monitors' notes.
    incidents.update_incident(incident=incident, metadata={"ops": {"ticket": "OPS-1"}})
    assert len(automation.evidence(incident)) == 4


@pytest.mark.parametrize(("mode", "reopens"), [("publish", True), ("draft", False)])
def test_a_recurrence_reopens_what_the_responders_resolved_when_the_monitor_may_publish(
    page: Page, cluster_a: Component, mode: str, reopens: bool
) -> None:
    monitor = make_monitor(page, cluster_a, automation=mode)
    incident = feed(monitor, ["slow", "slow"], 0).incident
    assert incident is not None
    if incident.draft:
        incidents.publish_draft(incident=incident, actor="user:alice")
    incidents.post_update(
        incident=incident,
        status="resolved",
        body="Reverted the filter rules.",
        at=at(3),
        actor="user:alice",
    )
    feed(monitor, ["ok", "ok", "ok"], 4)
    back = feed(monitor, ["slow", "slow"], 20)  # degraded 18 minutes after their resolution
    incident.refresh_from_db()
    if not reopens:  # a draft monitor never changes what the public sees
        assert (back.action, incident.status) == (Action.NONE, "resolved")
        assert "consider reopening" in automation.evidence(incident)[-1]["suggestion"]
        return
    assert (back.action, incident.status) == (Action.REOPEN, "investigating")
    assert "came back 18 minutes after it was resolved" in incident.updates.first().body
    # The responders handle it from here: the monitors suggest, they do not post.
    assert feed(monitor, ["ok", "ok", "ok"], 22).action is Action.NONE
    incident.refresh_from_db()
    assert incident.status == "investigating"


def test_a_status_set_by_hand_stands_until_the_monitors_agree(
    page: Page, cluster_a: Component, as_role: Callable[[str], Client]
) -> None:
    monitor = make_monitor(page, cluster_a, automation="off")
    feed(monitor, ["slow", "slow"], 0)
    catalog.set_component_status(
        component=cluster_a, status=MAJOR, at=at(2), source="manual", actor="user:alice"
    )
    held = feed(monitor, ["ok", "ok", "ok"], 3)
    assert (held.held, held.status, status_of(cluster_a)) == (True, OPERATIONAL, MAJOR)
    monitor.refresh_from_db()
    assert "set by hand to major outage" in monitor.state["notes"][-1]["suggestion"]
    shown = as_role("viewer").get(f"/console/monitors/{monitor.pk}").content.decode()
    assert "Notes" in shown and "set by hand to major outage" in shown
    # The responder agrees and sets it operational: the monitors take over again.
    catalog.set_component_status(
        component=cluster_a, status=OPERATIONAL, at=at(6), source="manual", actor="user:alice"
    )
    assert not feed(monitor, ["ok"], 7).held
    assert feed(monitor, ["slow", "slow"], 8).status == DEGRADED
    assert status_of(cluster_a) == DEGRADED


def test_old_history_does_not_hold_a_new_monitor(page: Page, cluster_a: Component) -> None:
    """The example's 2021 timeline was recorded by hand; a new monitor is not bound by it."""
    assert StatusChange.objects.filter(component=cluster_a).latest("at").source == "import"
    monitor = make_monitor(page, cluster_a, automation="off")
    assert not feed(monitor, ["slow", "slow"], 0).held
    assert status_of(cluster_a) == DEGRADED


# --- what is kept ---------------------------------------------------------------------------


def test_it_keeps_the_result_and_its_numbers(page: Page, cluster_a: Component) -> None:
    monitor = make_monitor(page, cluster_a)
    odd = Result(
        "ok", "fine", values={"latency_ms": 12.5, "broken": float("nan")}, details={"when": at(0)}
    )
    automation.apply(monitor, odd, at(0), 3.0, 12.0)
    row = ProbeResult.objects.get(monitor=monitor)
    assert (row.verdict, row.values, row.lag_ms, row.duration_ms) == (
        "ok",
        {"latency_ms": 12.5},
        3.0,
        12.0,
    )
    assert row.details == {"when": str(at(0))}
    [point] = MetricPoint.objects.filter(monitor=monitor)
    assert (point.name, point.value, point.low, point.high, point.at) == (
        "latency_ms",
        12.5,
        12.5,
        12.5,
        at(0),
    )
    monitor.refresh_from_db()
    assert (monitor.last_run_at, monitor.last_verdict, monitor.last_reason) == (at(0), "ok", "fine")
    assert monitor.state["status"] == "operational" and monitor.state["known"]


def test_a_monitor_without_a_component_only_records(page: Page) -> None:
    monitor = Monitor.objects.create(page=page, name="Loose", kind="http", config={})
    outcome = feed(monitor, ["fail", "fail", "fail"], 0)
    assert (outcome.status, outcome.path.status) == (None, "down")
    assert ProbeResult.objects.filter(monitor=monitor).count() == 3


# --- change correlation --------------------------------------------------------------------


def test_correlation_lists_changes_and_maintenances_newest_first(
    page: Page, cluster_a: Component, rspam_upgrade: Incident
) -> None:
    incidents.record_change(
        page=page, title="rspamd config 4.2", components=[cluster_a], at=at(-90), source="config"
    )
    incidents.record_change(page=page, title="Webmail deploy", at=at(-30))  # no component
    incidents.record_change(
        page=page, title="Ancient deploy", components=[cluster_a], at=at(-7 * 60)
    )
    assert correlation.lines(page=page, components=[cluster_a], start=at(1)) == [
        'began 3 minutes after maintenance "rspam upgrade" started (Jul 08, 2026 - 15:55 UTC)',
        'began 1 hour 31 minutes after config "rspamd config 4.2" (Jul 08, 2026 - 14:27 UTC)',
    ]
    assert correlation.lines(page=page, components=[cluster_a], start=at(-500)) == []


def test_a_result_from_a_clock_behind_still_escalates(page: Page, cluster_a: Component) -> None:
    """Two workers' clocks differ: an update never lands before the incident's last one."""
    monitor = make_monitor(page, cluster_a)
    incident = feed(monitor, ["fail", "fail"], 1).incident
    assert incident is not None
    late = apply_result(monitor=monitor, result=FAIL, now=at(1.5))
    assert (late.action, status_of(cluster_a)) == (Action.ESCALATE, MAJOR)
    assert incident.updates.order_by("-display_at").first().display_at == at(2)
    assert ProbeResult.objects.filter(monitor=monitor).count() == 3


def test_a_path_without_automation_feeds_the_open_incidents_timeline(
    page: Page, cluster_a: Component
) -> None:
    mx1 = make_monitor(page, cluster_a, name="Inbound via mx1")
    mx2 = make_monitor(page, cluster_a, name="Inbound via mx2", automation="off")
    incident = feed(mx1, ["fail", "fail"], 0).incident
    assert incident is not None
    outcome = feed(mx2, ["fail", "fail", "fail"], 2)
    assert (outcome.action, status_of(cluster_a)) == (Action.NONE, PARTIAL)
    change = StatusChange.objects.filter(component=cluster_a).latest("at")
    assert (change.new_status, change.actor, change.incident_id) == (
        PARTIAL,
        "monitor:Inbound via mx2",
        incident.pk,
    )
    assert incident.updates.count() == 1  # only the opening: mx2 posts nothing
