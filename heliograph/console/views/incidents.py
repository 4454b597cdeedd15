"""Incidents: open, update (with preview and truth warnings), reopen, link a cause."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from heliograph.catalog.models import Page
from heliograph.catalog.status import COMPONENT_STATUS_LABELS
from heliograph.console.access import actor, attempt, current_page, requires, show, user_of
from heliograph.console.forms import (
    CauseForm,
    DetailsForm,
    IncidentForm,
    MaintenanceUpdateForm,
    RescheduleForm,
    UpdateForm,
    picked,
    picker_rows,
    read_picker,
    set_choices,
)
from heliograph.console.views.compose import Draft, review
from heliograph.console.views.subscribers import incident_notifications
from heliograph.incidents import core as incident_core
from heliograph.incidents import lifecycle
from heliograph.incidents import services as incidents
from heliograph.incidents.maintenance import post_any_update
from heliograph.incidents.models import Change, Incident, IncidentTemplate, IncidentUpdate
from heliograph.lib.markup import render_markdown
from heliograph.lib.timefmt import humanize_duration, moment
from heliograph.monitors import automation


def page_or_404(request: HttpRequest) -> Page:
    page = current_page(request)
    if page is None:
        raise Http404("no page yet: create one with `heliograph page create NAME`")
    return page


def incident_or_404(request: HttpRequest, incident_id: str) -> Incident:
    found = Incident.objects.select_related("page").filter(pk=incident_id).first()
    if found is None:
        raise Http404("no such incident")
    request.session["page_id"] = found.page_id
    return found


@requires("read")
def incident_list(request: HttpRequest) -> HttpResponse:
    page = page_or_404(request)
    recent = page.incidents.incidents().order_by("-started_at")[:50]
    return show(request, "console/incidents.html", {"incidents": recent, "section": "incidents"})


def _template_initial(request: HttpRequest, page: Page) -> tuple[dict[str, Any], dict[str, str]]:
    """A chosen template's title, text, status and components, to start from."""
    chosen = page.incident_templates.filter(pk=request.GET.get("template", "")).first()
    if chosen is None:
        return {"status": "investigating", "deliver_notifications": True}, {}
    initial = {
        "name": chosen.title,
        "body": chosen.body,
        "status": chosen.update_status,
        "deliver_notifications": chosen.should_send_notifications,
    }
    return initial, {c.pk: "degraded_performance" for c in chosen.components.all()}


@requires("manage_incidents")
def incident_new(request: HttpRequest) -> HttpResponse:
    page = page_or_404(request)
    initial, chosen = _template_initial(request, page)
    form = IncidentForm(request.POST or None, initial=initial)
    # A new incident has no recorded timeline yet, so there is nothing to contradict.
    draft = review(request, form, lambda: [])
    if draft.publish:
        data = form.cleaned_data
        incident = attempt(
            form,
            lambda: incidents.open_incident(
                page=page,
                name=data["name"],
                body=data["body"],
                status=data["status"],
                components=read_picker(request.POST, page),
                actor=actor(request),
                deliver_notifications=data["deliver_notifications"],
            ),
        )
        if incident is not None:
            messages.success(request, f"Opened “{incident.name}”.")
            return redirect("console:incident", incident.pk)
    if request.method == "POST":
        chosen = picked(request.POST)
    return show(
        request,
        "console/incident_new.html",
        {
            "form": form,
            "draft": draft,
            "rows": picker_rows(page, chosen),
            "section": "incidents",
            "templates": IncidentTemplate.objects.filter(page=page),
        },
    )


@dataclass(frozen=True)
class WindowRow:
    component: str
    status: str
    start: str
    end: str
    length: str


@dataclass(frozen=True)
class Impact:
    """The impact windows and duration as the public page shows them, for responders."""

    windows: list[WindowRow]
    total: str
    ongoing: bool


