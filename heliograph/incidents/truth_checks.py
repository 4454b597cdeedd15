"""Truth checks before an update is published (architecture: Truth of the record): gathers the
record and asks the plain rules in ``truth`` what the text gets wrong."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from heliograph.catalog.services import status_at
from heliograph.catalog.status import OPERATIONAL
from heliograph.incidents import lifecycle, truth
from heliograph.incidents.core import ComponentStatuses, check_update, status_steps
from heliograph.incidents.models import Incident


def check_update_text(
    *,
    incident: Incident,
    body: str,
    status: str,
    at: datetime | None = None,
    components: ComponentStatuses | None = None,
) -> list[str]:
    """Warnings for an update about to be posted (nothing is written)."""
    components = dict(components or {})
    check_update(incident.kind, status, components, incident.page)
    now = timezone.now()
    at = at or now
    changes = status_steps(incident)
    # As if posted: the update's component statuses join the timeline at its time.
    changes += [lifecycle.StatusStep(c.pk, at, s) for c, s in components.items()]
    impaired = {}
    for component in {*incident.components.select_related("group"), *components}:
        state = components.get(component) or status_at(component, at)
        if state != OPERATIONAL:
            impaired[component.display_name] = state
    return truth.check(
        text=body,
        status=status,
        windows=lifecycle.impact_windows(changes),
        started_at=incident.started_at,
        now=max(now, at),
        zone=incident.page.zone,
        impaired=impaired,
    )
