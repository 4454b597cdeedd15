"""Service functions for pages, groups, components and component status.

Each takes keyword arguments, validates everything before writing, runs in one transaction,
records an audit event, and bumps the page version in the same transaction so the publisher
picks the change up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F, Max, Model
from django.utils import timezone

from heliograph.audit import trail
from heliograph.catalog.models import (
    SOURCES,
    Component,
    ComponentGroup,
    Page,
    StatusChange,
    Touch,
)
from heliograph.catalog.status import OPERATIONAL
from heliograph.catalog.validation import (
    Check,
    changed_fields,
    check_bool,
    check_domain,
    check_group,
    check_members,
    check_position,
    check_start_date,
    check_status,
    check_text,
    check_time_zone,
    check_url,
    check_weight,
    unique_name,
)
from heliograph.lib import events
from heliograph.lib.errors import InputError
from heliograph.lib.unset import UNSET, Unset

__all__ = [
    "bump_version", "check_status", "check_time_zone", "create_component",
    "create_group", "create_page", "delete_component", "delete_group", "find_component",
    "find_group", "find_page", "reorder_components", "reorder_groups", "set_component_status",
    "status_at", "update_component", "update_group", "update_page",
]  # fmt: skip


_Ordered = TypeVar("_Ordered", Component, ComponentGroup)


def bump_version(
    page: Page, touched: Iterable[Model] | None = None, statuses: Iterable[Component] = ()
) -> None:
    """Mark the page's public artifacts stale (call inside the writing transaction).

    ``touched``: the incidents, components and groups the write changed, so the publisher
    re-renders only what shows them (besides the page's bounded documents, always
    rendered); an empty list when nothing beyond those changed; None (the default) when
    anything may have. ``statuses``: components whose status alone changed."""
    Page.objects.filter(pk=page.pk).update(version=F("version") + 1, updated_at=timezone.now())
    rows = (
        [Touch(page=page, kind=Touch.PAGE)]
        if touched is None
        else [Touch(page=page, kind=str(obj._meta.model_name), ref=str(obj.pk)) for obj in touched]
    )
    rows += [Touch(page=page, kind=Touch.STATUS, ref=c.pk) for c in statuses]
    Touch.objects.bulk_create(rows)


def find_page(ref: str) -> Page:
    page = Page.objects.filter(pk=ref).first() or Page.objects.filter(name=ref).first()
    if page is None:
        raise InputError(f"no page with id or name {ref!r}")
    return page


def find_component(page: Page, ref: str) -> Component:
    found = page.components.filter(pk=ref).first() or page.components.filter(name=ref).first()
    if found is None:
        raise InputError(f"page {page.name!r} has no component with id or name {ref!r}")
    return found


def find_group(page: Page, ref: str) -> ComponentGroup:
    found = page.groups.filter(pk=ref).first() or page.groups.filter(name=ref).first()
    if found is None:
        raise InputError(f"page {page.name!r} has no component group with id or name {ref!r}")
    return found


def _save(obj: Page | ComponentGroup | Component, changes: dict[str, Any]) -> None:
    for field, value in changes.items():
        setattr(obj, field, value)
    obj.updated_at = timezone.now()
    obj.save(update_fields=[*changes, "updated_at"])


def _group_snapshot(group: ComponentGroup) -> dict[str, Any]:
    members = list(group.components.order_by("position", "created_at").values_list("pk", flat=True))
    return {**trail.snapshot(group), "components": members}


# --- pages ---------------------------------------------------------------------------------


@transaction.atomic
def create_page(
    *,
    name: str,
    time_zone: str = "UTC",
    url: str = "",
    domain: str = "",
    embeddable: bool = False,
    actor: str = "cli",
) -> Page:
    name = unique_name(Page.objects.all(), None, "a page")(name)
    check_time_zone(time_zone)
    url, domain = check_url(url), check_domain(None)(domain)
    page = Page.objects.create(
        name=name,
        time_zone=time_zone,
        url=url,
        domain=domain,
        embeddable=check_bool("embeddable")(embeddable),
    )
    trail.record(
        actor=actor,
        action="page.create",
        target=page,
        page_id=page.pk,
        after=trail.snapshot(page),
    )
    return page


@transaction.atomic
def update_page(
    *,
    page: Page,
    actor: str = "cli",
    name: str | None = None,
    url: str | None = None,
    time_zone: str | None = None,
    domain: str | None = None,
    allow_subscribers: bool | None = None,
    allow_feeds: bool | None = None,
    uptime_partial_weight: float | None = None,
    uptime_degraded_weight: float | None = None,
    uptime_counts_maintenance: bool | None = None,
    embeddable: bool | None = None,
) -> Page:
    """Change a page's settings; arguments left as None stay as they are."""
    given = dict(
        name=name,
        url=url,
        time_zone=time_zone,
        domain=domain,
        allow_subscribers=allow_subscribers,
        allow_feeds=allow_feeds,
        embeddable=embeddable,
        uptime_partial_weight=uptime_partial_weight,
        uptime_degraded_weight=uptime_degraded_weight,
        uptime_counts_maintenance=uptime_counts_maintenance,
    )
    checks: dict[str, Check] = {
        "name": unique_name(Page.objects.all(), page.pk, "a page"),
        "url": check_url,
        "time_zone": check_time_zone,
        "domain": check_domain(page.pk),
        **{f: check_bool(f) for f in ("allow_subscribers", "allow_feeds", "embeddable")},
        **{f: check_weight(f) for f in ("uptime_partial_weight", "uptime_degraded_weight")},
        "uptime_counts_maintenance": check_bool("uptime_counts_maintenance"),
    }
    changes = changed_fields(page, given, checks)
    if changes:
        before = trail.snapshot(page)
        _save(page, changes)
        # Who may frame the page and the host it answers are not in any artifact.
        bump_version(page, [] if set(changes) <= {"embeddable", "domain"} else None)
        page.refresh_from_db(fields=["version", "updated_at"])
        trail.record(
            actor=actor,
            action="page.update",
            target=page,
            page_id=page.pk,
            before=before,
            after=trail.snapshot(page),
        )
    return page


