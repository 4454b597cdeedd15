"""The postmortem editor: opens pre-filled, saves drafts, publishes, reverts."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from heliograph.console.access import actor, attempt, requires, show, user_of
from heliograph.console.forms import PostmortemForm
from heliograph.console.views.incidents import incident_or_404
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident, Postmortem
from heliograph.lib.markup import render_markdown

DONE = {
    "draft": "Draft saved.",
    "publish": "Postmortem published.",
    "revert": "Postmortem unpublished; the draft is kept.",
}


def _starting_text(incident: Incident, postmortem: Postmortem | None) -> str:
    if postmortem and (postmortem.body_draft or postmortem.body):
        return postmortem.body_draft or postmortem.body
    return incidents.prefill_postmortem(incident=incident)


@requires("read")
def postmortem(request: HttpRequest, incident_id: str) -> HttpResponse:
    incident = incident_or_404(request, incident_id)
    existing = Postmortem.objects.filter(incident=incident).first()
    form = PostmortemForm(
        request.POST or None, initial={"body": _starting_text(incident, existing)}
    )
    action = request.POST.get("action", "")
    preview = None
    if request.method == "POST":
        if not user_of(request).can("manage_incidents"):
            return show(request, "console/403.html", {"permission": "manage_incidents"}, 403)
        if action == "preview":
            preview = render_markdown(request.POST.get("body", ""))
        elif (action == "revert" or form.is_valid()) and _apply(request, form, incident, action):
            messages.success(request, DONE[action])
            return redirect("console:postmortem", incident.pk)
    return show(
        request,
        "console/postmortem.html",
        {
            "incident": incident,
            "postmortem": existing,
            "form": form,
            "preview": preview,
            "section": "incidents",
        },
    )


def _apply(request: HttpRequest, form: PostmortemForm, incident: Incident, action: str) -> bool:
    who = actor(request)
    body = form.cleaned_data.get("body", "") if form.is_bound and form.is_valid() else ""
    calls = {
        "draft": lambda: incidents.save_postmortem_draft(incident=incident, body=body, actor=who),
        "publish": lambda: incidents.publish_postmortem(incident=incident, body=body, actor=who),
        "revert": lambda: incidents.revert_postmortem(incident=incident, actor=who),
    }
    if action not in calls:
        form.add_error(None, "choose save, publish or revert")
        return False
    attempt(form, calls[action])
    return not form.non_field_errors()
