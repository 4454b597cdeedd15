"""Pages, component groups, components and the status timeline of truth."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.db import models
from django.utils import timezone

from heliograph.catalog.status import COMPONENT_STATUSES, OPERATIONAL
from heliograph.catalog.uptime import UptimePolicy
from heliograph.lib.ids import new_id

STATUS_CHOICES = [(s, s) for s in COMPONENT_STATUSES]
SOURCES = ["update", "manual", "monitor", "maintenance", "import"]


class Page(models.Model):
    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    name = models.CharField(max_length=255, unique=True)
    url = models.URLField(blank=True, help_text="The company's own site, linked from the page")
    time_zone = models.CharField(max_length=64, default="UTC")
    domain = models.CharField(max_length=255, blank=True, help_text="Host this page answers")
    allow_subscribers = models.BooleanField(default=True)
    allow_feeds = models.BooleanField(default=True)
    # Whether other sites may frame the public page (the read path's frame-ancestors).
    embeddable = models.BooleanField(default=False)
    uptime_partial_weight = models.FloatField(default=0.3)
    uptime_degraded_weight = models.FloatField(default=0.0)
    uptime_counts_maintenance = models.BooleanField(default=False)
    # Bumped in the same transaction as every change the public sees; the publisher
    # renders a snapshot whenever it is ahead of the last published one.
    version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def uptime_policy(self) -> UptimePolicy:
        return UptimePolicy(
            partial_weight=self.uptime_partial_weight,
            degraded_weight=self.uptime_degraded_weight,
            maintenance_counts=self.uptime_counts_maintenance,
        )


class ComponentGroup(models.Model):
    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    page = models.ForeignKey(Page, models.CASCADE, related_name="groups")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [models.UniqueConstraint("page", "name", name="unique_group_name")]

    def __str__(self) -> str:
        return self.name


class Component(models.Model):
    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    page = models.ForeignKey(Page, models.CASCADE, related_name="components")
    group = models.ForeignKey(
        ComponentGroup, models.SET_NULL, null=True, blank=True, related_name="components"
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=32, choices=STATUS_CHOICES, default=OPERATIONAL)
    showcase = models.BooleanField(default=True)
    only_show_if_degraded = models.BooleanField(default=False)
    start_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [models.UniqueConstraint("page", "name", name="unique_component_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        """``Hosted Email (Cluster A)``, as "This incident affected" lists it."""
        return f"{self.group.name} ({self.name})" if self.group else self.name


class StatusChange(models.Model):
    """Component status is never changed without a row here."""

    component = models.ForeignKey(Component, models.CASCADE, related_name="status_changes")
    old_status = models.CharField(max_length=32, choices=STATUS_CHOICES)
    new_status = models.CharField(max_length=32, choices=STATUS_CHOICES)
    at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=16, choices=[(s, s) for s in SOURCES])
    actor = models.CharField(max_length=255, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident", models.SET_NULL, null=True, blank=True, related_name="status_changes"
    )

    class Meta:
        ordering = ["at", "id"]
        # A component's timeline from a moment on (the uptime bars' last 90 days).
        indexes = [models.Index(fields=["component", "at"], name="status_change_timeline")]

    def __str__(self) -> str:
        return (
            f"{self.component}: {self.old_status} → {self.new_status} at {self.at:%Y-%m-%d %H:%M}"
        )


class Touch(models.Model):
    """What a write changed, so the publisher re-renders only what depends on it.

    Written in the write's own transaction by ``services.bump_version``; the publisher
    deletes the rows it has published. ``kind`` names a model (``incident``,
    ``component``, ``componentgroup``), ``status`` (a component's status alone) or
    ``page`` (everything may have changed)."""

    PAGE = "page"
    STATUS = "status"  # a component's status alone changed

    page = models.ForeignKey(Page, models.CASCADE, related_name="touches")
    kind = models.CharField(max_length=16)
    ref = models.CharField(max_length=64, blank=True)
