"""The dashboard: what is wrong now, what is planned, and what changed lately."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from heliograph.catalog.status import blend
from heliograph.console.access import current_page, requires, show
from heliograph.incidents.maintenance import overruns
from heliograph.incidents.models import Change
from heliograph.notify import mail_health

BANNER = {
    "none": "b-ok",
    "minor": "b-deg",
    "major": "b-prt",
    "critical": "b-maj",
    "maintenance": "b-mnt",
}


@requires("read")
def dashboard(request: HttpRequest) -> HttpResponse:
    page = current_page(request)
    if request.GET.get("page"):
        return redirect(request.path)  # the choice is in the session now
    if page is None:
        return show(request, "console/dashboard.html", {"section": "dashboard"})
    components = list(page.components.select_related("group"))
    status = blend(c.status for c in components)
    return show(
        request,
        "console/dashboard.html",
        {
            "section": "dashboard",
            "status": status,
            "banner": BANNER[status.indicator],
            "components": components,
            "open_incidents": page.incidents.incidents().unresolved(),
            "maintenances": page.incidents.maintenances().not_over().order_by("scheduled_for"),
            "overruns": overruns(page=page),
            "changes": Change.objects.filter(page=page).prefetch_related("components")[:10],
            # The prober's own faults: never public status, but operators must see them
            # (architecture: Monitors).
            "unknown_monitors": page.monitors.filter(last_verdict="unknown", paused=False),
            "mail_missing": not mail_health.configured() and mail_health.NO_RELAY,
            "mail_failing": mail_health.configured() and mail_health.failing(),
        },
    )
