"""Service functions over the example world: what they record, and what they refuse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED, MAJOR, OPERATIONAL, PARTIAL
from heliograph.example import load_example
from heliograph.incidents import lifecycle
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from tests.support.state import database_state, version


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture
def other_page(page: Page) -> Page:
    other = catalog.create_page(name="Elsewhere", time_zone="Europe/Paris")
    catalog.create_component(page=other, name="Webmail")
    return other


# --- the example --------------------------------------------------------------------------


def test_it_loads_the_example_once(page: Page) -> None:
    before = database_state()
    assert load_example().pk == page.pk
    assert database_state() == before
    assert Page.objects.filter(name="OpenSRS").count() == 1


def test_it_records_both_impact_windows_of_the_example(cluster_a: Component) -> None:
    changes = [
        lifecycle.StatusStep(c.component_id, c.at, c.new_status)
        for c in cluster_a.status_changes.all()
    ]
    windows = lifecycle.impact_windows(changes)
    assert [(w.start, w.end) for w in windows] == [
        (utc(2021, 7, 8, 15, 57), utc(2021, 7, 8, 16, 23)),
        (utc(2021, 7, 8, 18, 4), utc(2021, 7, 9, 17, 43)),
    ]
    assert {w.worst_status for w in windows} == {DEGRADED}
    assert lifecycle.total_duration(windows, now=utc(2026, 1, 1)) == timedelta(hours=24, minutes=5)
    assert cluster_a.status == OPERATIONAL


def test_it_keeps_the_timeline_rows_truthful(cluster_a: Component) -> None:
    rows = list(cluster_a.status_changes.order_by("at", "id"))
    assert [row.at for row in rows if row.old_status != row.new_status] == [
        utc(2021, 7, 8, 15, 57),
        utc(2021, 7, 8, 16, 23),
        utc(2021, 7, 8, 18, 4),
        utc(2021, 7, 9, 17, 43),
    ]
    for earlier, later in zip(rows, rows[1:], strict=False):
        assert later.old_status == earlier.new_status
    assert rows[0].old_status == OPERATIONAL


def test_it_shows_the_example_incident_as_the_report_tells_it(
    incident: Incident, cluster_a: Component
) -> None:
    assert incident.name == "Cluster A - Inbound Delays"
    assert incident.status == "postmortem"
    assert incident.impact == "minor"
    assert incident.started_at == utc(2021, 7, 8, 15, 57)
    assert incident.created_at == utc(2021, 7, 8, 16, 4)
    assert incident.monitoring_at is None
    assert incident.resolved_at == utc(2021, 7, 8, 17, 28)
    updates = list(incident.updates.order_by("display_at"))
    assert [(u.status, u.display_at) for u in updates] == [
        ("investigating", utc(2021, 7, 8, 16, 4)),
        ("identified", utc(2021, 7, 8, 16, 50)),
        ("resolved", utc(2021, 7, 8, 17, 28)),
    ]
    assert "Total Duration:26 minutes" in updates[-1].body
    assert list(incident.components.all()) == [cluster_a]
    assert incident.postmortem.published_at == utc(2021, 7, 21, 20, 20)


# --- updates move the incident ------------------------------------------------------------


def test_it_moves_an_incident_through_its_updates(page: Page, cluster_a: Component) -> None:
    opened = incidents.open_incident(
        page=page,
        name="Webmail slow",
        body="Looking.",
        at=utc(2024, 1, 1, 10),
        components={cluster_a: PARTIAL},
    )
    assert (opened.status, opened.impact) == ("investigating", "major")
    assert opened.started_at == utc(2024, 1, 1, 10)
    cluster_a.refresh_from_db()
    assert cluster_a.status == PARTIAL

    incidents.post_update(
        incident=opened,
        status="monitoring",
        body="Fix deployed.",
        at=utc(2024, 1, 1, 11),
        components={cluster_a: OPERATIONAL},
    )
    opened.refresh_from_db()
    assert opened.status == "monitoring"
    assert opened.monitoring_at == utc(2024, 1, 1, 11)
    assert opened.resolved_at is None
    assert opened.impact == "major"  # the worst it was, not what it is now

    incidents.post_update(
        incident=opened, status="resolved", body="All good.", at=utc(2024, 1, 1, 12)
    )
    opened.refresh_from_db()
    assert (opened.status, opened.resolved_at) == ("resolved", utc(2024, 1, 1, 12))
    assert opened.updated_at == utc(2024, 1, 1, 12)

    update = incidents.post_update(
        incident=opened,
        status="investigating",
        body="It is back.",
        at=utc(2024, 1, 1, 13),
        components={cluster_a: MAJOR},
    )
    opened.refresh_from_db()
    assert opened.status == "investigating"
    assert opened.resolved_at is None
    assert opened.impact == "critical"
    assert update.affected_components == [
        {"code": cluster_a.pk, "name": "Cluster A", "old_status": OPERATIONAL, "new_status": MAJOR},
    ]


def test_it_reopens_the_example_despite_its_postmortem(incident: Incident) -> None:
    incidents.post_update(
        incident=incident, status="identified", body="Recurred.", at=utc(2021, 7, 22)
    )
    incident.refresh_from_db()
    assert incident.status == "identified"
    assert incident.resolved_at is None


def test_it_honours_an_impact_override(page: Page, cluster_a: Component) -> None:
    opened = incidents.open_incident(
        page=page, name="Scare", body="b", components={cluster_a: MAJOR}, impact_override="minor"
    )
    assert opened.impact == "minor"


def test_it_schedules_a_maintenance(page: Page, cluster_a: Component) -> None:
    maintenance = incidents.schedule_maintenance(
        page=page,
        name="Storage upgrade",
        body="",
        scheduled_for=utc(2030, 1, 1, 2),
        scheduled_until=utc(2030, 1, 1, 4),
        components=[cluster_a],
    )
    assert (maintenance.kind, maintenance.status, maintenance.impact) == (
        "maintenance",
        "scheduled",
        "maintenance",
    )
    assert list(maintenance.components.all()) == [cluster_a]
    assert maintenance.updates.get().body == "Storage upgrade"


# --- refused input writes nothing ---------------------------------------------------------


def bad_calls() -> dict[str, Callable[[Page, Component, Incident, Page], object]]:
    return {
        "update before the incident started": lambda p, c, i, o: incidents.post_update(
            incident=i,
            status="identified",
            body="early",
            at=utc(2021, 7, 8, 15, 56),
            components={c: MAJOR},
        ),
        "unknown incident status": lambda p, c, i, o: incidents.post_update(
            incident=i, status="fixed", body="b", at=utc(2021, 7, 22), components={c: MAJOR}
        ),
        "postmortem as an update status": lambda p, c, i, o: incidents.post_update(
            incident=i, status="postmortem", body="b", at=utc(2021, 7, 22)
        ),
        "unknown component status in an update": lambda p, c, i, o: incidents.post_update(
            incident=i,
            status="identified",
            body="b",
            at=utc(2021, 7, 22),
            components={c: "broken"},
        ),
        "a component of another page in an update": lambda p, c, i, o: incidents.post_update(
            incident=i,
            status="identified",
            body="b",
            at=utc(2021, 7, 22),
            components={c: MAJOR, o.components.get(): MAJOR},
        ),
        "an empty update": lambda p, c, i, o: incidents.post_update(
            incident=i,
            status="identified",
            body="  ",
            at=utc(2021, 7, 22),
            components={c: MAJOR},
        ),
        "unknown component status on opening": lambda p, c, i, o: incidents.open_incident(
            page=p, name="New", body="b", components={c: "sideways"}
        ),
        "unknown status on opening": lambda p, c, i, o: incidents.open_incident(
            page=p, name="New", body="b", status="panicking", components={c: MAJOR}
        ),
        "a component of another page on opening": lambda p, c, i, o: incidents.open_incident(
            page=p, name="New", body="b", components={c: MAJOR, o.components.get(): MAJOR}
        ),
        "an incident starting after its first update": lambda p, c, i, o: incidents.open_incident(
            page=p,
            name="New",
            body="b",
            at=utc(2024, 1, 1),
            started_at=utc(2024, 1, 2),
            components={c: MAJOR},
        ),
        "an unknown impact override": lambda p, c, i, o: incidents.open_incident(
            page=p, name="New", body="b", impact_override="apocalyptic", components={c: MAJOR}
        ),
        "maintenance ending before it starts": lambda p, c, i, o: incidents.schedule_maintenance(
            page=p,
            name="Upgrade",
            body="b",
            scheduled_for=utc(2030, 1, 1, 4),
            scheduled_until=utc(2030, 1, 1, 2),
            components=[c],
        ),
        "maintenance of another page's component": lambda p, c, i, o: (
            incidents.schedule_maintenance(
                page=p,
                name="Upgrade",
                body="b",
                scheduled_for=utc(2030, 1, 1, 2),
                scheduled_until=utc(2030, 1, 1, 4),
                components=[c, o.components.get()],
            )
        ),
        "maintenance without a name": lambda p, c, i, o: incidents.schedule_maintenance(
            page=p,
            name="  ",
            body="b",
            scheduled_for=utc(2030, 1, 1, 2),
            scheduled_until=utc(2030, 1, 1, 4),
            components=[c],
        ),
        "impact on another page's component": lambda p, c, i, o: incidents.record_impact(
            incident=i, component=o.components.get(), status=MAJOR, at=utc(2021, 7, 8, 16)
        ),
        "unknown status on the timeline": lambda p, c, i, o: incidents.record_impact(
            incident=i, component=c, status="meh", at=utc(2021, 7, 8, 16)
        ),
        "unknown component status": lambda p, c, i, o: catalog.set_component_status(
            component=c, status="Operational"
        ),
        "an empty postmortem": lambda p, c, i, o: incidents.publish_postmortem(
            incident=i, body="\n"
        ),
        "a postmortem before the incident": lambda p, c, i, o: incidents.publish_postmortem(
            incident=i, body="Early.", at=utc(2021, 7, 1)
        ),
        "an unknown time zone": lambda p, c, i, o: catalog.create_page(
            name="Mars", time_zone="Mars/Olympus_Mons"
        ),
        "a second page with the same name": lambda p, c, i, o: catalog.create_page(name="OpenSRS"),
        "a second component with the same name": lambda p, c, i, o: catalog.create_component(
            page=p, name="Cluster A"
        ),
        "a group of another page": lambda p, c, i, o: catalog.create_component(
            page=o, name="Cluster B", group=p.groups.get()
        ),
        "a second group with the same name": lambda p, c, i, o: catalog.create_group(
            page=p, name="Hosted Email"
        ),
        "an unknown page": lambda p, c, i, o: catalog.find_page("Nope"),
        "an unknown component": lambda p, c, i, o: catalog.find_component(p, "Webmail"),
        "an unknown incident": lambda p, c, i, o: incidents.find_incident(p, "PR-9999"),
    }


@pytest.mark.parametrize("case", list(bad_calls()))
def test_it_refuses_bad_input_and_writes_nothing(
    case: str, page: Page, cluster_a: Component, incident: Incident, other_page: Page
) -> None:
    before = database_state()
    with pytest.raises(InputError) as raised:
        bad_calls()[case](page, cluster_a, incident, other_page)
    assert str(raised.value)
    assert "\n" not in str(raised.value)
    assert database_state() == before


def test_it_explains_an_update_before_the_incident_started(incident: Incident) -> None:
    with pytest.raises(InputError, match=r"before the incident started \(2021-07-08 15:57 UTC\)"):
        incidents.post_update(
            incident=incident, status="identified", body="b", at=utc(2021, 7, 8, 15)
        )


# --- every write bumps the page version ---------------------------------------------------


def good_calls() -> dict[str, Callable[[Page, Component, Incident], object]]:
    return {
        "create a group": lambda p, c, i: catalog.create_group(page=p, name="Webmail"),
        "create a component": lambda p, c, i: catalog.create_component(
            page=p, name="Cluster B", group=p.groups.get()
        ),
        "set a component status": lambda p, c, i: catalog.set_component_status(
            component=c, status=MAJOR
        ),
        "backfill a component status": lambda p, c, i: catalog.set_component_status(
            component=c, status=PARTIAL, at=utc(2021, 3, 1), source="import"
        ),
        "open an incident": lambda p, c, i: incidents.open_incident(
            page=p, name="New", body="b", components={c: DEGRADED}
        ),
        "post an update": lambda p, c, i: incidents.post_update(
            incident=i, status="monitoring", body="b", at=utc(2021, 7, 22)
        ),
        "record impact": lambda p, c, i: incidents.record_impact(
            incident=i, component=c, status=MAJOR, at=utc(2021, 7, 10)
        ),
        "schedule a maintenance": lambda p, c, i: incidents.schedule_maintenance(
            page=p,
            name="Upgrade",
            body="b",
            scheduled_for=utc(2030, 1, 1, 2),
            scheduled_until=utc(2030, 1, 1, 4),
            components=[c],
        ),
        "publish a postmortem": lambda p, c, i: incidents.publish_postmortem(
            incident=i, body="Revised.", at=utc(2021, 7, 22)
        ),
    }


@pytest.mark.parametrize("case", list(good_calls()))
def test_it_bumps_the_page_version_on_every_write(
    case: str, page: Page, cluster_a: Component, incident: Incident
) -> None:
    before = version(page)
    other = catalog.create_page(name="Bystander")
    good_calls()[case](page, cluster_a, incident)
    assert version(page) > before
    assert version(other) == other.version  # other pages stay published as they are


def test_it_keeps_the_version_when_nothing_changes(cluster_a: Component, page: Page) -> None:
    before = version(page)
    assert catalog.set_component_status(component=cluster_a, status=OPERATIONAL) is None
    assert version(page) == before


def test_it_backfills_a_status_into_the_past_without_breaking_the_timeline(
    cluster_a: Component,
) -> None:
    catalog.set_component_status(component=cluster_a, status=MAJOR, at=utc(2021, 7, 8, 20))
    cluster_a.refresh_from_db()
    assert cluster_a.status == OPERATIONAL  # the later restore still stands
    rows = list(cluster_a.status_changes.order_by("at", "id"))
    for earlier, later in zip(rows, rows[1:], strict=False):
        assert later.old_status == earlier.new_status
    assert catalog.status_at(cluster_a, utc(2021, 7, 8, 21)) == MAJOR
    assert catalog.status_at(cluster_a, utc(2021, 7, 9, 18)) == OPERATIONAL
