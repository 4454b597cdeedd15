"""A maintenance window never hides an outage: the page shows the worse of the two.

The rule (docs/architecture.md, "The path data takes"): a component held at degraded, partial
or major outage by an open incident, a monitor or a person keeps showing it while a
maintenance on it runs; when that hold lets go mid-window the component shows under
maintenance; when the window ends it shows what still holds it. Read as a visitor reads
it: the published status page and v2 documents, through a read-path node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED, MAINTENANCE, MAJOR, OPERATIONAL, PARTIAL
from heliograph.incidents import lifecycle
from heliograph.incidents import maintenance as mt
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.monitors.automation import apply_result
from heliograph.monitors.models import Monitor
from heliograph.monitors.probes.base import Result
from heliograph.notify.models import COMPONENT_UPDATE, Notification
from heliograph.publish.build import publish_page
from heliograph.publish.store import SnapshotStore
from tests.support.html import text_of
from tests.support.readpath import Response, node
from tests.support.world import NOW

START = NOW + timedelta(hours=2)
END = START + timedelta(hours=2)
MID = START + timedelta(minutes=30)
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Seen:
    """What a visitor reads at a moment: the page, its status and Cluster A, as published."""

    component: str  # Cluster A in the database
    indicator: str  # status.json
    description: str
    summary: dict[str, Any]
    components: dict[str, Any]  # components.json
    page_text: str  # the status page's visible text


def seen(page: Page, cluster_a: Component, now: datetime) -> Seen:
    publish_page(page, now=now)
    store = SnapshotStore()
    store.refresh()
    app = node(store)

    def document(path: str) -> Any:
        return json.loads(Response(app, f"/api/v2/{path}").body)

    status = document("status.json")["status"]
    cluster_a.refresh_from_db()
    return Seen(
        cluster_a.status,
        status["indicator"],
        status["description"],
        document("summary.json"),
        document("components.json"),
        text_of(Response(app, "/").body),
    )


def status_in(document: dict[str, Any], name: str = "Cluster A") -> str:
    [found] = [c["status"] for c in document["components"] if c["name"] == name]
    return str(found)


def assert_outage_shown(shown: Seen) -> None:
    assert shown.component == PARTIAL
    assert (shown.indicator, shown.description) == ("major", "Partial System Outage")
    assert shown.summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert status_in(shown.summary) == status_in(shown.components) == PARTIAL
    assert "Partial System Outage" in shown.page_text
    assert "Service Under Maintenance" not in shown.page_text
    assert "Under Maintenance" not in shown.page_text  # no component reads so either


def open_outage(page: Page, cluster_a: Component, at: datetime) -> Incident:
    return incidents.open_incident(
        page=page,
        name="Cluster A - Inbound delays",
        body="Inbound mail to Cluster A is delayed.",
        components={cluster_a: PARTIAL},
        at=at,
    )


def schedule(page: Page, cluster_a: Component) -> Incident:
    return incidents.schedule_maintenance(
        page=page,
        name="Cluster A - MX upgrade",
        body="Upgrading MX hosts.",
        scheduled_for=START,
        scheduled_until=END,
        components=[cluster_a],
        at=NOW,
    )


def resolve(incident: Incident, cluster_a: Component, at: datetime) -> None:
    incident.refresh_from_db()
    incidents.post_update(
        incident=incident,
        status="resolved",
        body="Delivery is back to normal.",
        components={cluster_a: OPERATIONAL},
        at=at,
    )


@pytest.fixture
def upgrade(page: Page, cluster_a: Component) -> Incident:
    return schedule(page, cluster_a)


def test_it_keeps_an_open_incidents_outage_visible_through_a_maintenance(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    outage = open_outage(page, cluster_a, START - timedelta(hours=1))
    assert_outage_shown(seen(page, cluster_a, START - MINUTE))

    assert mt.run_due(now=START) == 1
    during = seen(page, cluster_a, START)
    assert_outage_shown(during)
    # The maintenance runs, and says so, without claiming Cluster A.
    [active] = during.summary["scheduled_maintenances"]
    assert (active["name"], active["status"]) == ("Cluster A - MX upgrade", "in_progress")
    assert [i["id"] for i in during.summary["incidents"]] == [outage.pk]
    assert upgrade.updates.get(status="in_progress").affected_components == []

    assert mt.run_due(now=END) == 1
    after = seen(page, cluster_a, END)
    assert_outage_shown(after)  # what the open incident still holds, not operational
    assert after.summary["scheduled_maintenances"] == []
    assert not cluster_a.status_changes.filter(new_status=MAINTENANCE).exists()
    assert mt.overruns(page=page, now=END) == []  # the outage was there before it started


def test_it_hands_the_component_to_the_maintenance_when_the_incident_resolves_mid_window(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    outage = open_outage(page, cluster_a, START - timedelta(hours=1))
    mt.run_due(now=START)
    resolve(outage, cluster_a, MID)

    during = seen(page, cluster_a, MID)
    assert during.component == MAINTENANCE
    assert (during.indicator, during.description) == ("maintenance", "Service Under Maintenance")
    assert status_in(during.summary) == status_in(during.components) == MAINTENANCE
    assert during.summary["incidents"] == []
    # The incident's impact ends when it said so; the window takes over at that moment.
    assert [
        (c.old_status, c.new_status, c.source, c.incident_id)
        for c in cluster_a.status_changes.filter(at=MID).order_by("id")
    ] == [
        (PARTIAL, OPERATIONAL, "update", outage.pk),
        (OPERATIONAL, MAINTENANCE, "maintenance", upgrade.pk),
    ]
    [window] = lifecycle.impact_windows(
        lifecycle.StatusStep(c.component_id, c.at, c.new_status)
        for c in outage.status_changes.all()
    )
    assert (window.start, window.end, window.worst_status) == (
        START - timedelta(hours=1),
        MID,
        PARTIAL,
    )

    mt.run_due(now=END)
    after = seen(page, cluster_a, END)
    assert after.component == OPERATIONAL
    assert (after.indicator, after.description) == ("none", "All Systems Operational")
    assert status_in(after.summary) == status_in(after.components) == OPERATIONAL
    assert mt.overruns(page=page, now=END) == []


def test_it_shows_an_outage_that_begins_during_the_window_and_keeps_it_after(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    mt.run_due(now=START)
    assert seen(page, cluster_a, START).description == "Service Under Maintenance"
    outage = incidents.open_incident(
        page=page, name="MX down", body="b", components={cluster_a: MAJOR}, at=MID
    )
    during = seen(page, cluster_a, MID)
    assert (during.component, during.indicator) == (MAJOR, "critical")
    assert status_in(during.summary) == MAJOR

    mt.run_due(now=END)
    assert seen(page, cluster_a, END).component == MAJOR  # the open incident still holds it
    # Then it resolves: nothing holds Cluster A any more.
    resolve(outage, cluster_a, END + MINUTE)
    assert seen(page, cluster_a, END + MINUTE).component == OPERATIONAL


def test_it_keeps_a_component_under_maintenance_when_someone_sets_it_operational_mid_window(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    mt.run_due(now=START)
    catalog.set_component_status(component=cluster_a, status=OPERATIONAL, at=MID)
    assert seen(page, cluster_a, MID).component == MAINTENANCE
    mt.run_due(now=END)
    assert seen(page, cluster_a, END).component == OPERATIONAL


def test_it_lets_a_maintenances_own_update_set_its_components(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    mt.run_due(now=START)
    upgrade.refresh_from_db()
    mt.post_maintenance_update(
        maintenance=upgrade,
        status="verifying",
        body="Cluster A is back; verifying.",
        components={cluster_a: OPERATIONAL},
        at=MID,
    )
    assert seen(page, cluster_a, MID).component == OPERATIONAL  # the window itself said so


def test_it_tells_webhooks_the_incidents_change_before_the_maintenances(
    page: Page, cluster_a: Component
) -> None:
    now = timezone.now()  # news, not a backfill: component changes reach the outbox
    mt_start = now - 2 * MINUTE
    incidents.schedule_maintenance(
        page=page,
        name="Cluster A - MX upgrade",
        body="Upgrading MX hosts.",
        scheduled_for=mt_start,
        scheduled_until=now + timedelta(hours=1),
        components=[cluster_a],
        at=now - 10 * MINUTE,
    )
    outage = open_outage(page, cluster_a, now - 5 * MINUTE)
    mt.run_due(now=mt_start)
    resolve(outage, cluster_a, now - MINUTE)
    told = [
        json.loads(n.payload_text)["component_update"]
        for n in Notification.objects.filter(kind=COMPONENT_UPDATE).order_by("created_at")
    ]
    assert [(u["old_status"], u["new_status"]) for u in told] == [
        (OPERATIONAL, PARTIAL),
        (PARTIAL, OPERATIONAL),
        (OPERATIONAL, MAINTENANCE),
    ]


def test_it_keeps_what_monitors_found_until_the_window_ends(
    page: Page, cluster_a: Component, upgrade: Incident
) -> None:
    monitor = Monitor.objects.create(
        page=page,
        name="Inbound mail",
        kind="http",
        config={},
        component=cluster_a,
        automation="publish",
        created_at=START - timedelta(hours=2),
    )

    def probe(verdict: str, first: datetime, samples: int) -> None:
        for i in range(samples):
            result = Result(verdict, f"{verdict} sample")
            apply_result(monitor=monitor, result=result, now=first + i * MINUTE)

    probe("slow", START - 10 * MINUTE, 2)
    assert seen(page, cluster_a, START - MINUTE).component == DEGRADED
    mt.run_due(now=START)
    assert seen(page, cluster_a, START).indicator == "minor"  # not "maintenance"
    # Probes never move a component a window holds (planned work upsets them): the
    # degraded status they found stays until the window ends, then they take over again.
    probe("ok", MID, 5)
    assert seen(page, cluster_a, MID + 5 * MINUTE).component == DEGRADED
    mt.run_due(now=END)
    assert seen(page, cluster_a, END).component == DEGRADED
    probe("ok", END + MINUTE, 3)
    assert seen(page, cluster_a, END + 4 * MINUTE).component == OPERATIONAL
