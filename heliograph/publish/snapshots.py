"""Snapshots in the database: a manifest per version, each body stored once per page."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from heliograph.catalog.models import Page, Touch
from heliograph.publish.manifest import Manifest
from heliograph.publish.models import Blob, Snapshot

log = logging.getLogger(__name__)
KEEP_SNAPSHOTS = 5
BATCH = 500
# A body not listed by any kept snapshot is deleted once it is this old: younger ones
# may belong to a version another publisher is still rendering.
ORPHAN_AGE = timedelta(minutes=10)
COLLECT_EVERY = 50  # versions between collections of unused bodies


def latest_manifest(page: Page) -> Manifest | None:
    data = (
        Snapshot.objects.filter(page=page).order_by("-version").values_list("manifest", flat=True)
    ).first()
    try:
        return Manifest.loads(bytes(data)) if data else None
    except (ValueError, KeyError, zlib.error):  # another release's: rendered again in full
        return None


def packed_manifest(page_id: str, version: int) -> bytes:
    """A version's manifest as stored (``Manifest.loads`` reads it)."""
    data = Snapshot.objects.values_list("manifest", flat=True).get(page_id=page_id, version=version)
    return bytes(data)


def store_blobs(page_id: str, bodies: dict[str, bytes]) -> None:
    """Store the bodies (by blob name) this page does not have yet."""
    names = list(bodies)
    for start in range(0, len(names), BATCH):
        chunk = names[start : start + BATCH]
        known = set(
            Blob.objects.filter(page_id=page_id, name__in=chunk).values_list("name", flat=True)
        )
        Blob.objects.bulk_create(
            [Blob(page_id=page_id, name=n, body=bodies[n]) for n in chunk if n not in known],
            ignore_conflicts=True,  # another publisher stored the same body meanwhile
        )


def fetch_blobs(page_id: str, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    wanted = list(names)
    for start in range(0, len(wanted), BATCH):
        rows = Blob.objects.filter(page_id=page_id, name__in=wanted[start : start + BATCH])
        for name, body in rows.values_list("name", "body"):
            yield name, bytes(body)


def save_snapshot(page: Page, version: int, packed: bytes, touches: list[int]) -> Snapshot | None:
    """Store the version (its packed manifest) and forget the writes it shows; None if
    another publisher did."""
    try:
        with transaction.atomic():
            snapshot = Snapshot.objects.create(page=page, version=version, manifest=packed)
            Touch.objects.filter(pk__in=touches).delete()
            stale = Snapshot.objects.filter(page=page).order_by("-version")[KEEP_SNAPSHOTS:]
            Snapshot.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    except IntegrityError:  # another publisher got there first: same version, same content
        return None
    if version % COLLECT_EVERY == 0:
        collect_blobs(page.pk)
    return snapshot


def collect_blobs(page_id: str) -> int:
    """Delete bodies no kept snapshot lists; returns how many."""
    kept: set[str] = set()
    for data in Snapshot.objects.filter(page_id=page_id).values_list("manifest", flat=True):
        kept |= Manifest.loads(bytes(data)).blob_names()
    old = Blob.objects.filter(page_id=page_id, created_at__lt=timezone.now() - ORPHAN_AGE)
    unused = [pk for pk, name in old.values_list("pk", "name") if name not in kept]
    for start in range(0, len(unused), BATCH):
        Blob.objects.filter(pk__in=unused[start : start + BATCH]).delete()
    if unused:
        log.info("deleted %d unused artifact bodies of page %s", len(unused), page_id)
    return len(unused)
