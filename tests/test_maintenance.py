"""Maintenance windows run by the clock: reminder, start, completion, overrun.

Every test injects the clock (``run_due(now=...)``), so nothing sleeps.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from heliograph.audit.models import AuditEvent
from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED, MAINTENANCE, MAJOR, OPERATIONAL
from heliograph.incidents import maintenance as mt
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from heliograph.publish import v2json
from heliograph.publish.world import load_world
from tests.support.state import database_state
from tests.support.world import NOW

START = NOW + timedelta(hours=2)
END = START + timedelta(hours=2)
MINUTE = timedelta(minutes=1)


def schedule(page: Page, components: list[Component], **flags: Any) -> Incident:
    m = incidents.schedule_maintenance(
        page=page,
        name="Cluster A - MX upgrade",
        body="Upgrading MX hosts.",
        scheduled_for=START,
        scheduled_until=END,
        components=components,
        at=NOW,
    )
    if flags:
        Incident.objects.filter(pk=m.pk).update(**flags)
        m.refresh_from_db()
    return m


def public(page: Page, path: str, now: datetime) -> Any:
    return json.loads(v2json.render(load_world(page, now=now))[f"/api/v2/{path}"][1])


def fresh(obj: Any) -> Any:
    obj.refresh_from_db()
    return obj


@pytest.fixture
def cluster_b(page: Page) -> Component:
    return catalog.create_component(page=page, name="Cluster B", group=page.groups.get())


@pytest.fixture
def upgrade(page: Page, cluster_a: Component) -> Incident:
    return schedule(page, [cluster_a])


# --- on time -------------------------------------------------------------------------------


def test_it_starts_and_completes_a_maintenance_on_time(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    assert mt.run_due(now=START - MINUTE) == 0
    assert fresh(upgrade).status == "scheduled"

    assert mt.run_due(now=START) == 1
    assert fresh(upgrade).status == "in_progress"
    assert fresh(cluster_a).status == MAINTENANCE
    change = cluster_a.status_changes.latest("at")
    assert (change.source, change.incident_id, change.at) == ("maintenance", upgrade.pk, START)
    during = public(page, "summary.json", START)
    assert during["status"]["description"] == "Service Under Maintenance"
    assert [m["status"] for m in during["scheduled_maintenances"]] == ["in_progress"]
    update = upgrade.updates.get(status="in_progress")
    assert update.affected_components == [
        {
            "code": cluster_a.pk,
            "name": "Cluster A",
            "old_status": OPERATIONAL,
            "new_status": MAINTENANCE,
        },
    ]

    assert mt.run_due(now=END) == 1
    assert (fresh(upgrade).status, upgrade.resolved_at) == ("completed", END)
    assert fresh(cluster_a).status == OPERATIONAL
    assert cluster_a.status_changes.latest("at").source == "maintenance"
    after = public(page, "summary.json", END)
    assert after["status"]["description"] == "All Systems Operational"
    assert after["scheduled_maintenances"] == []
    assert mt.overruns(page=page, now=END) == []
    assert [
        e.action
        for e in AuditEvent.objects.filter(target_id=upgrade.pk, actor="worker").order_by("id")
    ] == ["maintenance.start", "maintenance.complete"]


def test_it_restores_each_component_to_what_it_was(
    page: Page, cluster_a: Component, cluster_b: Component
) -> None:
    catalog.set_component_status(component=cluster_a, status=DEGRADED, at=NOW)
    upgrade = schedule(page, [cluster_a, cluster_b])
    mt.run_due(now=START)
    # Degraded outranks a maintenance window: it stays shown (docs/architecture.md).
    assert (fresh(cluster_a).status, fresh(cluster_b).status) == (DEGRADED, MAINTENANCE)
    mt.run_due(now=END)
    assert (fresh(cluster_a).status, fresh(cluster_b).status) == (DEGRADED, OPERATIONAL)
    assert fresh(upgrade).status == "completed"
    # Degraded before it started is not the maintenance's doing: no overrun.
    assert mt.overruns(page=page, now=END) == []


def test_it_leaves_a_status_a_human_set_during_the_window(
    page: Page, cluster_a: Component, cluster_b: Component
) -> None:
    upgrade = schedule(page, [cluster_a, cluster_b])
    mt.run_due(now=START)
    catalog.set_component_status(component=cluster_a, status=MAJOR, at=START + MINUTE)
    assert mt.run_due(now=END) == 2  # the completion, and the overrun it leaves
    assert (fresh(cluster_a).status, fresh(cluster_b).status) == (MAJOR, OPERATIONAL)
    completed = upgrade.updates.get(status="completed")
    assert [a["name"] for a in completed.affected_components] == ["Cluster B"]
    [overrun] = mt.overruns(page=page, now=END + MINUTE)
    assert (overrun.maintenance, overrun.components) == (upgrade, [cluster_a])
    assert (overrun.window_ended_at, overrun.incident) == (END, None)


def test_it_restores_components_after_a_completion_posted_as_a_plain_update(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    mt.run_due(now=START)
    done = START + timedelta(minutes=30)
    incidents.post_update(incident=fresh(upgrade), status="completed", body="Done early.", at=done)
    assert fresh(cluster_a).status == MAINTENANCE
    assert mt.run_due(now=done + MINUTE) == 1
    assert fresh(cluster_a).status == OPERATIONAL
    assert cluster_a.status_changes.latest("at").at == done
    assert mt.run_due(now=done + 2 * MINUTE) == 0
    assert fresh(upgrade).updates.count() == 3  # nothing posted on the responder's behalf


def test_it_runs_a_window_the_worker_slept_through(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    assert mt.run_due(now=END + timedelta(hours=1)) == 2
    assert fresh(upgrade).status == "completed"
    assert fresh(cluster_a).status == OPERATIONAL
    assert list(upgrade.updates.order_by("display_at").values_list("status", flat=True)) == [
        "scheduled",
        "in_progress",
        "completed",
    ]


def test_it_does_each_step_once(page: Page, cluster_a: Component, upgrade: Incident) -> None:
    assert mt.run_due(now=START) == 1
    assert mt.run_due(now=START) == 0
    assert mt.run_due(now=START + MINUTE) == 0
    assert mt.run_due(now=END) == 1
    assert mt.run_due(now=END + MINUTE) == 0
    assert upgrade.updates.count() == 3
    assert cluster_a.status_changes.filter(source="maintenance").count() == 2


def test_it_keeps_a_component_under_an_overlapping_maintenance(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    inner = incidents.schedule_maintenance(
        page=page,
        name="Spam filter upgrade",
        body="b",
        scheduled_for=START + MINUTE,
        scheduled_until=END - MINUTE,
        components=[cluster_a],
        at=NOW,
    )
    outer = schedule(page, [cluster_a])
    Incident.objects.filter(pk=outer.pk).update(scheduled_until=END + timedelta(hours=1))
    Incident.objects.filter(pk=upgrade.pk).delete()
    mt.run_due(now=START + MINUTE)
    mt.run_due(now=END - MINUTE)  # the inner one ends; the outer one still holds it
    assert (fresh(inner).status, fresh(cluster_a).status) == ("completed", MAINTENANCE)
    mt.run_due(now=END + timedelta(hours=1))
    assert (fresh(outer).status, fresh(cluster_a).status) == ("completed", OPERATIONAL)


# --- reminders ------------------------------------------------------------------------------


def test_it_records_a_due_reminder_once_without_pretending_to_send_it(
    page: Page, cluster_a: Component, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mt, "REMINDER_HOOKS", [])  # no notification channel registered
    upgrade = schedule(page, [cluster_a], scheduled_remind_prior=True)
    assert mt.run_due(now=START - timedelta(hours=2)) == 0
    assert mt.run_due(now=START - timedelta(minutes=59)) == 1
    assert mt.run_due(now=START - timedelta(minutes=30)) == 0
    notes = mt.notes(fresh(upgrade))
    assert notes.reminder_due_at == START - timedelta(hours=1)
    assert notes.reminder_recorded_at == START - timedelta(minutes=59)
    assert notes.reminder_queued_by == ""  # no channel took it: nothing sent
    assert mt.reminded_at(upgrade) is None
    assert AuditEvent.objects.filter(action="maintenance.reminder").count() == 1
    assert upgrade.status == "scheduled"


def test_it_hands_a_due_reminder_to_the_notification_hook(
    page: Page, cluster_a: Component, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[tuple[str, datetime]] = []

    def outbox(maintenance: Incident, at: datetime) -> str:
        queued.append((maintenance.name, at))
        return "email"

    monkeypatch.setattr(mt, "REMINDER_HOOKS", [outbox])
    upgrade = schedule(page, [cluster_a], scheduled_remind_prior=True)
    mt.run_due(now=START - MINUTE)
    mt.run_due(now=START - MINUTE)
    assert queued == [("Cluster A - MX upgrade", START - MINUTE)]
    assert mt.notes(fresh(upgrade)).reminder_queued_by == "email"
    assert mt.reminded_at(upgrade) == START - MINUTE


def test_it_sends_no_reminder_unless_asked_or_once_started(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    assert mt.run_due(now=START - MINUTE) == 0
    late = schedule(page, [], scheduled_remind_prior=True, name="Late")
    mt.run_due(now=START)  # the worker was down during the hour before
    assert mt.notes(fresh(late)).reminder_recorded_at is None
    assert mt.notes(fresh(upgrade)).reminder_recorded_at is None


# --- by hand, and auto-transitions switched off ---------------------------------------------


def test_it_waits_for_a_human_when_auto_transitions_are_off(
    page: Page, cluster_a: Component
) -> None:
    upgrade = schedule(
        page, [cluster_a], scheduled_auto_in_progress=False, scheduled_auto_completed=False
    )
    assert mt.run_due(now=START) == 0
    mt.start_maintenance(maintenance=upgrade, at=START + MINUTE, actor="user:alice")
    assert (upgrade.status, fresh(cluster_a).status) == ("in_progress", MAINTENANCE)
    assert mt.run_due(now=END) == 1  # not completed: flagged as overrunning instead
    assert fresh(upgrade).status == "in_progress"
    [overrun] = mt.overruns(page=page, now=END)
    assert overrun.components == [cluster_a]
    mt.complete_maintenance(maintenance=upgrade, at=END + MINUTE, actor="user:alice")
    assert (upgrade.status, fresh(cluster_a).status) == ("completed", OPERATIONAL)
    assert mt.overruns(page=page, now=END + MINUTE) == []
    assert cluster_a.status_changes.latest("at").actor == "user:alice"


def test_it_starts_early_by_hand_and_the_record_says_when(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    early = START - timedelta(minutes=30)
    mt.start_maintenance(maintenance=upgrade, at=early)
    assert (upgrade.status, upgrade.started_at) == ("in_progress", early)
    assert mt.run_due(now=START) == 0
    mt.complete_maintenance(maintenance=upgrade, at=START + MINUTE)
    assert fresh(cluster_a).status == OPERATIONAL
    assert mt.run_due(now=END) == 0


def _start_with_cluster_a_down(m: Incident) -> None:
    mt.start_maintenance(maintenance=m, at=START)
    catalog.set_component_status(component=m.components.get(), status=MAJOR, at=START)


def bad_calls() -> dict[str, tuple[Any, Any]]:
    """Case → (what happens first, the refused call)."""
    started = lambda m: mt.start_maintenance(maintenance=m, at=START)  # noqa: E731
    return {
        "start an incident": (None, lambda m, i: mt.start_maintenance(maintenance=i)),
        "start twice": (started, lambda m, i: mt.start_maintenance(maintenance=m, at=START)),
        "complete before starting": (None, lambda m, i: mt.complete_maintenance(maintenance=m)),
        "complete an incident": (None, lambda m, i: mt.complete_maintenance(maintenance=i)),
        "start before it was scheduled": (
            None,
            lambda m, i: mt.start_maintenance(maintenance=m, at=NOW - MINUTE),
        ),
        "complete before it started": (
            started,
            lambda m, i: mt.complete_maintenance(maintenance=m, at=START - MINUTE),
        ),
        "open an overrun incident with no overrun": (
            None,
            lambda m, i: mt.open_overrun_incident(maintenance=m, at=END + MINUTE),
        ),
        "open an overrun incident before the window ended": (
            _start_with_cluster_a_down,
            lambda m, i: mt.open_overrun_incident(maintenance=m, at=END - MINUTE),
        ),
        "open an overrun incident for an incident": (
            None,
            lambda m, i: mt.open_overrun_incident(maintenance=i, at=END + MINUTE),
        ),
    }


@pytest.mark.parametrize("case", list(bad_calls()))
def test_it_refuses_a_wrong_transition_and_writes_nothing(
    case: str, upgrade: Incident, incident: Incident
) -> None:
    setup, call = bad_calls()[case]
    if setup:
        setup(upgrade)
    before = database_state(), AuditEvent.objects.count()
    with pytest.raises(InputError) as raised:
        call(upgrade, incident)
    assert str(raised.value) and "\n" not in str(raised.value)
    assert (database_state(), AuditEvent.objects.count()) == before


# --- overruns -------------------------------------------------------------------------------


def test_it_opens_an_incident_for_an_overrun_linked_to_the_maintenance(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    mt.run_due(now=START)
    catalog.set_component_status(component=cluster_a, status=MAJOR, at=START + MINUTE)
    mt.run_due(now=END)
    opened = mt.open_overrun_incident(maintenance=upgrade, actor="user:alice", at=END + MINUTE)
    assert opened.caused_by == upgrade
    assert list(opened.components.all()) == [cluster_a]
    assert (opened.status, opened.impact, opened.started_at) == ("investigating", "critical", END)
    assert "Cluster A - MX upgrade" in opened.name
    assert "Hosted Email (Cluster A)" in opened.updates.get().body
    [overrun] = mt.overruns(page=page, now=END + MINUTE)
    assert overrun.incident == opened
    unresolved = public(page, "incidents/unresolved.json", END + MINUTE)["incidents"]
    assert [i["id"] for i in unresolved] == [opened.pk]
    with pytest.raises(InputError, match="already open"):
        mt.open_overrun_incident(maintenance=upgrade, at=END + 2 * MINUTE)
    catalog.set_component_status(component=cluster_a, status=OPERATIONAL, at=END + 2 * MINUTE)
    assert mt.overruns(page=page, now=END + 2 * MINUTE) == []


def test_it_moves_components_when_a_responder_starts_and_completes_by_hand(page, cluster_a) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from heliograph.incidents.maintenance import post_any_update
    from heliograph.incidents.services import schedule_maintenance

    start = timezone.now() + timedelta(hours=1)
    maintenance = schedule_maintenance(
        page=page,
        name="Rspamd upgrade",
        body="Upgrading rspamd.",
        components=[cluster_a],
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=1),
    )
    post_any_update(incident=maintenance, status="in_progress", body="Starting now.")
    cluster_a.refresh_from_db()
    assert cluster_a.status == "under_maintenance"
    assert maintenance.updates.filter(body="Starting now.").exists()
    post_any_update(incident=maintenance, status="completed", body="All done.")
    cluster_a.refresh_from_db()
    maintenance.refresh_from_db()
    assert cluster_a.status == "operational" and maintenance.status == "completed"
