"""Whole-database snapshots, to assert that a refused request changed nothing."""

from __future__ import annotations

from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Component, ComponentGroup, Page, StatusChange
from heliograph.incidents.models import (
    Change,
    Incident,
    IncidentTemplate,
    IncidentUpdate,
    Postmortem,
    UpdateRevision,
)


def database_state() -> dict[str, object]:
    """Everything a failed call must leave as it was."""
    return {
        "pages": list(Page.objects.order_by("pk").values_list("pk", "version", "updated_at")),
        "groups": ComponentGroup.objects.count(),
        "components": list(Component.objects.order_by("pk").values_list("pk", "status")),
        "status_changes": list(
            StatusChange.objects.order_by("pk").values_list("pk", "old_status", "new_status", "at")
        ),
        "incidents": list(
            Incident.objects.order_by("pk").values_list(
                "pk", "status", "impact", "monitoring_at", "resolved_at", "updated_at"
            )
        ),
        "incident_components": Incident.components.through.objects.count(),
        "updates": IncidentUpdate.objects.count(),
        "postmortems": list(Postmortem.objects.values_list("pk", "body", "published_at")),
    }


def version(page: Page) -> int:
    return Page.objects.get(pk=page.pk).version


def full_state() -> dict[str, object]:
    """Everything a refused call must leave untouched, audit log included."""
    return {
        **database_state(),
        "audit": AuditEvent.objects.count(),
        "revisions": UpdateRevision.objects.count(),
        "changes": Change.objects.count(),
        "templates": list(IncidentTemplate.objects.values_list("pk", "name", "title")),
        "incident_fields": list(
            Incident.objects.order_by("pk").values_list(
                "pk",
                "name",
                "reference",
                "impact_override",
                "metadata",
                "started_at",
                "caused_by",
                "caused_by_change",
            )
        ),
        "update_fields": list(
            IncidentUpdate.objects.order_by("pk").values_list(
                "pk", "body", "display_at", "edited_at", "deliver_notifications"
            )
        ),
        "postmortem_drafts": list(Postmortem.objects.values_list("pk", "body_draft")),
    }
