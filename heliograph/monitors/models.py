"""Monitors, what each run found, and the numbers kept from it (architecture: Monitors).

A Monitor feeds at most one component (several monitors may feed the same one). Each is a
*path* customers' traffic takes (a round trip, an MX, an endpoint) or a *signal* about the
paths (a loop detector, a Prometheus query): ``role``, blank for its kind's default
(``default_role``); the blend is ``monitors.evaluator.component_status``.
Its hysteresis state (streaks and the status it currently vouches for) lives on the row,
so any worker can evaluate the next sample. ProbeResult keeps recent runs as evidence;
MetricPoint keeps the numbers, downsampled with age.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from heliograph.catalog.models import Component, Page
from heliograph.incidents.models import Incident
from heliograph.lib.ids import new_id
from heliograph.monitors.evaluator import PATH, ROLES, SIGNAL, SIGNAL_SEVERITIES
from heliograph.monitors.probes.base import VERDICTS
from heliograph.monitors.probes.registry import KINDS

AUTOMATION_OFF, AUTOMATION_DRAFT, AUTOMATION_PUBLISH = "off", "draft", "publish"
AUTOMATIONS = (AUTOMATION_OFF, AUTOMATION_DRAFT, AUTOMATION_PUBLISH)
RAW, FIVE_MINUTES, HOURLY = 0, 300, 3600
RESOLUTIONS = [(RAW, "raw"), (FIVE_MINUTES, "5 minutes"), (HOURLY, "hourly")]
# Kinds that detect trouble without being a way customers' traffic goes: signals unless the
# monitor says otherwise. Every other kind probes a path.
SIGNAL_KINDS = ("rspamd", "prometheus")
BY_KIND = ""  # a monitor's role left to its kind


def default_role(kind: str) -> str:
    return SIGNAL if kind in SIGNAL_KINDS else PATH


class Monitor(models.Model):
    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    page = models.ForeignKey(Page, models.CASCADE, related_name="monitors")
    name = models.CharField(max_length=255)  # "Inbound — Cluster A"
    kind = models.CharField(max_length=16, choices=[(k, k) for k in KINDS])
    config = models.JSONField(default=dict, blank=True)
    # Passwords and tokens the probe needs: never shown back, logged or audited.
    secrets = models.JSONField(default=dict, blank=True)
    component = models.ForeignKey(
        Component, models.SET_NULL, null=True, blank=True, related_name="monitors"
    )
    interval_seconds = models.PositiveIntegerField(default=60)
    timeout_seconds = models.FloatField(default=30.0)
    automation = models.CharField(
        max_length=8, choices=[(a, a) for a in AUTOMATIONS], default=AUTOMATION_OFF
    )
    public = models.BooleanField(default=False, help_text="chart it on the public page")
    # Stored blank while the kind decides (so a new kind brings its own default).
    role = models.CharField(
        max_length=8, blank=True, default=BY_KIND, choices=[(r, r) for r in ROLES]
    )
    # What a signal in trouble makes its component (paths ignore it).
    severity = models.CharField(
        max_length=24, default=SIGNAL_SEVERITIES[0], choices=[(s, s) for s in SIGNAL_SEVERITIES]
    )
    paused = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    # Scheduling: workers lease due rows (SKIP LOCKED on PostgreSQL).
    next_run_at = models.DateTimeField(default=timezone.now)
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)

    # The last sample, and the evaluator's memory (see monitors.evaluator).
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_verdict = models.CharField(max_length=8, blank=True)
    last_reason = models.TextField(blank=True)
    state = models.JSONField(default=dict, blank=True)
    # The incident this monitor opened or last fed, for escalation and reopening.
    incident = models.ForeignKey(
        Incident, models.SET_NULL, null=True, blank=True, related_name="monitors"
    )

    class Meta:
        ordering = ["page", "name"]
        constraints = [models.UniqueConstraint("page", "name", name="unique_monitor_name")]
        indexes = [
            models.Index(fields=["next_run_at"], condition=Q(paused=False), name="monitor_due")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def acts_as(self) -> str:
        """Its role: the one set, else its kind's."""
        return self.role or default_role(self.kind)


class IncidentAutomation(models.Model):
    """Monitor automation's bookkeeping on an incident it opened or fed
    (``monitors.automation`` writes it), apart from the API clients' ``Incident.metadata``."""

    incident = models.OneToOneField(
        Incident, models.CASCADE, primary_key=True, related_name="automation"
    )
    monitor = models.ForeignKey(
        Monitor, models.SET_NULL, null=True, blank=True, related_name="+"
    )  # the one that opened it
    # The ids of the updates automation posted: any other update means a human took over.
    updates = models.JSONField(default=list, blank=True)
    # What the monitors saw and suggest, for the console, newest last.
    evidence = models.JSONField(default=list, blank=True)
    # When the monitors last saw the component become operational ("operational for …").
    calm_since = models.DateTimeField(null=True, blank=True)
    # What automation last told customers (``monitors.pacing``): the severity, the effect
    # ("delayed"), when; and what the monitors have seen since, unchanged since when.
    said_status = models.CharField(max_length=32, blank=True)
    said_effect = models.CharField(max_length=255, blank=True)
    said_at = models.DateTimeField(null=True, blank=True)
    seen_status = models.CharField(max_length=32, blank=True)
    seen_effect = models.CharField(max_length=255, blank=True)
    seen_since = models.DateTimeField(null=True, blank=True)
    # Every title automation gave the incident, oldest first: [{"at", "title"}].
    titles = models.JSONField(default=list, blank=True)


class ProbeResult(models.Model):
    monitor = models.ForeignKey(Monitor, models.CASCADE, related_name="results")
    at = models.DateTimeField(default=timezone.now)
    verdict = models.CharField(max_length=8, choices=[(v, v) for v in VERDICTS])
    reason = models.TextField(blank=True)
    values = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)
    duration_ms = models.FloatField(default=0.0)
    # How long after its due time the run started (the scheduler's lag).
    lag_ms = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["monitor", "-at"], name="result_recent")]

    def __str__(self) -> str:
        return f"{self.monitor_id} {self.verdict} at {self.at:%H:%M:%S}"


class MetricPoint(models.Model):
    """One number over one bucket: raw samples (resolution 0), then 5-minute and hourly
    aggregates as they age (raw 48 h, 5-minute 14 days, hourly 90 days)."""

    monitor = models.ForeignKey(Monitor, models.CASCADE, related_name="points")
    name = models.CharField(max_length=64)
    resolution = models.PositiveIntegerField(choices=RESOLUTIONS, default=RAW)
    at = models.DateTimeField()
    value = models.FloatField()  # the mean over the bucket
    low = models.FloatField()
    high = models.FloatField()
    count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["at"]
        indexes = [
            models.Index(fields=["monitor", "name", "resolution", "at"], name="point_series"),
            # Downsampling finds the aged points of a resolution across every series.
            models.Index(fields=["resolution", "at"], name="point_age"),
        ]
        # One aggregate per bucket (raw points may share a moment): monitors.metrics merges.
        constraints = [
            models.UniqueConstraint(
                fields=["monitor", "name", "resolution", "at"],
                condition=Q(resolution__gt=0),
                name="unique_point_bucket",
            )
        ]

    def __str__(self) -> str:
        return f"{self.monitor_id}.{self.name}@{self.at:%Y-%m-%d %H:%M} = {self.value:g}"
