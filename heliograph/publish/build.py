"""Render a page's version: what the writes since the last one touched, reusing the rest.

A version is its previous manifest with these rendered again: the bounded documents (the
index, ``/history``, the v2 lists, the feeds: their size does not grow with the page's
age), the pages of each incident the writes touched or that shows a touched component,
the pages of incidents still changing with the clock, and the history quarters listing
any of those. A full build renders every incident; both give the same bytes
(tests/test_publish_incremental.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from heliograph.catalog.models import Page, Touch
from heliograph.publish import feeds, html, quarters, v2json
from heliograph.publish.export import blob_folder, export
from heliograph.publish.manifest import Manifest, blob_name, etag_of
from heliograph.publish.models import Snapshot
from heliograph.publish.scope import bounded_ids, public_ids, showing
from heliograph.publish.snapshots import Known, load_manifest, save_snapshot, store_blobs
from heliograph.publish.world import IncidentCache, World, load_incidents, load_world

log = logging.getLogger(__name__)
CHUNK = 500  # incidents rendered (and their bodies stored) at a time in a full build


@dataclass
class Touched:
    """Incidents whose pages the writes since the last version changed."""

    incidents: set[str] = field(default_factory=set)  # their pages, and their quarters
    shown: set[str] = field(default_factory=set)  # listing a component that changed
    json_only: set[str] = field(default_factory=set)  # ... whose status only changed


class Sink:
    """Collects a version's artifacts; stores each new body once, a chunk at a time."""

    def __init__(self, page_id: str, base: Manifest | None) -> None:
        self.page_id = page_id
        self.manifest = base.copy() if base else Manifest(renderers=renderers())
        self.manifest.renderers = renderers()
        self.pending: dict[str, bytes] = {}

    def put(self, path: str, content_type: str, body: bytes) -> None:
        etag = etag_of(body)
        self.manifest.paths[path] = (etag, content_type)
        self.pending[blob_name(etag)] = body
        if len(self.pending) >= CHUNK:
            self.flush()

    def drop(self, path: str) -> None:
        self.manifest.paths.pop(path, None)

    def flush(self) -> None:
        zipped = store_blobs(self.page_id, self.pending)  # gzip forms of the new bodies
        folder = blob_folder(self.page_id)
        for name, body in self.pending.items():
            folder.write(name, body, zipped.get(name))
        self.pending = {}


def renderers() -> str:
    """A fingerprint of the code and settings behind every artifact: an upgrade, or a new
    base URL, rebuilds every page in full."""
    return f"{_code()}:{settings.BASE_URL}"


@cache
def _code() -> str:
    digest = hashlib.blake2b(digest_size=8)
    package = Path(__file__).parent.parent
    for source in sorted([*package.rglob("*.py"), *package.rglob("templates/publish/*.html")]):
        digest.update(source.read_bytes())
    return digest.hexdigest()


_published: dict[str, Known] = {}  # the version each page was last published at, here
_incidents: dict[str, IncidentCache] = {}  # what that publish loaded


def publish_page(page: Page, full: bool = False, now: datetime | None = None) -> Known | None:
    """Publish the page's current version unless a snapshot of it already exists."""
    started = time.monotonic()
    version = Page.objects.values_list("version", flat=True).get(pk=page.pk)
    if Snapshot.objects.filter(page=page, version__gte=version).exists():
        return None
    # The writes first, then the version they go on from: a write whose mark another
    # publisher has cleared is in that publisher's snapshot, the newest one.
    touches = list(Touch.objects.filter(page=page).values_list("pk", "kind", "ref"))
    known = None if full else load_manifest(page.pk, known=_published.get(page.pk))
    touched = touched_by(page, touches)
    if known is None or known.manifest.renderers != renderers() or touched is None:
        known, touched = None, None
    cache = _reusable(page.pk, known, touched)
    # Rendered outside the write transaction so writers never wait on rendering; if the
    # data moved on meanwhile, the version did too and the next pass renders again.
    base = known.manifest if known else None
    sink = render_version(page, now or timezone.now(), base, touched, cache)
    saved = save_snapshot(page, version, sink.manifest, known, [pk for pk, _, _ in touches])
    if saved is None:
        return None
    _published[page.pk] = saved
    _incidents[page.pk] = cache.next() if cache else IncidentCache()
    try:
        export(page.pk, version, sink.manifest)
    except OSError as exc:  # the nodes serve it all the same; nginx's fallback waits
        log.error("could not export %s version %s: %s", page.name, version, exc)
    log.info(
        "published %s version %s (%s, %d artifacts) in %.2f s",
        page.name,
        version,
        "in full" if touched is None else "what changed",
        len(sink.manifest.paths),
        time.monotonic() - started,
    )
    return saved


