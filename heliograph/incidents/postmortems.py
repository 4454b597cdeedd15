"""Postmortems: a draft, publishing it (the incident shows ``postmortem``), reverting it,
and the pre-filled text a responder starts from."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from heliograph.incidents import lifecycle
from heliograph.incidents.core import impact_windows, record, refresh_incident
from heliograph.incidents.models import Incident, Postmortem
from heliograph.lib import events
from heliograph.lib.errors import InputError
from heliograph.lib.timefmt import humanize_duration, moment


def _check_incident(incident: Incident) -> None:
    if incident.is_maintenance:
        raise InputError("a maintenance has no postmortem; postmortems are for incidents")


@transaction.atomic
def save_postmortem_draft(*, incident: Incident, body: str, actor: str = "cli") -> Postmortem:
    """Keep a draft; what is published (if anything) stays as it is."""
    _check_incident(incident)
    if body is None:
        raise InputError("a postmortem draft needs a body")
    postmortem, _ = Postmortem.objects.get_or_create(incident=incident)
    before = {"body_draft": postmortem.body_draft}
    postmortem.body_draft = body
    postmortem.updated_at = timezone.now()
    postmortem.save()
    refresh_incident(incident)
    record(actor, "postmortem.draft", postmortem, incident.page, before, {"body_draft": body})
    return postmortem


@transaction.atomic
def publish_postmortem(
    *,
    incident: Incident,
    body: str | None = None,
    at: datetime | None = None,
    notify_subscribers: bool = False,
    actor: str = "cli",
) -> Postmortem:
    """Publish ``body``, or the saved draft when it is None; the incident shows postmortem."""
    _check_incident(incident)
    existing = Postmortem.objects.filter(incident=incident).first()
    text = body if body is not None else (existing.body_draft if existing else "")
    if not text.strip():
        raise InputError("a postmortem needs a body (write one or save a draft first)")
    at = at or timezone.now()
    if at < incident.created_at:
        raise InputError("a postmortem cannot be published before its incident was opened")
    if incident.status in lifecycle.UNRESOLVED:
        raise InputError("resolve the incident before publishing its postmortem")
    before = _picture(existing)
    postmortem, _ = Postmortem.objects.update_or_create(
        incident=incident,
        defaults={
            "body": text,
            "body_draft": text,
            "published_at": at,
            "updated_at": at,
            "notify_subscribers": notify_subscribers,
        },
    )
    refresh_incident(incident)
    record(actor, "postmortem.publish", postmortem, incident.page, before, _picture(postmortem))
    if notify_subscribers:
        events.emit(events.POSTMORTEM_PUBLISHED, postmortem=postmortem)
    return postmortem


@transaction.atomic
def revert_postmortem(*, incident: Incident, actor: str = "cli") -> Postmortem:
    """Unpublish: the text goes back to being a draft and the incident shows resolved."""
    postmortem = Postmortem.objects.filter(incident=incident).first()
    if postmortem is None or not postmortem.is_published:
        raise InputError("this incident has no published postmortem to revert")
    before = _picture(postmortem)
    postmortem.body_draft = postmortem.body or postmortem.body_draft
    postmortem.body = ""
    postmortem.published_at = None
    postmortem.updated_at = timezone.now()
    postmortem.save()
    refresh_incident(incident)
    record(actor, "postmortem.revert", postmortem, incident.page, before, _picture(postmortem))
    return postmortem


def _picture(postmortem: Postmortem | None) -> dict[str, object] | None:
    if postmortem is None:
        return None
    published = postmortem.published_at.isoformat() if postmortem.published_at else None
    return {
        "body": postmortem.body,
        "body_draft": postmortem.body_draft,
        "published_at": published,
        "notify_subscribers": postmortem.notify_subscribers,
    }


# -- the pre-filled text -------------------------------------------------------------------


def prefill_postmortem(*, incident: Incident, now: datetime | None = None) -> str:
    """Markdown to start a postmortem from: impact windows, update log, related changes."""
    from heliograph.incidents.changes import related_changes  # changes imports this module

    now = now or timezone.now()
    zone = incident.page.zone
    lines = [f"# {incident.name}", ""]
    if incident.reference:
        lines += [f"Incident number: {incident.reference}", ""]
    lines += ["## Impact", "", *_impact_lines(incident, now, zone), ""]
    lines += ["## Timeline of public updates", ""]
    for update in incident.updates.order_by("display_at", "created_at"):
        label = "Recurred" if update.reopened else lifecycle.STATUS_LABELS[update.status]
        text = " ".join(update.body.split())
        lines.append(f"- **{moment(update.display_at, zone)}** — {label}: {text}")
    lines += ["", "## Related changes", ""]
    related = related_changes(incident=incident)
    lines += [f"- {item.text} ({moment(item.at, zone)})" for item in related] or [
        "- None recorded."
    ]
    lines += ["", "## Root cause", "", "", "## What we are changing", "", ""]
    return "\n".join(lines)


def _impact_lines(incident: Incident, now: datetime, zone: ZoneInfo) -> list[str]:
    names = {c.pk: c.display_name for c in incident.components.select_related("group")}
    windows = impact_windows(incident)
    if not windows:
        return ["No impact recorded on any component."]
    lines = ["| Component | Status | From | Until | Duration |", "|---|---|---|---|---|"]
    for w in windows:
        until = moment(w.end, zone) if w.end else "ongoing"
        lines.append(
            f"| {names.get(w.component, w.component)} | {w.worst_status} | "
            f"{moment(w.start, zone)} | {until} | {humanize_duration(w.duration(now))} |"
        )
    total = humanize_duration(lifecycle.total_duration(windows, now))
    return [*lines, "", f"Total duration: {total} over {len(windows)} impact window(s)."]
