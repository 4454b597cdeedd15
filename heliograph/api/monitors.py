"""``/v1/pages/{page_id}/monitors``: Heliograph's monitors in the Manage API.

Create, read, change and delete monitors; ``run`` (due now: a worker picks it up within
a tick), ``pause`` and ``resume``; ``results`` (recent runs, newest first). Bodies are
wrapped as everywhere else: ``{"monitor": {...}}``. Secrets are write-only: answers say
``"set"`` or ``"not set"``. The services live in heliograph.monitors.services, which
checks every setting and audits every change.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from heliograph.api.auth import actor
from heliograph.api.common import component_named, monitor_or_404, page_or_404, paginate, responses
from heliograph.api.monitor_schemas import (
    MonitorCreateIn,
    MonitorFields,
    MonitorOut,
    MonitorPatchIn,
    ProbeResultOut,
    ResultsQuery,
)
from heliograph.api.schemas import Paging
from heliograph.api.serialize import Json, time, zone_world
from heliograph.catalog.models import Page
from heliograph.lib.errors import InputError
from heliograph.monitors import services
from heliograph.monitors.models import Monitor, ProbeResult
from heliograph.publish.world import World

router = Router(tags=["monitors"])
MONITORS = "/pages/{page_id}/monitors"
MONITOR = MONITORS + "/{monitor_id}"


def monitor_json(world: World, m: Monitor) -> Json:
    return {
        "id": m.pk,
        "page_id": m.page_id,
        "name": m.name,
        "kind": m.kind,
        "component_id": m.component_id,
        "config": m.config,
        "secrets": services.secret_status(m),
        "interval_seconds": m.interval_seconds,
        "timeout_seconds": m.timeout_seconds,
        "automation": m.automation,
        "public": m.public,
        "paused": m.paused,
        "role": m.acts_as,
        "role_set": bool(m.role),
        "severity": m.severity,
        "next_run_at": time(world, m.next_run_at),
        "last_run_at": time(world, m.last_run_at),
        "last_verdict": m.last_verdict or None,
        "last_reason": m.last_reason or None,
        "incident_id": m.incident_id,
        "created_at": time(world, m.created_at),
        "updated_at": time(world, m.updated_at),
    }


def result_json(world: World, r: ProbeResult) -> Json:
    return {
        "id": r.pk,
        "monitor_id": r.monitor_id,
        "at": time(world, r.at),
        "verdict": r.verdict,
        "reason": r.reason,
        "values": r.values or {},
        "details": r.details or {},
        "duration_ms": r.duration_ms,
        "lag_ms": r.lag_ms,
    }


def _one(monitor: Monitor) -> Json:
    monitor.refresh_from_db()
    return monitor_json(zone_world(monitor.page), monitor)


def _given(page: Page, fields: MonitorFields) -> dict[str, Any]:
    """The fields the body sent, in the service's words."""
    sent = fields.model_fields_set
    given: dict[str, Any] = {
        name: getattr(fields, name)
        for name in (
            "name",
            "kind",
            "config",
            "secrets",
            "interval_seconds",
            "timeout_seconds",
            "automation",
            "public",
            "paused",
            "role",
            "severity",
        )
        if name in sent
    }
    # null secrets clear them, a null role returns to the kind's default
    nulls = [n for n, value in given.items() if value is None and n not in ("secrets", "role")]
    if nulls:
        raise InputError(f"monitor.{nulls[0]} cannot be null")
    if "component_id" in sent:
        given["component"] = component_named(page, fields.component_id)
    return given


@router.get(
    MONITORS,
    response=responses(200, list[MonitorOut]),
    operation_id="getPagesPageIdMonitors",
    summary="Get a list of monitors (Heliograph)",
    description="By name.",
)
def list_monitors(request: HttpRequest, page_id: str, paging: Query[Paging]) -> list[Json]:
    page = page_or_404(page_id)
    world = zone_world(page)
    found = paginate(page.monitors.order_by("name", "id"), paging.page, paging.per_page)
    return [monitor_json(world, m) for m in found]


@router.post(
    MONITORS,
    response=responses(201, MonitorOut),
    operation_id="postPagesPageIdMonitors",
    summary="Create a monitor (Heliograph)",
    description="name and kind are required; config is checked by the kind (defaults filled "
    "in). Secret settings (e.g. imap_password) go in secrets, or in config, whence they are "
    "moved: they are never shown back. The first run comes within the interval.",
)
def create_monitor(request: HttpRequest, page_id: str, data: MonitorCreateIn) -> Status[Json]:
    page = page_or_404(page_id)
    given = _given(page, data.monitor)
    monitor = services.create_monitor(page=page, actor=actor(request), **given)
    return Status(201, _one(monitor))