def _reusable(page_id: str, known: Known | None, touched: Touched | None) -> IncidentCache | None:
    """The incidents this process's last publish of the page loaded, less those touched
    since; an empty cache when another process published since (its writes' marks are
    gone); none for a full build, which reads every incident once."""
    cache = _incidents.pop(page_id, None)
    if touched is None:
        return None
    if cache is None or known is not _published.get(page_id):
        return IncidentCache()
    cache.forget(touched.incidents)
    return cache


def touched_by(page: Page, touches: Iterable[tuple[int, str, str]]) -> Touched | None:
    """Which incidents' pages the marked writes change; None: every page may have."""
    by_kind: dict[str, set[str]] = {}
    for _, kind, ref in touches:
        by_kind.setdefault(kind, set()).add(ref)
    if Touch.PAGE in by_kind:
        return None
    groups = by_kind.get("componentgroup", set())
    components = by_kind.get("component", set()) | set(
        page.components.filter(group_id__in=groups).values_list("pk", flat=True)
    )
    shown = showing(page, components)
    statuses = showing(page, by_kind.get("status", set())) - shown
    return Touched(by_kind.get("incident", set()), shown, statuses)


def render_version(
    page: Page,
    now: datetime,
    base: Manifest | None,
    touched: Touched | None,
    cache: IncidentCache | None = None,
) -> Sink:
    """Every artifact of the version into a sink; ``touched`` None renders in full."""
    world = load_world(page, now, incident_ids=bounded_ids(page, now), cache=cache)
    sink = Sink(page.pk, base)
    before = dict(sink.manifest.quarters)
    if touched is None:
        render_incidents(world, sink, public_ids(page), cache)
        dirty = set(sink.manifest.quarters.values())
    else:
        live = set(sink.manifest.live)
        again = touched.incidents | touched.shown | live
        render_incidents(world, sink, again, cache)
        render_incidents(world, sink, touched.json_only - again, cache, html_too=False)
        # Lists show an open impact as "ongoing": only the touched move their quarters.
        dirty = {q for q in map(before.get, touched.incidents) if q}
        dirty |= {q for q in map(sink.manifest.quarters.get, touched.incidents) if q}
    dirty |= quarters.changed_neighbours(before.values(), sink.manifest.quarters.values())
    render_quarters(world, sink, dirty, cache)
    render_bounded(world, sink)
    sink.flush()
    return sink


def render_incidents(
    world: World, sink: Sink, ids: set[str], cache: IncidentCache | None, html_too: bool = True
) -> None:
    """The pages of these incidents; those no longer public lose theirs."""
    manifest = sink.manifest
    ordered, gone = sorted(ids), set[str]()
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        found = load_incidents(world.page, chunk, cache)
        part = replace(world, incidents=found)
        for incident in found:
            if html_too:
                body = html.render_incident(part, incident)
                sink.put(f"/incidents/{incident.pk}", html.CONTENT_TYPE, body)
                manifest.quarters[incident.pk] = quarters.quarter_of(incident.started_at, part.zone)
                if any(w.end is None for w in part.windows(incident)):
                    manifest.live.add(incident.pk)
                else:
                    manifest.live.discard(incident.pk)
            body = v2json.render_incident(part, incident)
            sink.put(v2json.incident_path(incident.pk), v2json.CONTENT_TYPE, body)
        gone |= set(chunk) - {i.pk for i in found}
    for incident_id in gone:
        sink.drop(f"/incidents/{incident_id}")
        sink.drop(v2json.incident_path(incident_id))
        manifest.quarters.pop(incident_id, None)
        manifest.live.discard(incident_id)


def render_quarters(world: World, sink: Sink, keys: set[str], cache: IncidentCache | None) -> None:
    listed = sink.manifest.quarters
    for key in sorted(keys):
        members = [i for i, q in listed.items() if q == key]
        if not members:
            sink.drop(quarters.path(key))
            continue
        part = replace(world, incidents=load_incidents(world.page, members, cache, True))
        body = html.render_history(part, key, part.incidents, listed.values())
        sink.put(quarters.path(key), html.CONTENT_TYPE, body)


def render_bounded(world: World, sink: Sink) -> None:
    """The documents rendered again for every version; each lists a bounded number."""
    rendered = {
        **html.render_bounded(world),
        **v2json.render_bounded(world),
        **feeds.render(world),
    }
    for path in sink.manifest.bounded - rendered.keys() - {"/history"}:
        sink.drop(path)
    for path, (content_type, body) in rendered.items():
        sink.put(path, content_type, body)
    # /history is the newest quarter's page up to now: the same body, not rendered again.
    listed = sink.manifest.quarters
    key = quarters.latest(listed.values(), quarters.quarter_of(world.now, world.zone))
    latest = sink.manifest.paths.get(quarters.path(key))
    if latest is None:  # none up to now
        empty = html.render_history(world, key, [], listed.values())
        sink.put("/history", html.CONTENT_TYPE, empty)
    else:
        sink.manifest.paths["/history"] = latest
    sink.manifest.bounded = {*rendered, "/history"}
