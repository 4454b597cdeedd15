"""Changes (deploys, config) recorded on components, and tying incidents to their cause."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from heliograph.catalog.models import Component, Page
from heliograph.catalog.services import bump_version
from heliograph.incidents import causes
from heliograph.incidents.core import apply_cause, check_name, check_same_page, record
from heliograph.incidents.models import CHANGE_SOURCES, Change, Incident
from heliograph.lib.errors import InputError

MAX_HOURS = 24 * 7


@transaction.atomic
def record_change(
    *,
    page: Page,
    title: str,
    components: Iterable[Component] = (),
    at: datetime | None = None,
    source: str = "deploy",
    link: str = "",
    actor: str = "cli",
) -> Change:
    """Record a deploy or config change so later incidents can be tied to it."""
    title = check_name(title, "a change")
    if source not in CHANGE_SOURCES:
        raise InputError(
            f"unknown change source {source!r}; use one of {', '.join(CHANGE_SOURCES)}"
        )
    components = list(components)
    check_same_page(components, page)
    link = (link or "").strip()
    if link:
        try:
            URLValidator(schemes=["http", "https"])(link)
        except ValidationError:
            raise InputError(f"a change link must be an http(s) URL, not {link!r}") from None
    change = page.changes.create(
        title=title, at=at or timezone.now(), source=source, link=link, actor=actor
    )
    change.components.add(*components)
    bump_version(page, [])  # no public page shows changes
    record(actor, "change.create", change, page, after=change)
    return change


@dataclass(frozen=True)
class Related:
    """A change or maintenance that began shortly before an incident."""

    cause: Change | Incident
    at: datetime
    text: str  # began 3 minutes after maintenance "Rspam upgrade" started

    @property
    def kind(self) -> str:
        return "maintenance" if isinstance(self.cause, Incident) else "change"


def related_changes(*, incident: Incident, hours: float = 6) -> list[Related]:
    """Changes and maintenances on the incident's components in the hours before it began."""
    if not 0 < hours <= MAX_HOURS:
        raise InputError(f"hours must be between 0 and {MAX_HOURS}")
    start = incident.started_at
    since = start - timedelta(hours=hours)
    components = list(incident.components.all())
    found: list[Related] = []
    changes = Change.objects.filter(
        page_id=incident.page_id, components__in=components, at__gte=since, at__lte=start
    ).distinct()
    for change in changes:
        what = f'{change.source} "{change.title}"'
        found.append(Related(change, change.at, causes.relation(what, change.at, start)))
    maintenances = (
        Incident.objects.maintenances()
        .filter(page_id=incident.page_id, components__in=components)
        .exclude(pk=incident.pk)
        .distinct()
    )
    for maintenance in maintenances:
        began = maintenance.scheduled_for or maintenance.started_at
        if causes.is_related(began, maintenance.scheduled_until, start, hours):
            what = f'maintenance "{maintenance.name}" started'
            text = causes.relation(what, began, start)
            found.append(Related(maintenance, began, text))
    return sorted(found, key=lambda r: r.at, reverse=True)


@transaction.atomic
def link_cause(
    *, incident: Incident, cause: Incident | Change | None, actor: str = "cli"
) -> Incident:
    """Tie an incident to the maintenance or change that caused it (None unlinks)."""
    before = {"caused_by": incident.caused_by_id, "caused_by_change": incident.caused_by_change_id}
    apply_cause(incident, cause)
    incident.save(update_fields=["caused_by", "caused_by_change"])
    bump_version(incident.page, [incident])
    after = {"caused_by": incident.caused_by_id, "caused_by_change": incident.caused_by_change_id}
    record(actor, "incident.link_cause", incident, incident.page, before, after)
    return incident
