"""What the rest of Heliograph hands to the outbox: registered from ``NotifyConfig.ready``."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from heliograph.catalog.models import Component, StatusChange
from heliograph.incidents.models import Incident, IncidentUpdate, Postmortem
from heliograph.notify import outbox, payloads
from heliograph.notify.models import COMPONENT_UPDATE, INCIDENT_UPDATE, MAINTENANCE, POSTMORTEM

CHANNEL = "notify"  # recorded as the maintenance's ``reminder_queued_by``


def remind(maintenance: Incident, at: datetime) -> str:
    """Queue the "upcoming maintenance" reminder (called inside the maintenance worker's
    transaction, so the reminder is recorded if and only if it is queued).

    The body is the maintenance as Statuspage sends it; the reminder mark beside it only
    changes the e-mail wording and never reaches a webhook.
    """
    payload = {**payloads.incident_payload(maintenance, now=at), **payloads.REMINDER_MARK}
    outbox.enqueue(page=maintenance.page, kind=MAINTENANCE, incident=maintenance, payload=payload)
    return CHANNEL


# A change dated more than this before it is recorded is a backfill: history being written
# down, not news. Like Statuspage's backfilled incidents, it notifies nobody (so loading
# the example's 2021 report queues nothing).
BACKFILL_AFTER = timedelta(hours=1)


def is_backfill(at: datetime, now: datetime | None = None) -> bool:
    return at < (now or timezone.now()) - BACKFILL_AFTER


def on_incident_update(*, update: IncidentUpdate, published_at: datetime | None = None) -> None:
    """An incident or maintenance update (the first one too) → one notification.

    A draft's updates notify nobody; when the draft is published its latest update is
    announced again with ``published_at``, and is news as of then.
    """
    incident = update.incident
    news_at = published_at or update.display_at
    if incident.draft or not update.deliver_notifications:
        return
    if incident.backfilled or is_backfill(news_at):
        return
    kind = MAINTENANCE if incident.is_maintenance else INCIDENT_UPDATE
    payload = payloads.incident_payload(incident)
    outbox.enqueue(page=incident.page, kind=kind, incident=incident, payload=payload)


def on_postmortem_published(*, postmortem: Postmortem) -> None:
    """A postmortem published with "notify subscribers" → one notification."""
    incident = postmortem.incident
    published = postmortem.published_at
    if not postmortem.notify_subscribers or published is None or is_backfill(published):
        return
    if incident.draft:
        return
    payload = payloads.incident_payload(incident)
    outbox.enqueue(page=incident.page, kind=POSTMORTEM, incident=incident, payload=payload)


def on_component_status(*, component: Component, change: StatusChange) -> None:
    """Any status change of a component → one notification (for webhooks, as Statuspage)."""
    if is_backfill(change.at):
        return
    payload = payloads.component_payload(
        component,
        old_status=change.old_status,
        new_status=change.new_status,
        at=change.at,
        update_id=str(change.pk),
    )
    outbox.enqueue(page=component.page, kind=COMPONENT_UPDATE, component=component, payload=payload)