def impact_view(incident: Incident) -> tuple[Impact, Callable[[str], str]]:
    """The incident's impact, and a reader of what an update's text gets wrong about it."""
    windows, now, zone = incident_core.impact_windows(incident), timezone.now(), incident.page.zone
    names = {c.pk: c.display_name for c in incident.page.components.select_related("group")}
    rows = [
        WindowRow(
            component=names.get(w.component, w.component),
            status=COMPONENT_STATUS_LABELS.get(w.worst_status, w.worst_status),
            start=moment(w.start, zone),
            end=moment(w.end, zone) if w.end else "ongoing",
            length=humanize_duration(w.duration(now)),
        )
        for w in windows
    ]
    total = humanize_duration(lifecycle.total_duration(windows, now)) if windows else ""
    ongoing = any(w.end is None for w in windows)
    return Impact(rows, total, ongoing), lambda text: lifecycle.differs_note(text, windows, now)


def _current_statuses(incident: Incident) -> dict[str, str]:
    return {c.pk: c.status for c in incident.components.all()}


def _detail(request: HttpRequest, incident: Incident, **extra: Any) -> HttpResponse:
    form_class = MaintenanceUpdateForm if incident.is_maintenance else UpdateForm
    resolved = incident.status in lifecycle.RESOLVED
    notified, other_notifications = incident_notifications(incident)
    impact, differs = impact_view(incident)
    context: dict[str, Any] = {
        "incident": incident,
        "resolved": resolved,
        "section": "incidents",
        # A finished maintenance takes no updates.
        "closed": incident.status == lifecycle.Status.COMPLETED,
        "updates": [
            (u, render_markdown(u.body), notified.get(u.pk), differs(u.body))
            for u in incident.updates.all()
        ],
        "impact": impact,
        "other_notifications": other_notifications,
        "form": form_class(
            initial={
                "status": "investigating" if resolved else incident.status,
                "deliver_notifications": True,
            }
        ),
        "rows": picker_rows(incident.page, _current_statuses(incident)),
        "draft": Draft(),
        "cause_form": CauseForm(),
        "causes": _causes(incident),
        "related": incidents.related_changes(incident=incident, hours=6),
        "monitor_notes": readable_notes(automation.evidence(incident)),
        "monitor_titles": automation.titles(incident),
        "details_form": DetailsForm(
            initial={
                "name": incident.name,
                "reference": incident.reference,
                "impact_override": incident.impact_override,
            }
        ),
        "reschedule_form": RescheduleForm(
            zone=incident.page.zone,
            initial={
                "scheduled_for": incident.scheduled_for,
                "scheduled_until": incident.scheduled_until,
            },
        ),
    }
    context.update(extra)
    return show(request, "console/incident.html", context)