# --- groups --------------------------------------------------------------------------------


@transaction.atomic
def create_group(
    *, page: Page, name: str, description: str = "", actor: str = "cli"
) -> ComponentGroup:
    name = unique_name(page.groups.all(), None, f"page {page.name!r} already has a group")(name)
    check_text("a description")(description)
    position = (page.groups.aggregate(m=Max("position"))["m"] or 0) + 1
    group = page.groups.create(name=name, description=description, position=position)
    bump_version(page, [group])
    trail.record(
        actor=actor,
        action="group.create",
        target=group,
        page_id=page.pk,
        after=_group_snapshot(group),
    )
    return group


@transaction.atomic
def update_group(
    *,
    group: ComponentGroup,
    actor: str = "cli",
    name: str | None = None,
    description: str | None = None,
    position: int | None = None,
    components: list[Component] | None = None,
) -> ComponentGroup:
    """Change a group; ``components`` (when given) become exactly its members."""
    page = group.page
    checks: dict[str, Check] = {
        "name": unique_name(page.groups.all(), group.pk, f"page {page.name!r} already has a group"),
        "description": check_text("a description"),
        "position": check_position,
    }
    given = dict(name=name, description=description, position=position)
    changes = changed_fields(group, given, checks)
    members = None if components is None else check_members(page, components, "component")
    before = _group_snapshot(group)
    # Members before and after: the page names a component with its group's name.
    shown = set(group.components.all()) | set(members or [])
    if changes:
        _save(group, changes)
    if members is not None:
        now, keep = timezone.now(), [c.pk for c in members]
        group.components.exclude(pk__in=keep).update(group=None, updated_at=now)
        page.components.filter(pk__in=keep).exclude(group=group).update(group=group, updated_at=now)
    after = _group_snapshot(group)
    if after != before:
        bump_version(page, [group, *shown])
        trail.record(
            actor=actor,
            action="group.update",
            target=group,
            page_id=page.pk,
            before=before,
            after=_group_snapshot(group),
        )
    return group


