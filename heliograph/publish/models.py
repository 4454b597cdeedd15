"""Snapshots: every public artifact of a page, rendered once per version."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from heliograph.catalog.models import Page


class Snapshot(models.Model):
    page = models.ForeignKey(Page, models.CASCADE, related_name="snapshots")
    version = models.PositiveBigIntegerField()
    built_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("page", "version", name="unique_page_version")]
        ordering = ["-version"]


class Artifact(models.Model):
    snapshot = models.ForeignKey(Snapshot, models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=512)
    content_type = models.CharField(max_length=128)
    etag = models.CharField(max_length=64)
    body = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint("snapshot", "path", name="unique_snapshot_path")]
