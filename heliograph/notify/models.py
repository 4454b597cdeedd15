"""Subscribers, and the outbox: Notification (what happened) → Delivery (who is told)."""

from __future__ import annotations

import json
import secrets
from functools import cached_property
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from heliograph.catalog.models import Component, Page
from heliograph.incidents.models import Incident
from heliograph.lib.ids import new_id

EMAIL, WEBHOOK = "email", "webhook"
SUBSCRIBER_KINDS = [(EMAIL, EMAIL), (WEBHOOK, WEBHOOK)]

INCIDENT_UPDATE = "incident_update"
MAINTENANCE = "maintenance"
POSTMORTEM = "postmortem"
COMPONENT_UPDATE = "component_update"
CONFIRMATION = "confirmation"
QUARANTINE = "quarantine"
WEBHOOK_WELCOME = "webhook_welcome"
# Sent to one chosen subscriber, whatever their state (a quarantined webhook's contact is
# told it was quarantined; an unconfirmed address gets its confirmation; a new webhook's
# contact gets its signing secret).
TARGETED_KINDS = (CONFIRMATION, QUARANTINE, WEBHOOK_WELCOME)
NOTIFICATION_KINDS = [
    (k, k) for k in (INCIDENT_UPDATE, MAINTENANCE, POSTMORTEM, COMPONENT_UPDATE, *TARGETED_KINDS)
]

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
DELIVERY_STATUSES = [(s, s) for s in (PENDING, SENT, FAILED, SKIPPED)]
# What became of one attempt: sent; failed (the relay's or receiver's own answer, which
# counts towards a webhook's quarantine); or ours (the worker's side: the batch's time ran
# out mid-send, or the message could not be built), never held against the receiver.
OURS = "ours"
ATTEMPT_OUTCOMES = [
    (SENT, "sent"),
    (FAILED, "failed"),
    (OURS, "on Heliograph's side, not held against the receiver"),
]


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Subscriber(models.Model):
    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    page = models.ForeignKey(Page, models.CASCADE, related_name="subscribers")
    kind = models.CharField(max_length=8, choices=SUBSCRIBER_KINDS)
    # The address for e-mail subscribers; the contact told about quarantine for webhooks.
    email = models.EmailField(max_length=320, blank=True)
    endpoint = models.URLField(max_length=2000, blank=True)
    # Empty = the whole page.
    components = models.ManyToManyField(Component, blank=True, related_name="subscribers")
    # Set = only this incident's updates (Statuspage's per-incident subscription).
    incident = models.ForeignKey(
        Incident, models.CASCADE, null=True, blank=True, related_name="subscribers"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    unsubscribe_token = models.CharField(max_length=64, unique=True, default=new_token)
    signing_secret = models.CharField(max_length=64, default=new_token)
    quarantined_at = models.DateTimeField(null=True, blank=True)
    # ISO timestamps of webhook failures inside the quarantine window (pruned as it slides).
    recent_failures = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["page", "kind", "confirmed_at"])]

    def __str__(self) -> str:
        return self.email if self.kind == EMAIL else self.endpoint

    @property
    def active(self) -> bool:
        """Gets broadcast notifications: confirmed, not unsubscribed, not quarantined."""
        return bool(self.confirmed_at) and not self.unsubscribed_at and not self.quarantined_at


class Notification(models.Model):
    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    page = models.ForeignKey(Page, models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=NOTIFICATION_KINDS)
    incident = models.ForeignKey(
        Incident, models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    component = models.ForeignKey(
        Component, models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    # The components this notification touches, frozen with it: subscribers' component
    # filters are matched against what the incident affected when it was written.
    component_ids = models.JSONField(default=list, blank=True)
    # The Statuspage-shaped body (without the per-subscriber ``meta.unsubscribe``), as JSON
    # text: PostgreSQL's jsonb would reorder its keys, and receivers see them in order.
    payload_text = models.TextField()
    subscriber = models.ForeignKey(
        Subscriber, models.CASCADE, null=True, blank=True, related_name="targeted"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expanded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(expanded_at__isnull=True),
                name="notify_unexpanded",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk}"

    @cached_property
    def payload(self) -> dict[str, Any]:
        found = json.loads(self.payload_text)
        assert isinstance(found, dict)
        return found


class Delivery(models.Model):
    # Every row is written three times (expanded, claimed, recorded): no index it does not
    # need. The unique pair and notify_counts lead with the notification; ids are never
    # searched with LIKE (PostgreSQL's extra _like indexes for a text key).
    notification = models.ForeignKey(
        Notification, models.CASCADE, related_name="deliveries", db_index=False
    )
    subscriber = models.ForeignKey(
        Subscriber, models.CASCADE, related_name="deliveries", db_index=False
    )
    status = models.CharField(max_length=8, choices=DELIVERY_STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("notification", "subscriber", name="one_delivery_each")
        ]
        indexes = [
            # The claim query reads only pending rows, due first.
            models.Index(
                fields=["next_attempt_at"], condition=Q(status=PENDING), name="notify_due"
            ),
            models.Index(fields=["notification", "status"], name="notify_counts"),
            models.Index(fields=["subscriber"], name="notify_by_subscriber"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try at a delivery, kept for good: a later success never erases a failure."""

    delivery = models.ForeignKey(Delivery, models.CASCADE, related_name="history")
    at = models.DateTimeField()
    outcome = models.CharField(max_length=8, choices=ATTEMPT_OUTCOMES)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=100, blank=True)  # the lease owner that tried

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} at delivery {self.delivery_id} ({self.outcome})"