@transaction.atomic
def delete_group(*, group: ComponentGroup, actor: str = "cli") -> None:
    """Delete a group; its members stay on the page, ungrouped."""
    page = group.page
    trail.record(
        actor=actor,
        action="group.delete",
        target=group,
        page_id=page.pk,
        before=_group_snapshot(group),
    )
    group.components.update(group=None, updated_at=timezone.now())
    group.delete()
    bump_version(page)


# --- components ----------------------------------------------------------------------------


@transaction.atomic
def create_component(
    *,
    page: Page,
    name: str,
    group: ComponentGroup | None = None,
    description: str = "",
    start_date: date | None = None,
    created_at: datetime | None = None,
    actor: str = "cli",
) -> Component:
    name = unique_name(page.components.all(), None, f"page {page.name!r} already has a component")(
        name
    )
    if group is not None and group.page_id != page.pk:
        raise InputError(f"group {group.name!r} belongs to another page")
    check_text("a description")(description)
    check_start_date(start_date)
    position = (page.components.aggregate(m=Max("position"))["m"] or 0) + 1
    component = page.components.create(
        name=name,
        group=group,
        description=description,
        position=position,
        start_date=start_date,
        created_at=created_at or timezone.now(),
    )
    bump_version(page, [component])
    trail.record(
        actor=actor,
        action="component.create",
        target=component,
        page_id=page.pk,
        after=trail.snapshot(component),
    )
    return component


def _component_changes(component: Component, given: dict[str, Any]) -> dict[str, Any]:
    page = component.page
    checks: dict[str, Check] = {
        "name": unique_name(
            page.components.all(), component.pk, f"page {page.name!r} already has a component"
        ),
        "description": check_text("a description"),
        "position": check_position,
        "showcase": check_bool("showcase"),
        "only_show_if_degraded": check_bool("only_show_if_degraded"),
    }
    changes = changed_fields(component, {k: given[k] for k in checks}, checks)
    # None is a real value for these two ("no group", "no start date"), so only UNSET skips.
    if given["group"] is not UNSET and component.group != check_group(page)(given["group"]):
        changes["group"] = given["group"]
    if given["start_date"] is not UNSET and component.start_date != check_start_date(
        given["start_date"]
    ):
        changes["start_date"] = given["start_date"]
    return changes


@transaction.atomic
def update_component(
    *,
    component: Component,
    actor: str = "cli",
    name: str | None = None,
    description: str | None = None,
    group: ComponentGroup | None | Unset = UNSET,
    position: int | None = None,
    showcase: bool | None = None,
    only_show_if_degraded: bool | None = None,
    start_date: date | None | Unset = UNSET,
    status: str | None = None,
) -> Component:
    """Change a component; a new ``status`` goes on the timeline as a manual change."""
    given = dict(
        name=name,
        description=description,
        group=group,
        position=position,
        showcase=showcase,
        only_show_if_degraded=only_show_if_degraded,
        start_date=start_date,
    )
    changes = _component_changes(component, given)
    if status is not None:
        check_status(status)
    before = trail.snapshot(component)
    if changes:
        _save(component, changes)
    change = None
    if status is not None:
        change = _record_status(component=component, status=status, source="manual", actor=actor)
    if changes or change:
        bump_version(component.page, [component])
        trail.record(
            actor=actor,
            action="component.update",
            target=component,
            page_id=component.page_id,
            before=before,
            after=trail.snapshot(component),
        )
    if change is not None:
        events.emit(events.COMPONENT_STATUS_RECORDED, component=component, change=change)
    return component


@transaction.atomic
def delete_component(*, component: Component, actor: str = "cli") -> None:
    """Delete a component and its timeline (updates that named it keep their text)."""
    page = component.page
    trail.record(
        actor=actor,
        action="component.delete",
        target=component,
        page_id=page.pk,
        before=trail.snapshot(component),
    )
    component.delete()
    bump_version(page)