def readable_notes(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the monitors saw and suggest, newest first, with their times as datetimes."""
    return [
        {**n, "at": datetime.fromisoformat(n["at"])}
        for n in reversed(notes)
        if isinstance(n, dict) and isinstance(n.get("at"), str)
    ]


def _causes(incident: Incident) -> list[tuple[str, str]]:
    """What an incident can be blamed on: maintenances and recorded changes on its page."""
    page, began = incident.page, incident.started_at
    # Only what began before the incident can have caused it.
    maintenances = page.incidents.maintenances().filter(started_at__lte=began)
    maintenances = maintenances.order_by("-started_at")[:50]
    changes = Change.objects.filter(page=page, at__lte=began)[:50]
    return [(f"incident:{m.pk}", f"Maintenance: {m.name}") for m in maintenances] + [
        (f"change:{c.pk}", f"Change: {c.title} ({c.at:%Y-%m-%d %H:%M})") for c in changes
    ]


@requires("read")
def incident_detail(request: HttpRequest, incident_id: str) -> HttpResponse:
    incident = incident_or_404(request, incident_id)
    if request.method == "POST" and "publish_draft" in request.POST:
        return _publish_draft(request, incident)
    if request.method == "POST":
        return _post_update(request, incident, reopen=False)
    return _detail(request, incident)


def _publish_draft(request: HttpRequest, incident: Incident) -> HttpResponse:
    """Make a draft (opened by a monitor for responders) public and notify subscribers."""
    if not user_of(request).can("manage_incidents"):
        return show(request, "console/403.html", {"permission": "manage_incidents"}, status=403)
    form = forms.Form(data={})
    form.is_valid()  # bound and clean, so a service error can be attached to it
    if attempt(form, lambda: incidents.publish_draft(incident=incident, actor=actor(request))):
        messages.success(request, f"Published “{incident.name}”; subscribers are notified.")
        return redirect("console:incident", incident.pk)
    incident.refresh_from_db()
    return _detail(request, incident, publish_form=form)


@requires("manage_incidents")
@require_POST
def incident_reopen(request: HttpRequest, incident_id: str) -> HttpResponse:
    incident = incident_or_404(request, incident_id)
    return _post_update(request, incident, reopen=True)


def _post_update(request: HttpRequest, incident: Incident, *, reopen: bool) -> HttpResponse:
    if not user_of(request).can("manage_incidents"):
        return show(request, "console/403.html", {"permission": "manage_incidents"}, status=403)
    form_class = MaintenanceUpdateForm if incident.is_maintenance else UpdateForm
    form = form_class(request.POST)
    components = read_picker(request.POST, incident.page)
    draft = review(
        request,
        form,
        lambda: incidents.check_update_text(
            incident=incident,
            body=form.cleaned_data["body"],
            status=form.cleaned_data["status"],
            components=components,
        ),
    )
    if draft.publish:
        data, who = form.cleaned_data, actor(request)
        done = attempt(
            form,
            lambda: (
                incidents.reopen_incident(
                    incident=incident,
                    body=data["body"],
                    status=data["status"],
                    components=components,
                    actor=who,
                )
                if reopen
                else post_any_update(
                    incident=incident,
                    status=data["status"],
                    body=data["body"],
                    components=components,
                    actor=who,
                    deliver_notifications=data["deliver_notifications"],
                )
            ),
        )
        if done is not None:
            messages.success(request, "Reopened." if reopen else "Update published.")
            return redirect("console:incident", incident.pk)
    rows = picker_rows(incident.page, picked(request.POST))
    return _detail(request, incident, form=form, draft=draft, rows=rows, reopening=reopen)


@requires("manage_incidents")
@require_POST
def incident_details(request: HttpRequest, incident_id: str) -> HttpResponse:
    """Rename, set the reference or the impact; status changes go through updates."""
    incident = incident_or_404(request, incident_id)
    form = DetailsForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        # A maintenance's impact is always "maintenance": its form has no impact field.
        impact = None if incident.is_maintenance else data["impact_override"]
        done = attempt(
            form,
            lambda: incidents.update_incident(
                incident=incident,
                name=data["name"],
                reference=data["reference"],
                impact_override=impact,
                actor=actor(request),
            ),
        )
        if done is not None:
            messages.success(request, "Details saved.")
            return redirect("console:incident", incident.pk)
        incident.refresh_from_db()  # the refused values must not show as saved
    return _detail(request, incident, details_form=form)


@requires("manage_incidents")
@require_POST
def incident_cause(request: HttpRequest, incident_id: str) -> HttpResponse:
    incident = incident_or_404(request, incident_id)
    form = CauseForm(request.POST)
    set_choices(form, "cause", _causes(incident))
    if form.is_valid():
        kind, _, ref = form.cleaned_data["cause"].partition(":")
        model = Incident if kind == "incident" else Change
        cause = model.objects.get(pk=ref, page=incident.page)
        if (
            attempt(
                form,
                lambda: incidents.link_cause(incident=incident, cause=cause, actor=actor(request)),
            )
            is not None
            or not form.errors
        ):
            messages.success(request, f"Linked to {cause}.")
            return redirect("console:incident", incident.pk)
    return _detail(request, incident, cause_form=form)


@requires("manage_incidents")
@require_POST
def update_edit(request: HttpRequest, update_id: str) -> HttpResponse:
    """Correct a published update's text; the old text is kept as a revision."""
    update = IncidentUpdate.objects.select_related("incident__page").filter(pk=update_id).first()
    if update is None:
        raise Http404("no such update")
    form = forms.Form(data={})
    form.is_valid()  # bound and clean, so a service error can be attached to it
    body = request.POST.get("body", "")
    if attempt(form, lambda: incidents.edit_update(update=update, body=body, actor=actor(request))):
        messages.success(request, "Update edited; the previous text is kept.")
        return redirect("console:incident", update.incident_id)
    return _detail(request, update.incident, edit_form=form, edit_id=update.pk)
