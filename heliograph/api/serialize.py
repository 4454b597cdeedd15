"""Manage API bodies, built on the public v2 serialisers so both APIs show one truth.

Statuspage's Manage API returns the same component / incident / update objects as its
public API plus a few management fields (``impact_override``, ``metadata``, the postmortem
and scheduling fields); those are added here, nothing is renamed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Prefetch

from heliograph.catalog.models import Component, ComponentGroup, Page
from heliograph.incidents.models import Incident, IncidentUpdate, Postmortem
from heliograph.publish import v2json
from heliograph.publish.world import World

Json = dict[str, Any]
_TWITTER = {"wants_twitter_update": False, "twitter_updated_at": None}  # Statuspage's; unused


def world_for(page: Page, incidents: Iterable[Incident] = ()) -> World:
    """A World holding only what Manage API bodies need: components, groups, ``incidents``."""
    return World(
        page=page,
        groups=list(page.groups.all()),
        components=list(page.components.select_related("group")),
        incidents=list(incidents),
        timelines={},
    )


def zone_world(page: Page) -> World:
    """Enough of a World to write times in the page's zone (bodies with no components)."""
    return World(page=page, groups=[], components=[], incidents=[], timelines={})


def incidents_query(page: Page) -> Any:
    """Incidents with everything their bodies show, in a fixed number of queries."""
    updates: Prefetch[Any, Any, Any] = Prefetch(
        "updates", queryset=IncidentUpdate.objects.order_by("-display_at", "-created_at")
    )
    return page.incidents.prefetch_related(updates, "components").select_related("postmortem")


def time(world: World, value: datetime | None) -> str | None:
    return v2json._time(world, value)


def page_body(page: Page) -> Json:
    world = world_for(page)
    return {
        "id": page.pk,
        "created_at": time(world, page.created_at),
        "updated_at": time(world, page.updated_at),
        "name": page.name,
        "page_description": "",
        "headline": "",
        "branding": "basic",
        "subdomain": "",
        "domain": page.domain,
        "url": page.url,
        "support_url": "",
        "hidden_from_search": False,
        "allow_page_subscribers": page.allow_subscribers,
        "allow_incident_subscribers": page.allow_subscribers,
        "allow_email_subscribers": page.allow_subscribers,
        "allow_sms_subscribers": False,
        "allow_rss_atom_feeds": page.allow_feeds,
        "allow_webhook_subscribers": page.allow_subscribers,
        "time_zone": page.time_zone,
        "embeddable": page.embeddable,  # Heliograph's own
    }


def component_body(world: World, component: Component) -> Json:
    return v2json.component_json(world, component)


def group_body(world: World, group: ComponentGroup) -> Json:
    """Statuspage's ``GroupComponent``: the group with its member ids."""
    return {
        "id": group.pk,
        "page_id": group.page_id,
        "name": group.name,
        "description": group.description or None,
        "components": [c.pk for c in world.group_members(group)],
        "position": group.position,
        "created_at": time(world, group.created_at),
        "updated_at": time(world, group.updated_at),
    }


def incident_body(world: World, incident: Incident) -> Json:
    body = v2json.incident_json(world, incident)
    for update in body["incident_updates"]:
        update.update(_TWITTER)
    postmortem: Postmortem | None = getattr(incident, "postmortem", None)
    published = postmortem.published_at if postmortem else None
    body.update(
        impact_override=incident.impact_override or None,
        metadata=incident.metadata or {},
        postmortem_body=postmortem.body if postmortem and published else None,
        postmortem_body_last_updated_at=time(world, postmortem.updated_at) if postmortem else None,
        postmortem_ignored=False,
        postmortem_notified_subscribers=bool(postmortem and postmortem.notify_subscribers),
        postmortem_notified_twitter=False,
        postmortem_published_at=time(world, published),
        scheduled_for=time(world, incident.scheduled_for),
        scheduled_until=time(world, incident.scheduled_until),
        scheduled_remind_prior=incident.scheduled_remind_prior,
        scheduled_auto_in_progress=incident.scheduled_auto_in_progress,
        scheduled_auto_completed=incident.scheduled_auto_completed,
        # Heliograph's own, beside Statuspage's fields:
        reference=incident.reference or None,
        backfilled=incident.backfilled,
        caused_by_id=incident.caused_by_id or getattr(incident, "caused_by_change_id", None),
    )
    return body


def update_body(world: World, update: IncidentUpdate) -> Json:
    return {**v2json.update_json(world, update), **_TWITTER}


def postmortem_body(world: World, postmortem: Postmortem | None) -> Json:
    if postmortem is None:
        return {
            "body": None,
            "body_draft": None,
            "published_at": None,
            "notify_subscribers": False,
            "notify_twitter": False,
            "custom_tweet": None,
            "preview_key": None,
            "created_at": None,
            "updated_at": None,
            "body_updated_at": None,
            "body_draft_updated_at": None,
        }
    updated = time(world, postmortem.updated_at)
    return {
        "preview_key": None,
        "body": postmortem.body or None,
        "body_updated_at": updated if postmortem.body else None,
        "body_draft": postmortem.body_draft or None,
        "body_draft_updated_at": updated,
        "published_at": time(world, postmortem.published_at),
        "notify_subscribers": postmortem.notify_subscribers,
        "notify_twitter": False,
        "custom_tweet": None,
        "created_at": updated,
        "updated_at": updated,
    }
