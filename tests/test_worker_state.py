"""The workers' bookkeeping lives in their own tables: Manage API clients see only the
metadata they wrote, and bookkeeping kept in metadata before is moved out by a migration."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.test.utils import CaptureQueriesContext

from heliograph.accounts.keys import create_key
from heliograph.catalog.models import Component, Page
from heliograph.incidents import maintenance as mt
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident, MaintenanceState
from heliograph.monitors import automation
from heliograph.monitors.models import IncidentAutomation, Monitor
from heliograph.monitors.probes.base import Result
from tests.support.world import NOW

SLOW = Result("slow", "delivery took 187 s (slow ≥ 120 s)", values={"delivery_seconds": 187.0})
OK = Result("ok", "delivered in 4 s", values={"delivery_seconds": 4.0})
START, END = NOW + timedelta(hours=2), NOW + timedelta(hours=4)
OPS = {"jira": {"issue_id": "OPS-1"}}


def _probe(monitor: Monitor, result: Result, minute: int) -> None:
    automation.apply_result(monitor=monitor, result=result, now=NOW + timedelta(minutes=minute))


def _monitored_incident(page: Page, cluster_a: Component) -> Incident:
    """Opened by automation, taken over by a responder, then noted by the monitors."""
    monitor = Monitor.objects.create(
        page=page,
        name="Inbound mail delays",
        kind="http",
        component=cluster_a,
        automation="publish",
        created_at=NOW - timedelta(hours=1),
    )
    _probe(monitor, SLOW, 0)
    _probe(monitor, SLOW, 1)
    incident = Incident.objects.get(kind="incident", monitors=monitor)
    later = NOW + timedelta(minutes=2)
    incidents.post_update(incident=incident, status="identified", body="A loop.", at=later)
    for minute in range(3, 6):
        _probe(monitor, OK, minute)
    return incident


def _worked_maintenance(page: Page, cluster_a: Component) -> Incident:
    """Reminded, started and completed by the worker."""
    m = incidents.schedule_maintenance(
        page=page,
        name="MX upgrade",
        body="Upgrading MX hosts.",
        scheduled_for=START,
        scheduled_until=END,
        components=[cluster_a],
        at=NOW,
        remind_prior=True,
    )
    for moment in (START - timedelta(minutes=30), START, END):
        mt.run_due(now=moment)
    return m


def test_the_api_shows_the_clients_metadata_not_the_workers_bookkeeping(
    client: Client, page: Page, cluster_a: Component
) -> None:
    incident, maintenance = (
        _monitored_incident(page, cluster_a),
        _worked_maintenance(page, cluster_a),
    )
    for row in (incident, maintenance):
        incidents.update_incident(incident=row, metadata=OPS)
    key = create_key(name="bot", scope="read")[1]
    response = client.get(f"/v1/pages/{page.pk}/incidents", HTTP_AUTHORIZATION=f"OAuth {key}")
    bodies = {body["id"]: body for body in json.loads(response.content)}
    assert bodies[incident.pk]["metadata"] == OPS
    assert bodies[maintenance.pk]["metadata"] == OPS
    # The workers kept their bookkeeping all the same, and a client's edit did not touch it.
    assert "consider monitoring" in automation.evidence(incident)[-1]["suggestion"]
    state = mt.notes(Incident.objects.get(pk=maintenance.pk))
    assert (state.started_at, state.completed_at) == (START, END)
    assert state.reminder_recorded_at == START - timedelta(minutes=30)


def test_automation_reads_its_notes_once_and_writes_them_once_per_result(
    page: Page, cluster_a: Component
) -> None:
    incident = _monitored_incident(page, cluster_a)  # a human's: each result only notes
    monitor = Monitor.objects.get()
    _probe(monitor, SLOW, 6)
    with CaptureQueriesContext(connection) as seen:
        _probe(monitor, SLOW, 7)  # degraded: calm ends, and a suggestion is noted
    touching = [q["sql"] for q in seen.captured_queries if "incidentautomation" in q["sql"]]
    assert [sql.split()[0] for sql in touching] == ["SELECT", "UPDATE"]
    assert not [q for q in seen.captured_queries if q["sql"].startswith('UPDATE "incidents_')]
    assert automation.evidence(incident)[-1]["suggestion"].endswith("consider escalating")
    assert IncidentAutomation.objects.get(incident=incident).calm_since is None


# --- the migration -------------------------------------------------------------------------

BEFORE = [("incidents", "0004_publish_indexes"), ("monitors", "0002_point_age_and_bucket")]
AFTER = [("incidents", "0005_worker_state"), ("monitors", "0003_worker_state")]
OLD_MAINTENANCE = {
    "status_before:CLUSTER": "degraded_performance",
    "started_at": "2026-11-27T14:00:00+00:00",
    "completed_at": "2026-11-27T16:00:00+00:00",
    "reminder_due_at": "2026-11-27T13:00:00+00:00",
    "reminder_recorded_at": "2026-11-27T13:01:00+00:00",
    "reminder_queued_by": "notify",
    "overrun_checked_at": "2026-11-27T16:00:05+00:00",
    "overrun_flagged_at": "2026-11-27T16:00:05+00:00",
    "overrun_components": "CLUSTER",
}


def _migrate(targets: list[tuple[str, str]]) -> Apps:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def _old_rows(apps: Apps, page: Page, cluster_a: Component) -> dict[str, Any]:
    """A worked maintenance and a monitored incident as the old code left them."""
    old_incident = apps.get_model("incidents", "Incident")
    old_monitor = apps.get_model("monitors", "Monitor")
    monitor = old_monitor.objects.create(page_id=page.pk, name="Inbound", kind="http")
    window = {
        k.replace("CLUSTER", cluster_a.pk): v.replace("CLUSTER", cluster_a.pk)
        for k, v in OLD_MAINTENANCE.items()
    }
    maintenance = old_incident.objects.create(
        page_id=page.pk,
        kind="maintenance",
        name="MX upgrade",
        status="completed",
        metadata={**OPS, "heliograph_maintenance": window},
    )
    notes = {
        "updates": ["U1"],
        "monitor": monitor.pk,
        "calm_since": "2026-11-27T12:05:00+00:00",
        "evidence": [{"suggestion": "consider resolving"}],
    }
    incident = old_incident.objects.create(
        page_id=page.pk,
        name="Delays",
        status="identified",
        metadata={**OPS, "heliograph_monitor": notes},
    )
    return {"maintenance": maintenance.pk, "incident": incident.pk, "monitor": monitor.pk}


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_existing_bookkeeping_out_of_metadata(
    page: Page, cluster_a: Component
) -> None:
    try:
        made = _old_rows(_migrate(BEFORE), page, cluster_a)
        _migrate(AFTER)
        state = MaintenanceState.objects.get(maintenance_id=made["maintenance"])
        assert state.statuses_before == {cluster_a.pk: "degraded_performance"}
        assert (state.started_at, state.completed_at) == (START, END)
        assert state.reminder_recorded_at == START - timedelta(minutes=59)
        assert (
            mt.reminded_at(Incident.objects.get(pk=made["maintenance"]))
            == state.reminder_recorded_at
        )
        assert (state.overrun_components, state.reminder_queued_by) == ([cluster_a.pk], "notify")
        # Only the fields this migration knows (later ones add columns).
        notes = IncidentAutomation.objects.only("updates", "monitor", "calm_since").get(
            incident_id=made["incident"]
        )
        assert (notes.updates, notes.monitor_id) == (["U1"], made["monitor"])
        assert notes.calm_since == NOW + timedelta(minutes=5)
        assert automation.evidence(Incident.objects.get(pk=made["incident"])) == [
            {"suggestion": "consider resolving"}
        ]
        for pk in (made["maintenance"], made["incident"]):
            assert Incident.objects.get(pk=pk).metadata == OPS  # only the client's own
        # And back: the old code would find its bookkeeping where it left it.
        apps = _migrate(BEFORE)
        old = apps.get_model("incidents", "Incident").objects.get(pk=made["maintenance"])
        assert old.metadata["heliograph_maintenance"] == {
            k.replace("CLUSTER", cluster_a.pk): v.replace("CLUSTER", cluster_a.pk)
            for k, v in OLD_MAINTENANCE.items()
        }
    finally:
        _migrate(_latest())


def _latest() -> list[tuple[str, str]]:
    graph = MigrationExecutor(connection).loader.graph
    return [key for key in graph.leaf_nodes() if key[0] in ("incidents", "monitors")]
