"""Incident templates (Statuspage's): canned title, text, status and components."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from heliograph.catalog.models import Component, ComponentGroup, Page
from heliograph.catalog.services import bump_version
from heliograph.incidents.core import check_name, check_same_page, record
from heliograph.incidents.lifecycle import INCIDENT_STATUSES, MAINTENANCE_STATUSES, Status
from heliograph.incidents.models import IncidentTemplate
from heliograph.lib.errors import InputError
from heliograph.lib.unset import UNSET, Unset

TEMPLATE_STATUSES = tuple(
    s for s in INCIDENT_STATUSES + MAINTENANCE_STATUSES if s != Status.POSTMORTEM
)


def _check(page: Page, update_status: str, group: ComponentGroup | None, title: str) -> str:
    if update_status not in TEMPLATE_STATUSES:
        raise InputError(
            f"unknown update status {update_status!r}; use one of {', '.join(TEMPLATE_STATUSES)}"
        )
    if group is not None and group.page_id != page.pk:
        raise InputError(f"group {group.name!r} belongs to another page")
    title = (title or "").strip()
    if not title or len(title) > 255:
        raise InputError("a template title must have 1 to 255 characters")
    return title


@transaction.atomic
def create_template(
    *,
    page: Page,
    name: str,
    title: str,
    body: str,
    group: ComponentGroup | None = None,
    update_status: str = "investigating",
    should_tweet: bool = False,
    should_send_notifications: bool = True,
    components: Iterable[Component] = (),
    actor: str = "cli",
) -> IncidentTemplate:
    name = check_name(name, "a template")
    title = _check(page, update_status, group, title)
    components = list(components)
    check_same_page(components, page)
    template = page.incident_templates.create(
        name=name,
        title=title,
        body=body or "",
        group=group,
        update_status=update_status,
        should_tweet=should_tweet,
        should_send_notifications=should_send_notifications,
    )
    template.components.add(*components)
    bump_version(page, [])  # templates are for responders only
    record(actor, "template.create", template, page, after=template)
    return template


@transaction.atomic
def update_template(
    *,
    template: IncidentTemplate,
    actor: str = "cli",
    name: str | None = None,
    title: str | None = None,
    body: str | None = None,
    group: ComponentGroup | None | Unset = UNSET,
    update_status: str | None = None,
    should_tweet: bool | None = None,
    should_send_notifications: bool | None = None,
    components: Iterable[Component] | None = None,
) -> IncidentTemplate:
    """Change the given fields; ``group=None`` removes the group."""
    page = template.page
    new_group = template.group if group is UNSET else group
    fields = {
        "name": check_name(name, "a template") if name is not None else template.name,
        "title": _check(
            page,
            update_status or template.update_status,
            new_group,
            title if title is not None else template.title,
        ),
        "body": template.body if body is None else body,
        "group": new_group,
        "update_status": update_status or template.update_status,
        "should_tweet": template.should_tweet if should_tweet is None else should_tweet,
        "should_send_notifications": template.should_send_notifications
        if should_send_notifications is None
        else should_send_notifications,
    }
    chosen = list(components) if components is not None else None
    check_same_page(chosen or [], page)
    before = IncidentTemplate.objects.get(pk=template.pk)
    for field, value in fields.items():
        setattr(template, field, value)
    template.updated_at = timezone.now()
    template.save()
    if chosen is not None:
        template.components.set(chosen)
    bump_version(page, [])  # templates are for responders only
    record(actor, "template.update", template, page, before=before, after=template)
    return template


@transaction.atomic
def delete_template(*, template: IncidentTemplate, actor: str = "cli") -> None:
    page = template.page
    record(actor, "template.delete", template, page, before=template)
    template.delete()
    bump_version(page, [])  # templates are for responders only
