"""Maintenance windows, overruns, and recorded changes (deploys, config)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from heliograph.catalog.models import Component
from heliograph.console.access import actor, attempt, requires, show, user_of
from heliograph.console.forms import ChangeForm, MaintenanceForm, RescheduleForm
from heliograph.console.views.incidents import _detail, incident_or_404, page_or_404
from heliograph.incidents import maintenance as maintenance_rules
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Change, Incident
from heliograph.lib.errors import InputError


def _checked_components(request: HttpRequest, page_components: list[Component]) -> list[Component]:
    chosen = set(request.POST.getlist("components"))
    return [c for c in page_components if c.pk in chosen]


@requires("read")
def maintenance_list(request: HttpRequest) -> HttpResponse:
    page = page_or_404(request)
    form = MaintenanceForm(request.POST or None, zone=page.zone)
    components = list(page.components.select_related("group"))
    if request.method == "POST":
        if not user_of(request).can("manage_incidents"):
            return show(request, "console/403.html", {"permission": "manage_incidents"}, 403)
        if form.is_valid():
            data = form.cleaned_data
            done = attempt(
                form,
                lambda: incidents.schedule_maintenance(
                    page=page,
                    name=data["name"],
                    body=data["body"],
                    scheduled_for=data["scheduled_for"],
                    scheduled_until=data["scheduled_until"],
                    components=_checked_components(request, components),
                    remind_prior=data["remind_prior"],
                    auto_in_progress=data["auto_in_progress"],
                    auto_completed=data["auto_completed"],
                    actor=actor(request),
                ),
            )
            if done is not None:
                messages.success(request, f"Scheduled “{done.name}”.")
                return redirect("console:maintenance")
    windows = page.incidents.maintenances().order_by("-scheduled_for")[:50]
    return show(
        request,
        "console/maintenance.html",
        {
            "form": form,
            "windows": windows,
            "components": components,
            "section": "maintenance",
            "checked": set(request.POST.getlist("components")),
        },
    )


@requires("manage_incidents")
@require_POST
def maintenance_reschedule(request: HttpRequest, maintenance_id: str) -> HttpResponse:
    """Move a maintenance that has not started yet."""
    window = incident_or_404(request, maintenance_id)
    form = RescheduleForm(request.POST, zone=window.page.zone)
    if form.is_valid():
        data = form.cleaned_data
        done = attempt(
            form,
            lambda: incidents.reschedule_maintenance(
                maintenance=window,
                scheduled_for=data["scheduled_for"],
                scheduled_until=data["scheduled_until"],
                actor=actor(request),
            ),
        )
        if done is not None:
            messages.success(request, f"Rescheduled “{done.name}”.")
            return redirect("console:incident", window.pk)
    return _detail(request, window, reschedule_form=form)


@requires("manage_incidents")
@require_POST
def overrun_incident(request: HttpRequest, maintenance_id: str) -> HttpResponse:
    window = Incident.objects.maintenances().filter(pk=maintenance_id).first()
    if window is None:
        raise Http404("no such maintenance")
    try:
        incident = maintenance_rules.open_overrun_incident(maintenance=window, actor=actor(request))
    except InputError as exc:
        messages.error(request, str(exc))
        return redirect("console:dashboard")
    messages.success(request, f"Opened “{incident.name}”, linked to the maintenance.")
    return redirect("console:incident", incident.pk)


@requires("read")
def change_list(request: HttpRequest) -> HttpResponse:
    page = page_or_404(request)
    form = ChangeForm(request.POST or None, zone=page.zone)
    components = list(page.components.select_related("group"))
    if request.method == "POST":
        if not user_of(request).can("manage_incidents"):
            return show(request, "console/403.html", {"permission": "manage_incidents"}, 403)
        if form.is_valid():
            data = form.cleaned_data
            done = attempt(
                form,
                lambda: incidents.record_change(
                    page=page,
                    title=data["title"],
                    at=data["at"],
                    source=data["source"],
                    link=data["link"],
                    components=_checked_components(request, components),
                    actor=actor(request),
                ),
            )
            if done is not None:
                messages.success(request, "Change recorded.")
                return redirect("console:changes")
    changes = Change.objects.filter(page=page).prefetch_related("components")[:100]
    return show(
        request,
        "console/changes.html",
        {
            "form": form,
            "changes": changes,
            "components": components,
            "section": "changes",
            "checked": set(request.POST.getlist("components")),
        },
    )
