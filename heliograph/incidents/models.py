"""Incidents and maintenances, their updates, and postmortems."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from heliograph.catalog.models import Component, ComponentGroup, Page
from heliograph.incidents.lifecycle import (
    ACTIVE_MAINTENANCE,
    IMPACTS,
    INCIDENT_STATUSES,
    MAINTENANCE_STATUSES,
    OPEN_MAINTENANCE,
    UNRESOLVED,
    Kind,
    Status,
)
from heliograph.lib.ids import new_id

# The stored choices keep the value as their label, as the migrations recorded them.
STATUS_CHOICES = [(s.value, s.value) for s in INCIDENT_STATUSES + MAINTENANCE_STATUSES]
IMPACT_CHOICES = [(i, i) for i in (*IMPACTS, "maintenance")]


class IncidentQuerySet(models.QuerySet["Incident"]):
    """The words the code asks in: ``page.incidents.maintenances().active()``."""

    def incidents(self) -> IncidentQuerySet:
        return self.filter(kind=Kind.INCIDENT)

    def maintenances(self) -> IncidentQuerySet:
        return self.filter(kind=Kind.MAINTENANCE)

    def unresolved(self) -> IncidentQuerySet:
        return self.filter(status__in=UNRESOLVED)

    def scheduled(self) -> IncidentQuerySet:
        """Maintenances not started yet."""
        return self.filter(status=Status.SCHEDULED)

    def active(self) -> IncidentQuerySet:
        """Maintenances in progress: their components are under maintenance."""
        return self.filter(status__in=ACTIVE_MAINTENANCE)

    def not_over(self) -> IncidentQuerySet:
        """Maintenances scheduled or in progress."""
        return self.filter(status__in=OPEN_MAINTENANCE)


IncidentManager = models.Manager.from_queryset(IncidentQuerySet)


class Incident(models.Model):
    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    page = models.ForeignKey(Page, models.CASCADE, related_name="incidents")
    kind = models.CharField(
        max_length=16, choices=[(k.value, k.value) for k in Kind], default=Kind.INCIDENT.value
    )
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES)
    impact = models.CharField(max_length=16, choices=IMPACT_CHOICES, default="none")
    impact_override = models.CharField(max_length=16, choices=IMPACT_CHOICES, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(default=timezone.now)
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(max_length=64, blank=True, help_text="e.g. PR-2142")
    backfilled = models.BooleanField(default=False)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    scheduled_until = models.DateTimeField(null=True, blank=True)
    scheduled_remind_prior = models.BooleanField(default=False)
    scheduled_auto_in_progress = models.BooleanField(default=True)
    scheduled_auto_completed = models.BooleanField(default=True)
    caused_by = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="caused"
    )
    # A deploy or config change blamed for the incident (``caused_by`` holds a maintenance).
    caused_by_change = models.ForeignKey(
        "Change", models.SET_NULL, null=True, blank=True, related_name="caused"
    )
    recurrence_of = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="recurrences"
    )
    components = models.ManyToManyField(Component, blank=True, related_name="incidents")
    # Statuspage's ``metadata``: the API clients' own. Workers keep their state in their
    # own tables (MaintenanceState, monitors' IncidentAutomation), never here.
    metadata = models.JSONField(default=dict, blank=True)
    # Opened for responders only (monitor automation "draft"): no public artifact shows it
    # and no notification goes out until it is published.
    draft = models.BooleanField(default=False)

    objects = IncidentManager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["page", "kind", "-created_at"]),
            # What every published version lists (publish.scope): open, recent, changed.
            models.Index(fields=["page", "status"]),
            models.Index(fields=["page", "started_at"]),
            models.Index(fields=["page", "updated_at"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def shortlink(self) -> str:
        return f"{settings.BASE_URL}/incidents/{self.id}"

    @property
    def is_maintenance(self) -> bool:
        return self.kind == Kind.MAINTENANCE


class IncidentUpdate(models.Model):
    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    incident = models.ForeignKey(Incident, models.CASCADE, related_name="updates")
    status = models.CharField(max_length=16, choices=STATUS_CHOICES)
    body = models.TextField()
    display_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # [{"code": component id, "name", "old_status", "new_status"}] or empty
    affected_components = models.JSONField(default=list, blank=True)
    deliver_notifications = models.BooleanField(default=True)
    # Posted with an unresolved status after a resolution: the impact came back, the same
    # incident reopened (the public timeline reads resolved → recurred → resolved).
    reopened = models.BooleanField(default=False)
    # Set when a published update is edited; the old text is kept as an UpdateRevision.
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-display_at", "-created_at"]

    def __str__(self) -> str:
        return f"{self.incident}: {self.status} at {self.display_at:%Y-%m-%d %H:%M}"


class MaintenanceState(models.Model):
    """The maintenance worker's bookkeeping on one maintenance (``incidents.maintenance``
    writes it): what it did and when, so a restarted worker carries on where the last one
    stopped. Kept apart from ``Incident.metadata``, which is the API clients' own."""

    maintenance = models.OneToOneField(
        Incident, models.CASCADE, primary_key=True, related_name="maintenance_state"
    )
    # Component id → the status it had when this maintenance started (overruns compare
    # with it; what it goes back to at the end is ``maintenance.beneath``).
    statuses_before = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    reminder_due_at = models.DateTimeField(null=True, blank=True)
    reminder_recorded_at = models.DateTimeField(null=True, blank=True)
    # The channels that queued the reminder, comma-separated; empty: nothing was sent.
    reminder_queued_by = models.CharField(max_length=255, blank=True)
    overrun_checked_at = models.DateTimeField(null=True, blank=True)
    overrun_flagged_at = models.DateTimeField(null=True, blank=True)
    overrun_components = models.JSONField(default=list, blank=True)  # component ids
    overrun_incident = models.ForeignKey(
        Incident, models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def forget_reminder(self) -> None:
        """A moved start makes the reminder due again."""
        self.reminder_due_at = self.reminder_recorded_at = None
        self.reminder_queued_by = ""


class UpdateRevision(models.Model):
    """Edits to a published update keep the text it had before."""

    update = models.ForeignKey(IncidentUpdate, models.CASCADE, related_name="revisions")
    body = models.TextField()
    display_at = models.DateTimeField(null=True, blank=True)
    replaced_at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["replaced_at"]


class Postmortem(models.Model):
    incident = models.OneToOneField(Incident, models.CASCADE, related_name="postmortem")
    body_draft = models.TextField(blank=True)
    body = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    notify_subscribers = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


CHANGE_SOURCES = ("deploy", "config", "maintenance")


class Change(models.Model):
    """A deploy or config change on components, recorded so incidents can be tied to it."""

    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    page = models.ForeignKey(Page, models.CASCADE, related_name="changes")
    components = models.ManyToManyField(Component, blank=True, related_name="changes")
    title = models.CharField(max_length=255)
    at = models.DateTimeField(db_index=True)
    source = models.CharField(
        max_length=16, choices=[(s, s) for s in CHANGE_SOURCES], default="deploy"
    )
    link = models.URLField(max_length=1000, blank=True)
    actor = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-created_at"]

    def __str__(self) -> str:
        return self.title


class IncidentTemplate(models.Model):
    """Statuspage's incident templates: canned name, text, status and components."""

    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    page = models.ForeignKey(Page, models.CASCADE, related_name="incident_templates")
    name = models.CharField(max_length=255)
    title = models.CharField(max_length=255)
    body = models.TextField()
    group = models.ForeignKey(
        ComponentGroup, models.SET_NULL, null=True, blank=True, related_name="templates"
    )
    update_status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="investigating")
    should_tweet = models.BooleanField(default=False)
    should_send_notifications = models.BooleanField(default=True)
    components = models.ManyToManyField(Component, blank=True, related_name="templates")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "created_at"]

    def __str__(self) -> str:
        return self.name
