"""Snapshots in the database: a manifest per version, each body stored once per page."""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from heliograph.catalog.models import Page, Touch
from heliograph.publish.encoding import gzip_of
from heliograph.publish.manifest import Manifest
from heliograph.publish.models import Blob, Snapshot

log = logging.getLogger(__name__)
WHOLE_EVERY = 20  # versions: a manifest is read from at most this many rows
BATCH = 500
# A body not listed by any kept snapshot is deleted once it is this old: younger ones
# may belong to a version another publisher is still rendering.
ORPHAN_AGE = timedelta(minutes=10)


@dataclass(frozen=True)
class Known:
    """A version's manifest as a process holds it. ``stamp`` (its row's id and build
    time) tells it from another row of the same number (after a restored backup)."""

    page_id: str
    version: int
    stamp: tuple[int, datetime]
    manifest: Manifest


NOT_STORED = (0, datetime.min)  # the stamp of a manifest read from the export folder


def load_manifest(
    page_id: str, version: int | None = None, known: Known | None = None
) -> Known | None:
    """A version's manifest (the newest without ``version``): its row, applied to the rows
    it changes, back to a whole one; on ``known`` when it is a change to that. None when
    there is none, or it cannot be read (another release's, or a row gone)."""
    found = Snapshot.objects.filter(page_id=page_id)
    version = version or found.aggregate(v=Max("version"))["v"]
    if version is None:
        return None
    wanted = [version] + ([known.version] if known else [])
    rows = {
        v: ((pk, at), base)
        for v, pk, at, base in found.filter(version__in=wanted).values_list(
            "version", "pk", "built_at", "base_version"
        )
    }
    if version not in rows:
        return None
    stamp, base = rows[version]
    if known is not None and (known.version, known.stamp) == (version, stamp):
        return known
    try:
        if (
            known is not None
            and base == known.version
            and rows.get(base, (None, None))[0] == known.stamp
        ):
            data = found.values_list("manifest", flat=True).get(version=version)
            return Known(page_id, version, stamp, Manifest.loads(bytes(data), known.manifest))
        return Known(page_id, version, stamp, _whole(found, version))
    except (ValueError, KeyError, LookupError, zlib.error):
        return None


def _whole(found: QuerySet[Snapshot], version: int) -> Manifest:
    start = found.filter(version__lte=version, base_version__isnull=True).aggregate(
        v=Max("version")
    )
    rows = {
        v: (base, bytes(data))
        for v, base, data in found.filter(
            version__gte=start["v"] or 0, version__lte=version
        ).values_list("version", "base_version", "manifest")
    }
    chain = [version]
    while (base := rows[chain[-1]][0]) is not None:
        chain.append(base)  # KeyError: a row it builds on is gone
    manifest = None
    for v in reversed(chain):
        manifest = Manifest.loads(rows[v][1], manifest)
    assert manifest is not None
    return manifest


def store_blobs(page_id: str, bodies: dict[str, bytes]) -> dict[str, bytes | None]:
    """Store the bodies (by blob name) this page does not have yet; returns their gzip
    forms, by name. Compressed here once for every node, and stored in that form only
    where it has one (a tenth of the bytes to write; nodes unpack it at a fraction of
    the cost of packing)."""
    names, zipped = list(bodies), dict[str, bytes | None]()
    for start in range(0, len(names), BATCH):
        chunk = names[start : start + BATCH]
        known = set(
            Blob.objects.filter(page_id=page_id, name__in=chunk).values_list("name", flat=True)
        )
        new = [n for n in chunk if n not in known]
        zipped.update((n, gzip_of(bodies[n])) for n in new)
        rows = [Blob(page_id=page_id, name=n, gzipped=zipped[n]) for n in new]
        for row in rows:
            row.body = b"" if row.gzipped else bodies[row.name]
        # ignore_conflicts: another publisher stored the same body meanwhile
        Blob.objects.bulk_create(rows, ignore_conflicts=True)
    return zipped


def fetch_stored(page_id: str, names: Iterable[str]) -> Iterator[tuple[str, bytes, bytes | None]]:
    """(name, body, its gzip form or None) of each body named that is stored."""
    wanted = list(names)
    for start in range(0, len(wanted), BATCH):
        rows = Blob.objects.filter(page_id=page_id, name__in=wanted[start : start + BATCH])
        for name, body, zipped in rows.values_list("name", "body", "gzipped"):
            if zipped is None:  # small, or stored before bodies had a gzip form
                yield name, bytes(body), None
            else:
                yield name, gzip.decompress(zipped), bytes(zipped)


def save_snapshot(
    page: Page, version: int, manifest: Manifest, base: Known | None, touches: list[int]
) -> Known | None:
    """Store the version and forget the writes it shows; None if another publisher did.
    It is stored as what changed since ``base``, and whole every WHOLE_EVERY versions."""
    found = Snapshot.objects.filter(page=page)
    whole = found.filter(base_version__isnull=True).aggregate(v=Max("version"))["v"]
    since = found.filter(version__gt=whole).count() if whole is not None else WHOLE_EVERY
    changes = base is not None and since < WHOLE_EVERY - 1
    packed = manifest.dumps(base.manifest) if base and changes else manifest.dumps()
    try:
        with transaction.atomic():
            _wait_briefly()
            snapshot = Snapshot.objects.create(
                page=page,
                version=version,
                manifest=packed,
                base_version=base.version if base and changes else None,
            )
            _delete_unlocked(Touch.objects.filter(pk__in=touches))
            if not changes:  # the rows before a whole one are no longer needed
                _delete_unlocked(found.filter(version__lt=version))
    except IntegrityError:  # another publisher got there first: same version, same content
        return None
    if not changes:
        collect_blobs(page.pk)
    return Known(page.pk, version, (snapshot.pk, snapshot.built_at), manifest)


def _wait_briefly() -> None:
    """A publisher cut off mid-save keeps its row locks at the server until its session
    ends; a standby must not wait for that: this pass fails fast, the next one goes on."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")


def _delete_unlocked(rows: QuerySet[Any]) -> None:
    """Delete the rows no other transaction holds (on PostgreSQL; SQLite has one writer).
    Rows a hung publisher holds stay: its writes are re-rendered once more, no harm."""
    if connection.vendor == "postgresql":
        free = list(rows.select_for_update(skip_locked=True).values_list("pk", flat=True))
        rows = rows.model.objects.filter(pk__in=free)
    rows.delete()


def collect_blobs(page_id: str) -> int:
    """Delete bodies no kept snapshot lists; returns how many."""
    kept: set[str] = set()  # every body a kept row names, whole or changed
    for data in Snapshot.objects.filter(page_id=page_id).values_list("manifest", flat=True):
        kept |= Manifest.loads(bytes(data)).blob_names()
    old = Blob.objects.filter(page_id=page_id, created_at__lt=timezone.now() - ORPHAN_AGE)
    unused = [pk for pk, name in old.values_list("pk", "name") if name not in kept]
    for start in range(0, len(unused), BATCH):
        Blob.objects.filter(pk__in=unused[start : start + BATCH]).delete()
    if unused:
        log.info("deleted %d unused artifact bodies of page %s", len(unused), page_id)
    return len(unused)
