"""Render a page's public artifacts, store them as a Snapshot, export them to disk."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from heliograph.catalog.models import Page
from heliograph.publish import feeds, html, v2json
from heliograph.publish.models import Artifact, Snapshot
from heliograph.publish.world import load_world

log = logging.getLogger(__name__)
KEEP_SNAPSHOTS = 5
KEEP_EXPORTS = 3

Rendered = dict[str, tuple[str, bytes]]  # URL path -> (content type, body)


@dataclass(frozen=True)
class Entry:
    content_type: str
    etag: str
    body: bytes


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def render_all(page: Page) -> Rendered:
    world = load_world(page)
    if not page.allow_feeds:
        return {**html.render(world), **v2json.render(world)}
    return {**html.render(world), **v2json.render(world), **feeds.render(world)}


def publish_page(page: Page) -> Snapshot | None:
    """Publish the page's current version unless a snapshot of it already exists."""
    version = Page.objects.values_list("version", flat=True).get(pk=page.pk)
    if Snapshot.objects.filter(page=page, version__gte=version).exists():
        return None
    # Rendered outside the write transaction so writers never wait on rendering; if the
    # data moved on meanwhile, the version did too and the next pass renders again.
    rendered = render_all(page)
    entries = {path: Entry(ct, etag_of(body), body) for path, (ct, body) in rendered.items()}
    try:
        with transaction.atomic():
            snapshot = Snapshot.objects.create(page=page, version=version)
            Artifact.objects.bulk_create(
                Artifact(snapshot=snapshot, path=path, content_type=e.content_type,
                         etag=e.etag, body=e.body)
                for path, e in entries.items()
            )  # fmt: skip
            stale = Snapshot.objects.filter(page=page).order_by("-version")[KEEP_SNAPSHOTS:]
            Snapshot.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    except IntegrityError:  # another publisher got there first: same version, same content
        return None
    export(page.pk, version, entries)
    log.info("published %s version %s (%d artifacts)", page.name, version, len(entries))
    return snapshot


def load_snapshot(snapshot_id: int) -> dict[str, Entry]:
    rows = Artifact.objects.filter(snapshot_id=snapshot_id).values_list(
        "path", "content_type", "etag", "body"
    )
    return {path: Entry(ct, etag, bytes(body)) for path, ct, etag, body in rows}


# -- the export folder -----------------------------------------------------------------
# export/<page id> is a symlink to export/<page id>.v/<version>/: a whole version appears
# at once (rename of a symlink is atomic), so nginx never serves a half-written tree.


def export_file_path(url_path: str) -> str:
    """Where nginx finds an artifact: directories hold index.html, files keep their name."""
    trimmed = url_path.strip("/")
    if not trimmed:
        return "index.html"
    return trimmed if "." in trimmed.rsplit("/", 1)[-1] else f"{trimmed}/index.html"


def export(page_id: str, version: int, entries: dict[str, Entry]) -> Path:
    root = Path(settings.EXPORT_DIR)
    versions = root / f"{page_id}.v"
    versions.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=versions))
    manifest = {}
    for url_path, entry in entries.items():
        target = staging / export_file_path(url_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(entry.body)
        manifest[url_path] = {"file": export_file_path(url_path), "type": entry.content_type,
                              "etag": entry.etag}  # fmt: skip
    (staging / "manifest.json").write_text(json.dumps(manifest))
    final = versions / str(version)
    staging.chmod(0o755)
    try:
        staging.rename(final)
    except OSError:  # another process exported this version first: same bytes
        shutil.rmtree(staging, ignore_errors=True)
    _point(root / page_id, final)
    _prune(versions, keep=final.name)
    return final


def _point(link: Path, target: Path) -> None:
    temp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    temp.symlink_to(target.relative_to(link.parent))
    temp.replace(link)


def _prune(versions: Path, keep: str) -> None:
    numbered = sorted(
        (p for p in versions.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
    )
    for old in numbered[:-KEEP_EXPORTS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def export_if_missing(page_id: str, version: int, entries: dict[str, Entry]) -> None:
    """Every node keeps its own export folder current, for an nginx next to it."""
    if not (Path(settings.EXPORT_DIR) / f"{page_id}.v" / str(version)).exists():
        export(page_id, version, entries)


def read_export(page_id: str) -> dict[str, Entry] | None:
    """The last exported version of a page, for starting while the database is down."""
    folder = Path(settings.EXPORT_DIR) / page_id
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        return {
            path: Entry(meta["type"], meta["etag"], (folder / meta["file"]).read_bytes())
            for path, meta in manifest.items()
        }
    except (OSError, ValueError, KeyError):
        return None


def write_sites(sites: list[tuple[str, str]]) -> None:
    """Which pages exist and the domains they answer, for starting without a database."""
    root = Path(settings.EXPORT_DIR)
    root.mkdir(parents=True, exist_ok=True)
    temp = root / f".sites.{os.getpid()}.tmp"
    temp.write_text(json.dumps([{"id": pid, "domain": domain} for pid, domain in sites]))
    temp.replace(root / "sites.json")


def read_sites() -> list[tuple[str, str]]:
    try:
        rows = json.loads((Path(settings.EXPORT_DIR) / "sites.json").read_text())
        return [(row["id"], row["domain"]) for row in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return []
