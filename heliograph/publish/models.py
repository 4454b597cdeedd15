"""Snapshots: each published version of a page, and the bodies its artifacts share."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from heliograph.catalog.models import Page


class Snapshot(models.Model):
    page = models.ForeignKey(Page, models.CASCADE, related_name="snapshots")
    version = models.PositiveBigIntegerField()
    built_at = models.DateTimeField(default=timezone.now)
    manifest = models.BinaryField(default=b"")  # publish.manifest.Manifest, packed
    # None: ``manifest`` is whole; else it holds only what changed since this version.
    base_version = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("page", "version", name="unique_page_version")]
        ordering = ["-version"]


class Blob(models.Model):
    """One artifact body, stored once for every version that shows it."""

    page = models.ForeignKey(Page, models.CASCADE, related_name="blobs")
    name = models.CharField(max_length=32)  # publish.manifest.blob_name of its ETag
    body = models.BinaryField()  # empty when stored as ``gzipped`` only
    # The body gzip-compressed once, at publish, for clients that accept it (and to keep
    # in its place); None where that does not pay (publish.encoding), or stored before.
    gzipped = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("page", "name", name="unique_page_blob")]
