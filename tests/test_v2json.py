"""The Statuspage public API v2 documents, as a client parsing them would see them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED, MAJOR
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.publish import v2json
from heliograph.publish.world import load_world
from tests.support.world import NOW

TOP_LEVEL = {
    "summary.json": ["page", "status", "components", "incidents", "scheduled_maintenances"],
    "status.json": ["page", "status"],
    "components.json": ["page", "components"],
    "incidents.json": ["page", "incidents"],
    "incidents/unresolved.json": ["page", "incidents"],
    "scheduled-maintenances.json": ["page", "scheduled_maintenances"],
    "scheduled-maintenances/upcoming.json": ["page", "scheduled_maintenances"],
    "scheduled-maintenances/active.json": ["page", "scheduled_maintenances"],
}
COMPONENT_KEYS = [
    "id", "name", "status", "created_at", "updated_at", "position", "description", "showcase",
    "start_date", "group_id", "page_id", "group", "only_show_if_degraded",
]  # fmt: skip
INCIDENT_KEYS = [
    "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at",
    "impact", "shortlink", "started_at", "page_id", "incident_updates", "components",
]  # fmt: skip
UPDATE_KEYS = [
    "id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
    "affected_components", "deliver_notifications", "custom_tweet", "tweet_id",
]  # fmt: skip


def documents(page: Page) -> dict[str, tuple[str, bytes]]:
    return v2json.render(load_world(page, now=NOW))


def get(page: Page, path: str) -> Any:
    content_type, body = documents(page)[f"/api/v2/{path}"]
    assert content_type == "application/json"
    return json.loads(body)


def schedule(page: Page, cluster_a: Component, days: int = 1) -> Incident:
    start = NOW + timedelta(days=days)
    return incidents.schedule_maintenance(
        page=page,
        name="Cluster A - MX upgrade",
        body="Upgrading MX hosts.",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        components=[cluster_a],
        at=NOW,
    )


@pytest.mark.parametrize("path", TOP_LEVEL)
def test_it_serves_each_endpoint_with_exactly_its_top_level_keys(page: Page, path: str) -> None:
    doc = get(page, path)
    assert list(doc) == TOP_LEVEL[path]
    assert list(doc["page"]) == ["id", "name", "url", "time_zone", "updated_at"]
    assert doc["page"]["name"] == "OpenSRS"
    assert doc["page"]["time_zone"] == "America/New_York"


def test_it_writes_compact_utf8(page: Page, cluster_a: Component) -> None:
    incidents.open_incident(page=page, name="Délais – Cluster A", body="Lent.", at=NOW)
    body = documents(page)["/api/v2/incidents.json"][1]
    assert "Délais – Cluster A".encode() in body
    assert b'", "' not in body and b'": ' not in body


def test_it_serialises_the_pr_2142_incident(
    page: Page, incident: Incident, cluster_a: Component
) -> None:
    (found,) = get(page, "incidents.json")["incidents"]
    assert list(found) == INCIDENT_KEYS
    assert found["id"] == incident.pk
    assert found["name"] == "Cluster A - Inbound Delays"
    assert found["status"] == "postmortem"
    assert found["impact"] == "minor"
    assert found["started_at"] == "2021-07-08T11:57:00.000-04:00"
    assert found["created_at"] == "2021-07-08T12:04:00.000-04:00"
    assert found["resolved_at"] == "2021-07-08T13:28:00.000-04:00"
    assert found["monitoring_at"] is None
    assert found["shortlink"].endswith(f"/incidents/{incident.pk}")
    assert found["page_id"] == page.pk
    assert [c["name"] for c in found["components"]] == ["Cluster A"]
    assert list(found["components"][0]) == COMPONENT_KEYS


def test_it_lists_updates_newest_first_with_their_component_changes(
    page: Page, incident: Incident, cluster_a: Component
) -> None:
    updates = get(page, f"incidents/{incident.pk}.json")["incident"]["incident_updates"]
    assert [u["status"] for u in updates] == ["resolved", "identified", "investigating"]
    assert all(list(u) == UPDATE_KEYS for u in updates)
    resolved, identified, investigating = updates
    assert resolved["display_at"] == "2021-07-08T13:28:00.000-04:00"
    assert resolved["body"].endswith("Total Duration:26 minutes")
    assert resolved["affected_components"] is None
    assert resolved["incident_id"] == incident.pk
    assert investigating["affected_components"] == [
        {
            "code": cluster_a.pk,
            "name": "Cluster A",
            "old_status": "operational",
            "new_status": "degraded_performance",
        }
    ]
    assert investigating["custom_tweet"] is None and investigating["tweet_id"] is None
    assert investigating["deliver_notifications"] is True


def test_it_lists_groups_with_their_members(page: Page, cluster_a: Component) -> None:
    components = get(page, "components.json")["components"]
    group, member = components
    assert list(group) == COMPONENT_KEYS + ["components"]
    assert group["name"] == "Hosted Email"
    assert group["group"] is True
    assert group["group_id"] is None
    assert group["components"] == [cluster_a.pk]
    assert group["description"] is None
    assert list(member) == COMPONENT_KEYS
    assert member["id"] == cluster_a.pk
    assert member["group"] is False
    assert member["group_id"] == group["id"]
    assert member["start_date"] == "2021-01-01"
    assert member["description"].startswith("Inbound and outbound mail")
    assert get(page, "summary.json")["components"] == components


def test_it_shows_a_group_in_its_worst_members_status(page: Page, cluster_a: Component) -> None:
    group = catalog.find_group(page, "Hosted Email")
    catalog.create_component(page=page, name="Cluster B", group=group)
    catalog.set_component_status(component=cluster_a, status=MAJOR)
    components = {c["name"]: c for c in get(page, "components.json")["components"]}
    assert components["Hosted Email"]["status"] == "major_outage"
    assert components["Cluster B"]["status"] == "operational"
    assert len(components["Hosted Email"]["components"]) == 2


def test_it_changes_the_status_indicator_when_a_component_degrades(
    page: Page, cluster_a: Component
) -> None:
    assert get(page, "status.json")["status"] == {
        "indicator": "none",
        "description": "All Systems Operational",
    }
    catalog.set_component_status(component=cluster_a, status=DEGRADED)
    assert get(page, "status.json")["status"] == {
        "indicator": "minor",
        "description": "Degraded System Service",
    }
    assert get(page, "summary.json")["status"]["indicator"] == "minor"


def test_it_lists_only_open_incidents_as_unresolved(page: Page, cluster_a: Component) -> None:
    assert get(page, "incidents/unresolved.json")["incidents"] == []
    opened = incidents.open_incident(
        page=page,
        name="Cluster A - Outbound Delays",
        body="Looking into it.",
        components={cluster_a: DEGRADED},
        at=NOW,
    )
    (unresolved,) = get(page, "incidents/unresolved.json")["incidents"]
    assert unresolved["id"] == opened.pk
    assert unresolved["status"] == "investigating"
    assert unresolved["resolved_at"] is None
    assert [i["id"] for i in get(page, "summary.json")["incidents"]] == [opened.pk]
    assert len(get(page, "incidents.json")["incidents"]) == 2


def test_it_lists_a_scheduled_maintenance_as_upcoming(page: Page, cluster_a: Component) -> None:
    maintenance = schedule(page, cluster_a)
    (upcoming,) = get(page, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    assert list(upcoming) == INCIDENT_KEYS + ["scheduled_for", "scheduled_until"]
    assert upcoming["id"] == maintenance.pk
    assert upcoming["status"] == "scheduled"
    assert upcoming["impact"] == "maintenance"
    assert upcoming["scheduled_for"] == "2026-11-28T07:00:00.000-05:00"
    assert upcoming["scheduled_until"] == "2026-11-28T09:00:00.000-05:00"
    assert [c["name"] for c in upcoming["components"]] == ["Cluster A"]
    assert get(page, "scheduled-maintenances/active.json")["scheduled_maintenances"] == []
    assert get(page, "scheduled-maintenances.json")["scheduled_maintenances"] == [upcoming]
    assert get(page, "summary.json")["scheduled_maintenances"] == [upcoming]
    assert maintenance.pk not in {i["id"] for i in get(page, "incidents.json")["incidents"]}
    assert get(page, f"incidents/{maintenance.pk}.json")["incident"] == upcoming


def test_it_lists_an_in_progress_maintenance_as_active(page: Page, cluster_a: Component) -> None:
    maintenance = schedule(page, cluster_a, days=0)
    incidents.post_update(
        incident=maintenance, status="in_progress", body="Under way.", at=NOW + timedelta(hours=1)
    )
    (active,) = get(page, "scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert active["status"] == "in_progress"
    assert [u["status"] for u in active["incident_updates"]] == ["in_progress", "scheduled"]
    assert get(page, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"] == []
    assert [m["id"] for m in get(page, "summary.json")["scheduled_maintenances"]] == [
        maintenance.pk
    ]


def test_it_serves_one_document_per_incident_and_maintenance(
    page: Page, incident: Incident, cluster_a: Component
) -> None:
    maintenance = schedule(page, cluster_a)
    paths = {p for p in documents(page) if p.startswith("/api/v2/incidents/")}
    assert paths == {
        "/api/v2/incidents/unresolved.json",
        f"/api/v2/incidents/{incident.pk}.json",
        f"/api/v2/incidents/{maintenance.pk}.json",
    }
    doc = get(page, f"incidents/{incident.pk}.json")
    assert list(doc) == ["page", "incident"]
    assert doc["incident"] == get(page, "incidents.json")["incidents"][0]


def test_it_lists_the_50_most_recent_incidents(page: Page) -> None:
    for n in range(50):
        incidents.open_incident(
            page=page, name=f"Blip {n}", body="Short.", at=NOW + timedelta(minutes=n)
        )
    listed = get(page, "incidents.json")["incidents"]
    assert len(listed) == 50
    assert listed[0]["name"] == "Blip 49"
    assert "Cluster A - Inbound Delays" not in {i["name"] for i in listed}


def test_it_writes_z_for_pages_kept_in_utc(db: None) -> None:
    page = catalog.create_page(name="Elsewhere", time_zone="UTC")
    incidents.open_incident(page=page, name="Slow", body="Slow.", at=NOW)
    (found,) = get(page, "incidents.json")["incidents"]
    assert found["created_at"] == "2026-11-27T12:00:00.000Z"


def test_it_renders_without_querying_the_database(
    page: Page, cluster_a: Component, django_assert_num_queries: Any
) -> None:
    schedule(page, cluster_a)
    world = load_world(page, now=NOW)
    with django_assert_num_queries(0):
        v2json.render(world)
