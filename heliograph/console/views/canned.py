"""Incident templates: canned titles and text to start an incident from."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from heliograph.catalog.models import Page
from heliograph.console.access import actor, attempt, requires, show, user_of
from heliograph.console.forms import TemplateForm
from heliograph.console.views.incidents import page_or_404
from heliograph.incidents import services as incidents
from heliograph.incidents.models import IncidentTemplate


def _screen(request: HttpRequest, page: Page, form: TemplateForm, **extra: object) -> HttpResponse:
    return show(
        request,
        "console/templates.html",
        {
            "form": form,
            "section": "templates",
            "components": page.components.all(),
            "templates": page.incident_templates.prefetch_related("components"),
            "checked": set(request.POST.getlist("components")),
            **extra,
        },
    )


@requires("read")
def template_list(request: HttpRequest) -> HttpResponse:
    page = page_or_404(request)
    form = TemplateForm(request.POST or None)
    if request.method == "POST":
        if not user_of(request).can("manage_components"):
            return show(request, "console/403.html", {"permission": "manage_components"}, 403)
        chosen = page.components.filter(pk__in=request.POST.getlist("components"))
        made = (
            None
            if not form.is_valid()
            else attempt(
                form,
                lambda: incidents.create_template(
                    page=page, actor=actor(request), components=list(chosen), **form.cleaned_data
                ),
            )
        )
        if made is not None:
            messages.success(request, f"Template “{made.name}” saved.")
            return redirect("console:templates")
    return _screen(request, page, form)


def _template(page: Page, template_id: str) -> IncidentTemplate:
    found = page.incident_templates.filter(pk=template_id).first()
    if found is None:
        raise Http404("no such template")
    return found


@requires("manage_components")
@require_POST
def template_edit(request: HttpRequest, template_id: str) -> HttpResponse:
    page = page_or_404(request)
    template = _template(page, template_id)
    form = TemplateForm(request.POST)
    chosen = page.components.filter(pk__in=request.POST.getlist("components"))
    saved = (
        form.is_valid()
        and attempt(
            form,
            lambda: incidents.update_template(
                template=template,
                actor=actor(request),
                components=list(chosen),
                **form.cleaned_data,
            ),
        )
        is not None
    )
    if saved:
        messages.success(request, f"Template “{template.name}” saved.")
        return redirect("console:templates")
    return _screen(request, page, TemplateForm(), edit_form=form, editing=template)


@requires("manage_components")
@require_POST
def template_delete(request: HttpRequest, template_id: str) -> HttpResponse:
    page = page_or_404(request)
    template = _template(page, template_id)
    incidents.delete_template(template=template, actor=actor(request))
    messages.success(request, f"Template “{template.name}” deleted.")
    return redirect("console:templates")
