"""Editing the catalog: pages, groups, components — what the public sees, and the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest

from heliograph.audit.models import AuditEvent
from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, ComponentGroup, Page, StatusChange
from heliograph.catalog.services import UNSET
from heliograph.catalog.status import MAJOR, OPERATIONAL
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from heliograph.publish import v2json
from heliograph.publish.world import load_world
from tests.support.state import database_state, version
from tests.support.world import NOW


def components_json(page: Page) -> list[dict[str, Any]]:
    body = v2json.render(load_world(page, now=NOW))["/api/v2/components.json"][1]
    return json.loads(body)["components"]  # type: ignore[no-any-return]


def event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("id")


@pytest.fixture
def hosted_email(page: Page) -> ComponentGroup:
    return page.groups.get(name="Hosted Email")


@pytest.fixture
def other_page(page: Page) -> Page:
    other = catalog.create_page(name="Elsewhere", time_zone="Europe/Paris")
    catalog.create_group(page=other, name="Web")
    catalog.create_component(page=other, name="Webmail")
    return catalog.update_page(page=other, domain="status.example.com")


@pytest.fixture
def cluster_b(page: Page, hosted_email: ComponentGroup) -> Component:
    return catalog.create_component(page=page, name="Cluster B", group=hosted_email)


# --- pages ---------------------------------------------------------------------------------


def test_it_updates_a_page_and_records_who_changed_what(page: Page) -> None:
    before = version(page)
    updated = catalog.update_page(
        page=page,
        actor="user:alice",
        name="Tucows Email",
        time_zone="America/Toronto",
        url="https://tucows.com",
        domain="Status.Tucows.com",
        allow_feeds=False,
        uptime_partial_weight=0.5,
        uptime_counts_maintenance=True,
    )
    stored = Page.objects.get(pk=page.pk)
    assert (stored.name, stored.time_zone, stored.url) == (
        "Tucows Email",
        "America/Toronto",
        "https://tucows.com",
    )
    assert stored.domain == "status.tucows.com"
    assert (stored.allow_feeds, stored.allow_subscribers) == (False, True)
    assert stored.uptime_policy.partial_weight == 0.5
    assert stored.uptime_policy.maintenance_counts is True
    assert updated.version == stored.version > before
    audit = event("page.update")
    assert (audit.actor, audit.target_id, audit.page_id) == ("user:alice", page.pk, page.pk)
    assert audit.before["name"] == "OpenSRS" and audit.after["name"] == "Tucows Email"
    assert audit.before["allow_feeds"] is True and audit.after["allow_feeds"] is False


def test_it_writes_nothing_when_a_page_update_changes_nothing(page: Page) -> None:
    before, events = version(page), AuditEvent.objects.count()
    catalog.update_page(page=page, name="OpenSRS", time_zone=page.time_zone)
    assert version(page) == before
    assert AuditEvent.objects.count() == events


def test_it_records_creations_in_the_audit_log(page: Page) -> None:
    created = catalog.create_page(name="Fresh", actor="key:bot")
    group = catalog.create_group(page=created, name="Mail", actor="key:bot")
    component = catalog.create_component(page=created, name="MX", group=group, actor="key:bot")
    made = AuditEvent.objects.filter(actor="key:bot").order_by("id")
    assert [(e.action, e.target_id) for e in made] == [
        ("page.create", created.pk),
        ("group.create", group.pk),
        ("component.create", component.pk),
    ]
    assert made[2].before is None and made[2].after["group"] == group.pk


# --- components ----------------------------------------------------------------------------


def test_it_edits_a_component_as_the_public_sees_it(
    page: Page, cluster_a: Component, hosted_email: ComponentGroup
) -> None:
    catalog.update_component(
        component=cluster_a,
        actor="user:bob",
        name="Cluster A (Toronto)",
        description="Inbound and outbound mail",
        group=None,
        showcase=False,
        only_show_if_degraded=True,
        start_date=date(2020, 1, 1),
    )
    shown = next(c for c in components_json(page) if c["id"] == cluster_a.pk)
    assert shown["name"] == "Cluster A (Toronto)"
    assert shown["description"] == "Inbound and outbound mail"
    assert (shown["group_id"], shown["showcase"], shown["only_show_if_degraded"]) == (
        None,
        False,
        True,
    )
    assert shown["start_date"] == "2020-01-01"
    group = next(c for c in components_json(page) if c["id"] == hosted_email.pk)
    assert cluster_a.pk not in group["components"]
    audit = event("component.update")
    assert audit.before["group"] == hosted_email.pk and audit.after["group"] is None
    assert audit.before["name"] == "Cluster A" and audit.actor == "user:bob"


def test_it_leaves_unset_fields_alone_and_none_clears_them(
    cluster_a: Component, hosted_email: ComponentGroup
) -> None:
    catalog.update_component(component=cluster_a, start_date=date(2020, 1, 1))
    catalog.update_component(component=cluster_a, description="Still grouped")
    cluster_a.refresh_from_db()
    assert cluster_a.group == hosted_email and cluster_a.start_date == date(2020, 1, 1)
    catalog.update_component(component=cluster_a, start_date=None, group=UNSET)
    cluster_a.refresh_from_db()
    assert cluster_a.start_date is None and cluster_a.group == hosted_email


def test_it_sets_a_status_through_the_timeline_as_a_manual_change(
    page: Page, cluster_a: Component
) -> None:
    events = AuditEvent.objects.count()
    catalog.update_component(component=cluster_a, status=MAJOR, actor="user:carol")
    change = cluster_a.status_changes.latest("at")
    assert (change.old_status, change.new_status) == (OPERATIONAL, MAJOR)
    assert (change.source, change.actor) == ("manual", "user:carol")
    assert next(c for c in components_json(page) if c["id"] == cluster_a.pk)["status"] == MAJOR
    assert AuditEvent.objects.count() == events + 1  # one change, one event
    audit = event("component.update")
    assert (audit.before["status"], audit.after["status"]) == (OPERATIONAL, MAJOR)


def test_it_audits_status_changes_with_the_timeline_row(cluster_a: Component) -> None:
    catalog.set_component_status(component=cluster_a, status=MAJOR, actor="monitor:mx")
    audit = event("component.update")
    assert audit.actor == "monitor:mx"
    assert (audit.before["status"], audit.after["status"]) == (OPERATIONAL, MAJOR)
    assert audit.after["status_change"]["source"] == "manual"


def test_it_deletes_a_component_but_keeps_what_updates_said(
    page: Page, cluster_a: Component, incident: Incident
) -> None:
    before, pk = version(page), cluster_a.pk
    catalog.delete_component(component=cluster_a, actor="user:alice")
    assert not Component.objects.filter(pk=pk).exists()
    assert not StatusChange.objects.filter(component_id=pk).exists()
    assert pk not in [c["id"] for c in components_json(page)]
    assert version(page) > before
    first = incident.updates.order_by("display_at")[0]
    assert "Cluster A" in first.body
    assert [a["name"] for a in first.affected_components] == ["Cluster A"]
    audit = event("component.delete")
    assert (audit.target_id, audit.before["name"], audit.after) == (pk, "Cluster A", None)


# --- groups --------------------------------------------------------------------------------


def test_it_sets_a_groups_members_to_exactly_the_given_components(
    page: Page, cluster_a: Component, cluster_b: Component, hosted_email: ComponentGroup
) -> None:
    relay = catalog.create_component(page=page, name="Relay")
    catalog.update_group(
        group=hosted_email,
        actor="user:alice",
        name="Email",
        description="Mail clusters",
        components=[relay, cluster_b],
    )
    shown = {c["id"]: c for c in components_json(page)}
    assert shown[hosted_email.pk]["name"] == "Email"
    assert sorted(shown[hosted_email.pk]["components"]) == sorted([relay.pk, cluster_b.pk])
    assert shown[cluster_a.pk]["group_id"] is None
    assert shown[relay.pk]["group_id"] == hosted_email.pk
    audit = event("group.update")
    assert audit.before["components"] == [cluster_a.pk, cluster_b.pk]
    assert sorted(audit.after["components"]) == sorted([relay.pk, cluster_b.pk])
    assert audit.after["description"] == "Mail clusters"


def test_it_deletes_a_group_and_keeps_its_components(
    page: Page, cluster_a: Component, hosted_email: ComponentGroup
) -> None:
    catalog.delete_group(group=hosted_email, actor="user:alice")
    shown = {c["id"]: c for c in components_json(page)}
    assert hosted_email.pk not in shown
    assert shown[cluster_a.pk]["group_id"] is None
    audit = event("group.delete")
    assert audit.before["components"] == [cluster_a.pk] and audit.after is None


def test_it_reorders_components_listed_first_the_rest_after(
    page: Page, cluster_a: Component, cluster_b: Component
) -> None:
    relay = catalog.create_component(page=page, name="Relay")
    catalog.reorder_components(page=page, ordered=[relay, cluster_b], actor="user:alice")
    positions = {c["id"]: c["position"] for c in components_json(page) if not c["group"]}
    assert positions == {relay.pk: 1, cluster_b.pk: 2, cluster_a.pk: 3}
    audit = event("component.reorder")
    assert audit.before == {"order": [cluster_a.pk, cluster_b.pk, relay.pk]}
    assert audit.after == {"order": [relay.pk, cluster_b.pk, cluster_a.pk]}


def test_it_reorders_groups(page: Page, hosted_email: ComponentGroup) -> None:
    web = catalog.create_group(page=page, name="Web")
    before = version(page)
    catalog.reorder_groups(page=page, ordered=[web, hosted_email])
    positions = {c["id"]: c["position"] for c in components_json(page) if c["group"]}
    assert positions == {web.pk: 1, hosted_email.pk: 2}
    assert version(page) > before


# --- refused input writes nothing ----------------------------------------------------------


Call = Callable[[Page, Component, ComponentGroup, Page], object]


def bad_calls() -> dict[str, Call]:
    return {
        "page: unknown time zone": lambda p, c, g, o: catalog.update_page(
            page=p, name="Renamed", time_zone="Moon/Base"
        ),
        "page: a name taken": lambda p, c, g, o: catalog.update_page(page=p, name="Elsewhere"),
        "page: an empty name": lambda p, c, g, o: catalog.update_page(page=p, name="  "),
        "page: a weight over 1": lambda p, c, g, o: catalog.update_page(
            page=p, name="Renamed", uptime_partial_weight=1.5
        ),
        "page: a weight as text": lambda p, c, g, o: catalog.update_page(
            page=p,
            uptime_degraded_weight="0.3",  # type: ignore[arg-type]
        ),
        "page: a url without http": lambda p, c, g, o: catalog.update_page(
            page=p, url="javascript:alert(1)"
        ),
        "page: a domain that is no host name": lambda p, c, g, o: catalog.update_page(
            page=p, domain="status example com"
        ),
        "page: a domain another page answers on": lambda p, c, g, o: catalog.update_page(
            page=p, name="Renamed", domain="STATUS.example.com"
        ),
        "page: a switch as text": lambda p, c, g, o: catalog.update_page(
            page=p,
            allow_feeds="no",  # type: ignore[arg-type]
        ),
        "new page: a bad url": lambda p, c, g, o: catalog.create_page(name="X", url="ftp://x"),
        "component: a name taken": lambda p, c, g, o: catalog.update_component(
            component=c, name="Cluster B"
        ),
        "component: a group of another page": lambda p, c, g, o: catalog.update_component(
            component=c, group=o.groups.get()
        ),
        "component: an unknown status with a good rename": lambda p, c, g, o: (
            catalog.update_component(component=c, name="Cluster Z", status="down")
        ),
        "component: a negative position": lambda p, c, g, o: catalog.update_component(
            component=c, position=-1
        ),
        "component: a start date with a time": lambda p, c, g, o: catalog.update_component(
            component=c, start_date=datetime(2020, 1, 1)
        ),
        "component: showcase as text": lambda p, c, g, o: catalog.update_component(
            component=c,
            showcase="yes",  # type: ignore[arg-type]
        ),
        "group: a name taken": lambda p, c, g, o: catalog.update_group(
            group=g, name="Web", description="x"
        ),
        "group: a component of another page": lambda p, c, g, o: catalog.update_group(
            group=g, name="Email", components=[c, o.components.get()]
        ),
        "group: a component twice": lambda p, c, g, o: catalog.update_group(
            group=g, components=[c, c]
        ),
        "reorder: a component of another page": lambda p, c, g, o: catalog.reorder_components(
            page=p, ordered=[c, o.components.get()]
        ),
        "reorder: a component twice": lambda p, c, g, o: catalog.reorder_components(
            page=p, ordered=[c, p.components.get(name="Cluster B"), c]
        ),
        "reorder: nothing": lambda p, c, g, o: catalog.reorder_components(page=p, ordered=[]),
        "reorder: a group of another page": lambda p, c, g, o: catalog.reorder_groups(
            page=p, ordered=[g, o.groups.get()]
        ),
    }


@pytest.mark.parametrize("case", list(bad_calls()))
def test_it_refuses_bad_input_and_writes_nothing(
    case: str,
    page: Page,
    cluster_a: Component,
    cluster_b: Component,
    hosted_email: ComponentGroup,
    other_page: Page,
) -> None:
    catalog.create_group(page=page, name="Web")
    before = database_state(), _catalog_state(), AuditEvent.objects.count()
    with pytest.raises(InputError) as raised:
        bad_calls()[case](page, cluster_a, hosted_email, other_page)
    assert str(raised.value) and "\n" not in str(raised.value)
    assert (database_state(), _catalog_state(), AuditEvent.objects.count()) == before


def _catalog_state() -> list[tuple[object, ...]]:
    pages = Page.objects.order_by("pk").values_list(
        "name", "url", "time_zone", "domain", "allow_feeds", "uptime_partial_weight"
    )
    components = Component.objects.order_by("pk").values_list(
        "name", "group", "position", "showcase", "start_date", "description"
    )
    groups = ComponentGroup.objects.order_by("pk").values_list("name", "description", "position")
    return [*pages, *components, *groups]
