"""Changes, related causes, linking a cause, incident templates and component uptime."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heliograph.audit.models import AuditEvent
from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import MAJOR, OPERATIONAL, PARTIAL
from heliograph.incidents import causes
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from tests.support.state import full_state
from tests.support.world import NOW


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture
def maintenance(page: Page, cluster_a: Component) -> Incident:
    return incidents.schedule_maintenance(
        page=page,
        name="rspam upgrade",
        body="Upgrading rspam.",
        at=utc(2021, 7, 1),
        scheduled_for=utc(2021, 7, 8, 15, 54),
        scheduled_until=utc(2021, 7, 8, 16, 30),
        components=[cluster_a],
    )


# --- changes and what they may have caused -------------------------------------------------


def test_it_records_a_change_on_components(page: Page, cluster_a: Component) -> None:
    before = Page.objects.get(pk=page.pk).version
    change = incidents.record_change(
        page=page,
        title="Deploy 4.2",
        components=[cluster_a],
        at=utc(2021, 7, 8, 15),
        link="https://ci.example.com/4.2",
        actor="key:ci",
    )
    assert (change.source, list(change.components.all())) == ("deploy", [cluster_a])
    assert Page.objects.get(pk=page.pk).version > before
    event = AuditEvent.objects.get(action="change.create")
    assert (event.actor, event.after["title"]) == ("key:ci", "Deploy 4.2")  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"title": " "}, "a change name"),
        ({"title": "x", "source": "whim"}, "unknown change source 'whim'"),
        ({"title": "x", "link": "javascript:alert(1)"}, "http(s) URL"),
    ],
)
def test_it_refuses_a_bad_change(page: Page, kwargs: dict[str, str], words: str) -> None:
    before = full_state()
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        incidents.record_change(page=page, **kwargs)  # type: ignore[arg-type]
    assert full_state() == before


def test_it_refuses_a_change_on_another_pages_component(page: Page) -> None:
    other = catalog.create_page(name="Elsewhere")
    webmail = catalog.create_component(page=other, name="Webmail")
    before = full_state()
    with pytest.raises(InputError, match="belongs to another page"):
        incidents.record_change(page=page, title="Deploy", components=[webmail])
    assert full_state() == before


def test_it_finds_the_maintenance_and_changes_before_an_incident(
    page: Page, incident: Incident, cluster_a: Component, maintenance: Incident
) -> None:
    deploy = incidents.record_change(
        page=page, title="Deploy 4.2", components=[cluster_a], at=utc(2021, 7, 8, 13, 57)
    )
    incidents.record_change(  # too early
        page=page, title="Deploy 4.1", components=[cluster_a], at=utc(2021, 7, 8, 9)
    )
    incidents.record_change(  # after the incident began
        page=page, title="Rollback", components=[cluster_a], at=utc(2021, 7, 8, 16, 23)
    )
    catalog.create_component(page=page, name="Cluster B")
    incidents.record_change(  # another component
        page=page,
        title="Deploy B",
        components=[page.components.get(name="Cluster B")],
        at=utc(2021, 7, 8, 15),
    )
    related = incidents.related_changes(incident=incident)
    assert [(r.cause, r.kind, r.text) for r in related] == [
        (maintenance, "maintenance", 'began 3 minutes after maintenance "rspam upgrade" started'),
        (deploy, "change", 'began 2 hours after deploy "Deploy 4.2"'),
    ]
    assert len(incidents.related_changes(incident=incident, hours=1)) == 1
    with pytest.raises(InputError, match="hours must be between"):
        incidents.related_changes(incident=incident, hours=0)


def test_it_links_an_incident_to_its_cause_and_back(
    page: Page, incident: Incident, maintenance: Incident
) -> None:
    incidents.link_cause(incident=incident, cause=maintenance, actor="user:alice")
    incident.refresh_from_db()
    assert (incident.caused_by, incident.caused_by_change) == (maintenance, None)
    change = incidents.record_change(page=page, title="Config push", at=utc(2021, 7, 8, 15))
    incidents.link_cause(incident=incident, cause=change)
    incident.refresh_from_db()
    assert (incident.caused_by, incident.caused_by_change) == (None, change)
    events = AuditEvent.objects.filter(action="incident.link_cause").order_by("id")
    assert [(e.before, e.after) for e in events] == [
        (
            {"caused_by": None, "caused_by_change": None},
            {"caused_by": maintenance.pk, "caused_by_change": None},
        ),
        (
            {"caused_by": maintenance.pk, "caused_by_change": None},
            {"caused_by": None, "caused_by_change": change.pk},
        ),
    ]


def test_it_refuses_causes_that_cannot_be(page: Page, incident: Incident) -> None:
    other = catalog.create_page(name="Elsewhere")
    elsewhere = incidents.schedule_maintenance(
        page=other,
        name="Theirs",
        body="",
        scheduled_for=utc(2021, 7, 8),
        scheduled_until=utc(2021, 7, 8, 1),
    )
    plain = incidents.open_incident(page=page, name="Other", body="b", at=utc(2021, 7, 1))
    before = full_state()
    for cause, words in [
        (incident, "its own cause"),
        (elsewhere, "its own page"),
        (plain, "a maintenance or a recorded change"),
    ]:
        with pytest.raises(InputError, match=words):
            incidents.link_cause(incident=incident, cause=cause)
        assert full_state() == before
    incident.refresh_from_db()
    assert incident.caused_by is None


@given(
    cause=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2022, 1, 1)),
    gap=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    hours=st.integers(min_value=1, max_value=48),
)
def test_it_relates_exactly_the_causes_in_the_hours_before(
    cause: datetime, gap: timedelta, hours: int
) -> None:
    start = cause.replace(tzinfo=UTC)
    related = causes.is_related(start, None, start + gap, hours)
    assert related == (gap <= timedelta(hours=hours))
    assert not causes.is_related(start + gap + timedelta(seconds=1), None, start + gap, hours)
    text = causes.relation("deploy X", start, start + gap)
    assert text.startswith("began ") and text.endswith("deploy X")


def test_it_words_the_gap_like_a_person() -> None:
    assert causes.spoken(timedelta(minutes=3)) == "3 minutes"
    assert causes.spoken(timedelta(hours=1, minutes=1)) == "1 hour 1 minute"
    assert causes.spoken(timedelta(days=2, hours=5)) == "2 days 5 hours"
    assert causes.spoken(timedelta(seconds=20)) == "less than a minute"
    t0 = utc(2021, 7, 8)
    assert causes.relation("deploy X", t0, t0) == "began within a minute of deploy X"
    assert causes.is_related(t0, t0 + timedelta(hours=10), t0 + timedelta(hours=9), 6)


# --- incident templates --------------------------------------------------------------------


def test_it_manages_incident_templates(page: Page, cluster_a: Component) -> None:
    group = page.groups.get()
    template = incidents.create_template(
        page=page,
        name="Mail delays",
        title="Inbound delays on {cluster}",
        body="We are investigating delays.",
        group=group,
        components=[cluster_a],
        should_tweet=True,
        actor="user:alice",
    )
    assert (template.update_status, template.should_send_notifications) == ("investigating", True)
    assert list(template.components.all()) == [cluster_a]
    incidents.update_template(
        template=template,
        title="Delays",
        group=None,
        components=[],
        update_status="identified",
        actor="user:bob",
    )
    template.refresh_from_db()
    assert (template.title, template.group, template.update_status) == (
        "Delays",
        None,
        "identified",
    )
    assert (template.name, template.should_tweet) == ("Mail delays", True)
    assert template.components.count() == 0
    incidents.delete_template(template=template, actor="user:carol")
    assert not page.incident_templates.exists()
    actions = AuditEvent.objects.filter(action__startswith="template.").order_by("id")
    assert [(e.action, e.actor) for e in actions] == [
        ("template.create", "user:alice"),
        ("template.update", "user:bob"),
        ("template.delete", "user:carol"),
    ]


def test_it_refuses_bad_templates(page: Page) -> None:
    other = catalog.create_page(name="Elsewhere")
    foreign = catalog.create_group(page=other, name="Theirs")
    template = incidents.create_template(page=page, name="T", title="T", body="b")
    before = full_state()
    for call, words in [
        (lambda: incidents.create_template(page=page, name="", title="t", body="b"), "name"),
        (lambda: incidents.create_template(page=page, name="n", title=" ", body="b"), "title"),
        (
            lambda: incidents.create_template(
                page=page, name="n", title="t", body="b", update_status="postmortem"
            ),
            "status",
        ),
        (
            lambda: incidents.create_template(
                page=page, name="n", title="t", body="b", group=foreign
            ),
            "another page",
        ),
        (lambda: incidents.update_template(template=template, update_status="nope"), "status"),
    ]:
        with pytest.raises(InputError, match=words):
            call()
        assert full_state() == before


# --- component uptime ----------------------------------------------------------------------


def test_it_reports_uptime_like_statuspage(cluster_a: Component) -> None:
    report = incidents.component_uptime(
        component=cluster_a, start=date(2021, 7, 1), end=date(2021, 7, 31), now=NOW
    )
    assert report["id"] == cluster_a.pk and report["name"] == "Cluster A"
    assert report["range_start"] == "2021-07-01T00:00:00.000-04:00"
    assert report["range_end"] == "2021-08-01T00:00:00.000-04:00"
    assert (report["major_outage"], report["partial_outage"]) == (0, 0)  # degraded only
    assert report["uptime_percentage"] == 100.0  # degraded weighs 0 by default
    assert report["warnings"] == []
    incident = cluster_a.incidents.get()
    assert report["related_events"] == [{"id": incident.pk}]


def test_it_counts_outage_seconds_and_weights(page: Page, cluster_a: Component) -> None:
    catalog.set_component_status(component=cluster_a, status=MAJOR, at=utc(2021, 8, 2, 0))
    catalog.set_component_status(component=cluster_a, status=PARTIAL, at=utc(2021, 8, 2, 1))
    catalog.set_component_status(component=cluster_a, status=OPERATIONAL, at=utc(2021, 8, 2, 3))
    report = incidents.component_uptime(
        component=cluster_a, start=date(2021, 8, 1), end=date(2021, 8, 10), now=NOW
    )
    assert (report["major_outage"], report["partial_outage"]) == (3600, 7200)
    lost = 3600 + 0.3 * 7200
    assert report["uptime_percentage"] == round((1 - lost / (10 * 86400)) * 100, 2)
    assert report["related_events"] == []


def test_it_adjusts_the_range_and_says_so(cluster_a: Component) -> None:
    report = incidents.component_uptime(
        component=cluster_a, start=date(2020, 12, 1), end=date(2021, 2, 1), now=NOW
    )
    assert report["range_start"] == "2021-01-01T00:00:00.000-05:00"
    assert "Start date was adjusted" in report["warnings"][0]
    future = incidents.component_uptime(
        component=cluster_a, start=date(2026, 11, 1), end=date(2027, 1, 1), now=NOW
    )
    assert future["range_end"] == "2026-11-27T07:00:00.000-05:00"
    assert future["warnings"] == [
        "End date was adjusted to today. See range_end field in response for end date used."
    ]
    default = incidents.component_uptime(component=cluster_a, now=NOW)
    assert default["range_start"] == "2026-08-30T00:00:00.000-04:00"


def test_it_refuses_uptime_ranges_that_cannot_be(cluster_a: Component) -> None:
    with pytest.raises(InputError, match="start date must not be after"):
        incidents.component_uptime(
            component=cluster_a, start=date(2021, 8, 1), end=date(2021, 7, 1), now=NOW
        )
    with pytest.raises(InputError, match="at most six months"):
        incidents.component_uptime(
            component=cluster_a, start=date(2021, 1, 1), end=date(2021, 12, 1), now=NOW
        )
    cluster_a.showcase = False
    with pytest.raises(InputError, match="does not showcase"):
        incidents.component_uptime(component=cluster_a, now=NOW)
