"""Which incidents a part of a version needs, so a write loads those and not the history."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q

from heliograph.catalog.models import Page
from heliograph.incidents import lifecycle
from heliograph.incidents.models import IncidentQuerySet
from heliograph.publish import feeds, html, v2json

# Lists cut at N are taken from the N + MARGIN newest rows, then sorted as the renderers
# sort (ties broken by id), so rows with equal times cannot fall out of the cut.
MARGIN = 10
_OPEN = (*lifecycle.UNRESOLVED, *lifecycle.OPEN_MAINTENANCE)


def public(page: Page) -> IncidentQuerySet:
    return page.incidents.filter(draft=False)


def public_ids(page: Page) -> set[str]:
    return set(public(page).values_list("pk", flat=True))


def bounded_ids(page: Page, now: datetime) -> set[str]:
    """Every incident the bounded documents can show: open ones, the newest and the most
    recently changed, and those on the index's past days."""
    found = public(page)
    newest = found.order_by("-created_at")
    cut = max(v2json.RECENT, feeds.RECENT) + MARGIN
    since = now - timedelta(days=html.PAST_DAYS + 2)
    selections = [
        found.filter(status__in=_OPEN),
        found.filter(started_at__gte=since),
        newest.exclude(kind=lifecycle.Kind.MAINTENANCE)[:cut],
        newest.maintenances()[:cut],
        found.order_by("-updated_at", "-created_at")[:cut],
    ]
    return {pk for selection in selections for pk in selection.values_list("pk", flat=True)}


def showing(page: Page, component_ids: Iterable[str]) -> set[str]:
    """Incidents whose pages name one of these components."""
    ids = list(component_ids)
    if not ids:
        return set()
    listing = Q(components__in=ids) | Q(status_changes__component__in=ids)
    return set(public(page).filter(listing).values_list("pk", flat=True).distinct())
