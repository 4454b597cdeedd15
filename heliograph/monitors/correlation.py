"""Change correlation: what changed on a component in the hours before trouble began.

When automation opens an incident, the evidence it keeps for responders lists the recorded
changes (deploys, config) and the maintenances on the incident's components in the
preceding hours, newest first, each with how long before the trouble it began ("began 3
minutes after maintenance "Rspam upgrade" started"). Customers are told of a cause once a
responder links it. It works before the incident exists, so it takes the components and
the start time rather than an incident.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from heliograph.catalog.models import Component, Page
from heliograph.incidents import causes
from heliograph.incidents.changes import Related
from heliograph.incidents.models import Change, Incident
from heliograph.lib.timefmt import posted_utc

LOOKBACK_HOURS = 6.0


def related(
    *,
    page: Page,
    components: Iterable[Component],
    start: datetime,
    hours: float = LOOKBACK_HOURS,
    exclude: Incident | None = None,
) -> list[Related]:
    """Changes and maintenances on ``components`` in the ``hours`` before ``start``,
    newest first (a maintenance still running at ``start`` counts too)."""
    picked = [c.pk for c in components]
    since = start - timedelta(hours=hours)
    found: list[Related] = []
    changes = Change.objects.filter(
        page=page, components__in=picked, at__gte=since, at__lte=start
    ).distinct()
    for change in changes:
        what = f'{change.source} "{change.title}"'
        found.append(Related(change, change.at, causes.relation(what, change.at, start)))
    maintenances = Incident.objects.maintenances().filter(page=page, components__in=picked)
    maintenances = maintenances.distinct()
    if exclude is not None:
        maintenances = maintenances.exclude(pk=exclude.pk)
    for maintenance in maintenances:
        began = maintenance.scheduled_for or maintenance.started_at
        if causes.is_related(began, maintenance.scheduled_until, start, hours):
            what = f'maintenance "{maintenance.name}" started'
            found.append(Related(maintenance, began, causes.relation(what, began, start)))
    return sorted(found, key=lambda r: (r.at, r.cause.pk), reverse=True)


def lines(
    *,
    page: Page,
    components: Iterable[Component],
    start: datetime,
    hours: float = LOOKBACK_HOURS,
) -> list[str]:
    """``began 3 minutes after maintenance "Rspam upgrade" started (Jul 08, 2021 - 15:54
    UTC)``: one sentence per related change, newest first."""
    found = related(page=page, components=components, start=start, hours=hours)
    return [f"{r.text} ({posted_utc(r.at)})" for r in found]
