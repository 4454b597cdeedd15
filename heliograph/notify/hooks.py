"""What the rest of Heliograph hands to the outbox: registered from ``NotifyConfig.ready``."""

from __future__ import annotations

from datetime import datetime

from heliograph.incidents.models import Incident
from heliograph.notify import outbox, payloads
from heliograph.notify.models import MAINTENANCE

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