def _reorder(
    page: Page, ordered: Sequence[_Ordered], current: list[_Ordered], what: str
) -> tuple[list[str], list[str]]:
    """Positions 1..n: the listed items first, the others after them in their old order."""
    if not check_members(page, ordered, what):
        raise InputError(f"give the {what}s in their new order")
    listed = [item.pk for item in ordered]
    before = [item.pk for item in current]
    after = listed + [pk for pk in before if pk not in set(listed)]
    positions = {pk: i for i, pk in enumerate(after, start=1)}
    now = timezone.now()
    for item in current:
        if item.position != positions[item.pk]:
            model = type(item)
            model.objects.filter(pk=item.pk).update(position=positions[item.pk], updated_at=now)
    return before, after


@transaction.atomic
def reorder_components(*, page: Page, ordered: list[Component], actor: str = "cli") -> None:
    current = list(page.components.order_by("position", "created_at"))
    before, after = _reorder(page, ordered, current, "component")
    bump_version(page)
    trail.record(
        actor=actor,
        action="component.reorder",
        target=page,
        page_id=page.pk,
        before={"order": before},
        after={"order": after},
    )


@transaction.atomic
def reorder_groups(*, page: Page, ordered: list[ComponentGroup], actor: str = "cli") -> None:
    current = list(page.groups.order_by("position", "created_at"))
    before, after = _reorder(page, ordered, current, "group")
    bump_version(page, [])  # group order shows on bounded documents only
    trail.record(
        actor=actor,
        action="group.reorder",
        target=page,
        page_id=page.pk,
        before={"order": before},
        after={"order": after},
    )


# --- the status timeline -------------------------------------------------------------------


def status_at(component: Component, at: datetime) -> str:
    """The component's status in effect at a moment, from its timeline."""
    before = component.status_changes.filter(at__lte=at).order_by("-at", "-id").first()
    return before.new_status if before else OPERATIONAL


@transaction.atomic
def set_component_status(
    *,
    component: Component,
    status: str,
    at: datetime | None = None,
    source: str = "manual",
    actor: str = "cli",
    incident_id: str | None = None,
) -> StatusChange | None:
    """Record a status change at ``at`` (now by default; earlier times are backfills)."""
    before = trail.snapshot(component)
    change = _record_status(
        component=component,
        status=status,
        at=at,
        source=source,
        actor=actor,
        incident_id=incident_id,
    )
    if change is not None:
        # A change tied to an incident also moves that incident's impact windows.
        incident = [change.incident] if change.incident else []
        bump_version(component.page, incident, statuses=[component])
        timeline = {
            "old_status": change.old_status,
            "new_status": change.new_status,
            "at": change.at.isoformat(),
            "source": change.source,
            "incident": incident_id,
        }
        trail.record(
            actor=actor,
            action="component.update",
            target=component,
            page_id=component.page_id,
            before=before,
            after={**trail.snapshot(component), "status_change": timeline},
        )
        events.emit(events.COMPONENT_STATUS, component=component, change=change)
        events.emit(events.COMPONENT_STATUS_RECORDED, component=component, change=change)
    return change


def _record_status(
    *,
    component: Component,
    status: str,
    source: str,
    actor: str,
    at: datetime | None = None,
    incident_id: str | None = None,
) -> StatusChange | None:
    """The timeline row and the component's current status (no version bump, no audit)."""
    check_status(status)
    if source not in SOURCES:
        raise InputError(f"unknown status source {source!r}")
    at = at or timezone.now()
    old = status_at(component, at)
    if old == status:
        return None
    change = component.status_changes.create(
        old_status=old,
        new_status=status,
        at=at,
        source=source,
        actor=actor,
        incident_id=incident_id,
    )
    # A backfill slots into the past: keep the next row's "from" status truthful.
    following = component.status_changes.filter(at__gt=at).order_by("at", "id").first()
    if following:
        StatusChange.objects.filter(pk=following.pk).update(old_status=status)
    latest = component.status_changes.order_by("-at", "-id").first()
    component.status = latest.new_status if latest else status
    component.updated_at = timezone.now()
    component.save(update_fields=["status", "updated_at"])
    return change
