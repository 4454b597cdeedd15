"""Service functions for pages, groups, components and component status.

Each takes keyword arguments, validates before writing, and bumps the page version in the
same transaction so the publisher picks the change up.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from heliograph.catalog.models import SOURCES, Component, ComponentGroup, Page, StatusChange
from heliograph.catalog.status import COMPONENT_STATUSES, OPERATIONAL
from heliograph.lib.errors import InputError


def bump_version(page: Page) -> None:
    """Mark the page's public artifacts stale (call inside the writing transaction)."""
    Page.objects.filter(pk=page.pk).update(version=F("version") + 1, updated_at=timezone.now())


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


def check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
        ) from None
    return name


def check_status(status: str) -> str:
    if status not in COMPONENT_STATUSES:
        raise InputError(
            f"unknown component status {status!r}; use one of {', '.join(COMPONENT_STATUSES)}"
        )
    return status


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 255:
        raise InputError("a name must have 1 to 255 characters")
    return name


def create_page(*, name: str, time_zone: str = "UTC", url: str = "", domain: str = "") -> Page:
    name = _check_name(name)
    check_time_zone(time_zone)
    if Page.objects.filter(name=name).exists():
        raise InputError(f"a page named {name!r} already exists")
    return Page.objects.create(name=name, time_zone=time_zone, url=url, domain=domain)


@transaction.atomic
def create_group(*, page: Page, name: str, description: str = "") -> ComponentGroup:
    name = _check_name(name)
    if page.groups.filter(name=name).exists():
        raise InputError(f"page {page.name!r} already has a group named {name!r}")
    position = (page.groups.aggregate(m=Max("position"))["m"] or 0) + 1
    group = page.groups.create(name=name, description=description, position=position)
    bump_version(page)
    return group


@transaction.atomic
def create_component(
    *,
    page: Page,
    name: str,
    group: ComponentGroup | None = None,
    description: str = "",
    start_date: date | None = None,
    created_at: datetime | None = None,
) -> Component:
    name = _check_name(name)
    if page.components.filter(name=name).exists():
        raise InputError(f"page {page.name!r} already has a component named {name!r}")
    if group is not None and group.page_id != page.pk:
        raise InputError(f"group {group.name!r} belongs to another page")
    position = (page.components.aggregate(m=Max("position"))["m"] or 0) + 1
    component = page.components.create(
        name=name,
        group=group,
        description=description,
        position=position,
        start_date=start_date,
        created_at=created_at or timezone.now(),
    )
    bump_version(page)
    return component


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
    actor: str = "",
    incident_id: str | None = None,
) -> StatusChange | None:
    """Record a status change at ``at`` (now by default; earlier times are backfills)."""
    check_status(status)
    if source not in SOURCES:
        raise InputError(f"unknown status source {source!r}")
    at = at or timezone.now()
    old = status_at(component, at)
    if old == status:
        return None
    change = component.status_changes.create(
        old_status=old, new_status=status, at=at, source=source, actor=actor,
        incident_id=incident_id,
    )  # fmt: skip
    # A backfill slots into the past: keep the next row's "from" status truthful.
    following = component.status_changes.filter(at__gt=at).order_by("at", "id").first()
    if following:
        StatusChange.objects.filter(pk=following.pk).update(old_status=status)
    latest = component.status_changes.order_by("-at", "-id").first()
    component.status = latest.new_status if latest else status
    component.updated_at = timezone.now()
    component.save(update_fields=["status", "updated_at"])
    bump_version(component.page)
    return change
