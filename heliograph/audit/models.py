"""The audit log: who changed what, when. At the bottom of the layers, so every app can
record its changes; a page is referred to by name ("catalog.Page"), never imported."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """Who changed what, when, and how it looked before and after."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=255, help_text='"user:alice", "key:deploy-bot", "cli"')
    action = models.CharField(max_length=64, help_text='e.g. "incident.create"')
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64)
    page = models.ForeignKey(
        "catalog.Page", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        target = f"{self.target_type}:{self.target_id}"
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {target}"
