"""The Statuspage public API v2 (``/api/v2/*.json``), rendered from a ``World``.

Field names, their order and their null conventions follow Statuspage exactly (architecture: Wire
formats): existing clients parse these bodies, so nothing is added and nothing renamed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings

from heliograph.catalog.models import Component, ComponentGroup
from heliograph.incidents.models import Incident, IncidentUpdate
from heliograph.lib.timefmt import rfc3339
from heliograph.publish.world import World

CONTENT_TYPE = "application/json"
PREFIX = "/api/v2"
RECENT = 50  # Statuspage lists at most this many incidents or maintenances
# Statuspage writes "Z" for pages kept in UTC and the numeric offset for every other zone.
_UTC_NAMES = {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu"}

Json = dict[str, Any]


def render(world: World) -> dict[str, tuple[str, bytes]]:
    """Every v2 path of the page, mapped to (content type, body)."""
    documents = render_bounded(world)
    for incident in world.incidents:
        documents[incident_path(incident.pk)] = (CONTENT_TYPE, render_incident(world, incident))
    return documents


def incident_path(incident_id: str) -> str:
    return f"{PREFIX}/incidents/{incident_id}.json"


def render_incident(world: World, incident: Incident) -> bytes:
    """``/api/v2/incidents/<id>.json``. Its page's ``updated_at`` is when this document's
    data last changed (the incident or a component it lists), where Statuspage puts the
    page's latest change of anything: so a write elsewhere on the page leaves ten years
    of incident documents as they are."""
    body = incident_json(world, incident)
    moments = [incident.updated_at] + [c.updated_at for c in world.affected(incident)]
    page = {**page_json(world), "updated_at": _time(world, max(moments))}
    return _dump({"page": page, "incident": body})


def render_bounded(world: World) -> dict[str, tuple[str, bytes]]:
    """The documents of bounded size, rendered again for every version."""
    page = page_json(world)
    by_id: dict[str, Json] = {}

    def pick(chosen: Iterable[Incident]) -> list[Json]:
        return [by_id.get(i.pk) or by_id.setdefault(i.pk, incident_json(world, i)) for i in chosen]

    unresolved = pick(world.unresolved)
    scheduled = pick(world.upcoming) + pick(world.active_maintenance)
    components = components_json(world)
    documents: dict[str, Json] = {
        "summary.json": {
            "page": page,
            "status": status_json(world),
            "components": components,
            "incidents": unresolved,
            "scheduled_maintenances": scheduled,
        },
        "status.json": {"page": page, "status": status_json(world)},
        "components.json": {"page": page, "components": components},
        "incidents.json": {"page": page, "incidents": pick(world.incident_list[:RECENT])},
        "incidents/unresolved.json": {"page": page, "incidents": unresolved},
        "scheduled-maintenances.json": {
            "page": page,
            "scheduled_maintenances": pick(world.maintenance_list[:RECENT]),
        },
        "scheduled-maintenances/upcoming.json": {
            "page": page,
            "scheduled_maintenances": pick(world.upcoming),
        },
        "scheduled-maintenances/active.json": {
            "page": page,
            "scheduled_maintenances": pick(world.active_maintenance),
        },
    }
    return {f"{PREFIX}/{path}": (CONTENT_TYPE, _dump(doc)) for path, doc in documents.items()}


def _dump(document: Json) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _time(world: World, value: datetime | None) -> str | None:
    zone = None if world.page.time_zone in _UTC_NAMES else world.zone
    return rfc3339(value, zone)


def page_json(world: World) -> Json:
    # ``url`` is where the status page itself lives (what Statuspage puts there), not the
    # company site the page links to.
    return {
        "id": world.page.pk,
        "name": world.page.name,
        "url": settings.BASE_URL,
        "time_zone": world.page.time_zone,
        "updated_at": _time(world, world.page.updated_at),
    }


def status_json(world: World) -> Json:
    return {"indicator": world.status.indicator, "description": world.status.description}


def components_json(world: World) -> list[Json]:
    """Flat list in page order: each group's entry comes just before its first member."""
    groups = {g.pk: g for g in world.groups}
    entries: list[Json] = []
    shown: set[str] = set()
    for component in world.components:
        group_id = component.group_id
        if group_id is not None and group_id not in shown:
            shown.add(group_id)
            entries.append(group_json(world, groups[group_id]))
        entries.append(component_json(world, component))
    # Groups with no members still exist for API clients; they go last.
    entries += [group_json(world, g) for g in world.groups if g.pk not in shown]
    return entries


def component_json(world: World, component: Component) -> Json:
    start = component.start_date
    return {
        "id": component.pk,
        "name": component.name,
        "status": component.status,
        "created_at": _time(world, component.created_at),
        "updated_at": _time(world, component.updated_at),
        "position": component.position,
        "description": component.description or None,
        "showcase": component.showcase,
        "start_date": start.isoformat() if start else None,
        "group_id": component.group_id,
        "page_id": component.page_id,
        "group": False,
        "only_show_if_degraded": component.only_show_if_degraded,
    }


def group_json(world: World, group: ComponentGroup) -> Json:
    members = world.group_members(group)
    # The group's status is its members', so it changed whenever one of theirs did.
    updated = max([group.updated_at] + [c.updated_at for c in members])
    return {
        "id": group.pk,
        "name": group.name,
        "status": world.group_status(group),
        "created_at": _time(world, group.created_at),
        "updated_at": _time(world, updated),
        "position": group.position,
        "description": group.description or None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": group.page_id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [c.pk for c in members],
    }


def incident_json(world: World, incident: Incident) -> Json:
    """An incident, or a scheduled maintenance (which adds its window at the end)."""
    body: Json = {
        "id": incident.pk,
        "name": incident.name,
        "status": incident.status,
        "created_at": _time(world, incident.created_at),
        "updated_at": _time(world, incident.updated_at),
        "monitoring_at": _time(world, incident.monitoring_at),
        "resolved_at": _time(world, incident.resolved_at),
        "impact": incident.impact,
        "shortlink": incident.shortlink,
        "started_at": _time(world, incident.started_at),
        "page_id": incident.page_id,
        "incident_updates": [update_json(world, u) for u in world.updates(incident)],
        # World's own instances, so an incident shows the same status as components.json.
        "components": [
            component_json(world, world.components_by_id[c.pk]) for c in world.affected(incident)
        ],
    }
    if incident.is_maintenance:
        body["scheduled_for"] = _time(world, incident.scheduled_for)
        body["scheduled_until"] = _time(world, incident.scheduled_until)
    return body


def update_json(world: World, update: IncidentUpdate) -> Json:
    affected = [
        {
            "code": a["code"],
            "name": a["name"],
            "old_status": a["old_status"],
            "new_status": a["new_status"],
        }
        for a in update.affected_components or []
    ]
    return {
        "id": update.pk,
        "status": update.status,
        "body": update.body,
        "incident_id": update.incident_id,
        "created_at": _time(world, update.created_at),
        "updated_at": _time(world, update.updated_at),
        "display_at": _time(world, update.display_at),
        "affected_components": affected or None,
        "deliver_notifications": update.deliver_notifications,
        "custom_tweet": None,
        "tweet_id": None,
    }