@router.get(
    MONITOR,
    response=responses(200, MonitorOut),
    operation_id="getPagesPageIdMonitorsMonitorId",
    summary="Get a monitor (Heliograph)",
)
def get_monitor(request: HttpRequest, page_id: str, monitor_id: str) -> Json:
    page = page_or_404(page_id)
    return monitor_json(zone_world(page), monitor_or_404(page, monitor_id))


@router.patch(
    MONITOR,
    response=responses(200, MonitorOut),
    operation_id="patchPagesPageIdMonitorsMonitorId",
    summary="Update a monitor (Heliograph)",
    description="Only the fields sent change. A config sent replaces the old one (checked "
    "again, defaults filled in); secrets left out keep their value, null clears one; a new "
    "kind drops the old kind's secrets. component_id null: it feeds no component.",
)
def update_monitor(
    request: HttpRequest, page_id: str, monitor_id: str, data: MonitorPatchIn
) -> Json:
    page = page_or_404(page_id)
    monitor = monitor_or_404(page, monitor_id)
    services.update_monitor(monitor=monitor, actor=actor(request), **_given(page, data.monitor))
    return _one(monitor)


@router.delete(
    MONITOR,
    response=responses(204, None),
    operation_id="deletePagesPageIdMonitorsMonitorId",
    summary="Delete a monitor (Heliograph)",
    description="With its results and metric points. Statuses it set stay on the timeline.",
)
def delete_monitor(request: HttpRequest, page_id: str, monitor_id: str) -> HttpResponse:
    monitor = monitor_or_404(page_or_404(page_id), monitor_id)
    services.delete_monitor(monitor=monitor, actor=actor(request))
    return HttpResponse(status=204)


@router.post(
    MONITOR + "/run",
    response=responses(200, MonitorOut),
    operation_id="postPagesPageIdMonitorsMonitorIdRun",
    summary="Run a monitor now (Heliograph)",
    description="Makes it due now: a worker runs it within a second or so (a paused monitor: "
    "422). Its results: GET .../results.",
)
def run_monitor(request: HttpRequest, page_id: str, monitor_id: str) -> Json:
    monitor = monitor_or_404(page_or_404(page_id), monitor_id)
    services.run_now(monitor=monitor, actor=actor(request))
    return _one(monitor)


@router.post(
    MONITOR + "/pause",
    response=responses(200, MonitorOut),
    operation_id="postPagesPageIdMonitorsMonitorIdPause",
    summary="Pause a monitor (Heliograph)",
    description="It stops running and stops feeding its component. Pausing twice is harmless.",
)
def pause_monitor(request: HttpRequest, page_id: str, monitor_id: str) -> Json:
    monitor = monitor_or_404(page_or_404(page_id), monitor_id)
    services.pause_monitor(monitor=monitor, actor=actor(request))
    return _one(monitor)


@router.post(
    MONITOR + "/resume",
    response=responses(200, MonitorOut),
    operation_id="postPagesPageIdMonitorsMonitorIdResume",
    summary="Resume a paused monitor (Heliograph)",
    description="It runs again within a few seconds.",
)
def resume_monitor(request: HttpRequest, page_id: str, monitor_id: str) -> Json:
    monitor = monitor_or_404(page_or_404(page_id), monitor_id)
    services.resume_monitor(monitor=monitor, actor=actor(request))
    return _one(monitor)


@router.get(
    MONITOR + "/results",
    response=responses(200, list[ProbeResultOut]),
    operation_id="getPagesPageIdMonitorsMonitorIdResults",
    summary="Get a monitor's recent results (Heliograph)",
    description="Newest first; kept 14 days. Pages count from 1, at most 100 per page.",
)
def list_results(
    request: HttpRequest, page_id: str, monitor_id: str, query: Query[ResultsQuery]
) -> list[Json]:
    page = page_or_404(page_id)
    monitor = monitor_or_404(page, monitor_id)
    found = monitor.results.order_by("-at", "-id")
    if query.verdict:
        found = found.filter(verdict=query.verdict)
    world = zone_world(page)
    return [result_json(world, r) for r in paginate(found, query.page, query.per_page)]
