"""Statuspage webhook bodies (architecture: Wire formats), built with the public v2 serialisers.

The body is frozen into the Notification when it is written, so every subscriber gets
the incident as it was at that moment; only ``meta.unsubscribe`` is added per subscriber
when it is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from heliograph.catalog.models import Component, Page
from heliograph.incidents.models import Incident, IncidentUpdate
from heliograph.lib.timefmt import rfc3339
from heliograph.publish import v2json
from heliograph.publish.world import World

Json = dict[str, Any]
# The payload format is Statuspage's, so its description is the reference; the signature
# header Heliograph adds is described in the README.
DOCUMENTATION_URL = "https://support.atlassian.com/statuspage/docs/enable-webhook-notifications/"
# Kept in a stored payload for Heliograph's own use (the e-mail wording); never sent.
PRIVATE = "heliograph"
REMINDER_MARK: Json = {PRIVATE: {"reminder": True}}


def unsubscribe_url(token: str) -> str:
    """The one-click (RFC 8058) unsubscribe target: POST unsubscribes, GET asks first."""
    return f"{settings.BASE_URL}/notify/unsubscribe/{token}"


def confirm_url(token: str) -> str:
    return f"{settings.BASE_URL}/notify/confirm/{token}"


def manage_url(token: str) -> str:
    return f"{settings.BASE_URL}/notify/manage/{token}"


def _world(page: Page, incidents: list[Incident], now: datetime) -> World:
    page.refresh_from_db()
    return World(
        page=page,
        groups=list(page.groups.all()),
        components=list(page.components.select_related("group")),
        incidents=incidents,
        timelines={},
        now=now,
    )


def _meta(now: datetime) -> Json:
    return {"documentation": DOCUMENTATION_URL, "generated_at": rfc3339(now)}


def _page(world: World) -> Json:
    return {
        "id": world.page.pk,
        "status_indicator": world.status.indicator,
        "status_description": world.status.description,
    }


def incident_payload(incident: Incident, now: datetime | None = None) -> Json:
    """``{"meta", "page", "incident"}``, for incidents and maintenances alike."""
    now = now or timezone.now()
    loaded = (
        Incident.objects.filter(pk=incident.pk)
        .prefetch_related(
            Prefetch(
                "updates", queryset=IncidentUpdate.objects.order_by("-display_at", "-created_at")
            ),
            "components",
        )
        .select_related("postmortem")
        .get()
    )
    world = _world(incident.page, [loaded], now)
    return {
        "meta": _meta(now),
        "page": _page(world),
        "incident": {**v2json.incident_json(world, loaded), **_incident_extras(world, loaded)},
    }


def _incident_extras(world: World, incident: Incident) -> Json:
    """The webhook incident carries more than the public v2 one (as Statuspage's does)."""
    postmortem = getattr(incident, "postmortem", None)
    published = postmortem if postmortem and postmortem.is_published else None
    return {
        "backfilled": incident.backfilled,
        "impact_override": incident.impact_override or None,
        "postmortem_body": published.body if published else None,
        "postmortem_body_last_updated_at": v2json._time(
            world, published.updated_at if published else None
        ),
        "postmortem_published_at": v2json._time(
            world, published.published_at if published else None
        ),
        "postmortem_notified_subscribers": bool(published and published.notify_subscribers),
        "scheduled_for": v2json._time(world, incident.scheduled_for),
        "scheduled_until": v2json._time(world, incident.scheduled_until),
        "scheduled_remind_prior": incident.scheduled_remind_prior,
        "scheduled_auto_in_progress": incident.scheduled_auto_in_progress,
        "scheduled_auto_completed": incident.scheduled_auto_completed,
    }


def component_payload(
    component: Component, *, old_status: str, new_status: str, at: datetime, update_id: str
) -> Json:
    """``{"meta", "page", "component_update", "component"}`` for one status change."""
    world = _world(component.page, [], timezone.now())
    current = world.components_by_id[component.pk]
    return {
        "meta": _meta(world.now),
        "page": _page(world),
        "component_update": {
            "created_at": v2json._time(world, at),
            "new_status": new_status,
            "old_status": old_status,
            "id": update_id,
            "component_id": component.pk,
            "component_type": "Component",
        },
        "component": v2json.component_json(world, current),
    }


def is_reminder(payload: Json) -> bool:
    """A maintenance reminder ("starts within the hour"), not an announcement."""
    return bool((payload.get(PRIVATE) or {}).get("reminder"))


def webhook_body(payload: Json, token: str) -> Json:
    """The stored body with this subscriber's unsubscribe link first in ``meta``."""
    meta = {"unsubscribe": unsubscribe_url(token), **payload.get("meta", {})}
    return {"meta": meta, **{k: v for k, v in payload.items() if k not in ("meta", PRIVATE)}}
