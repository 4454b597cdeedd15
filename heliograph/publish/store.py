"""Each web node's in-memory copy of the published snapshots, kept fresh by a thread.

Requests never query the database: a background thread polls for new snapshot versions
and swaps them in whole. When the database is unreachable the node keeps what it has (or,
at start-up, what the export folder holds).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import DatabaseError, close_old_connections, connection, connections
from django.db.models import Max

from heliograph.catalog.models import Page
from heliograph.lib.db import guard
from heliograph.publish.export import (
    BlobFolder,
    blob_folder,
    entries_of,
    export,
    read_export,
    read_sites,
    write_sites,
)
from heliograph.publish.manifest import Entry, Manifest, blob_name
from heliograph.publish.models import Snapshot
from heliograph.publish.snapshots import NOT_STORED, Known, load_manifest

log = logging.getLogger(__name__)

# A poll normally takes milliseconds. Past SLOW_AFTER the database is "slow"; past
# UNREACHABLE_AFTER (or on an error) "unreachable", and Django requests are refused at
# once rather than left to wait; the watchdog ends the poll at POLL_TIMEOUT (+ grace).
SLOW_AFTER = 1.0
UNREACHABLE_AFTER = 3.0
VOUCH_SLACK = 1.0  # seconds past a poll interval without news before a node steps aside
POLL_TIMEOUT = 2.5


@dataclass(frozen=True)
class Site:
    page_id: str
    version: int
    entries: dict[str, Entry]  # bodies of the bounded documents; the rest in ``folder``
    folder: BlobFolder | None = None
    known: Known | None = None  # its manifest, which the next version is compared with
    embeddable: bool = False  # may other sites show it in a frame
    # Answers encoded once per version (publish.readpath), filled as paths are asked for;
    # ``recent`` holds the last few read from disk (an incident page, a history quarter).
    prepared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    recent: OrderedDict[str, Any] = field(default_factory=OrderedDict, compare=False, repr=False)


def site_of(
    page_id: str,
    known: Known,
    progress: Callable[[], None] | None = None,
    previous: Site | None = None,
) -> Site:
    """A version as this node serves it, built on the ``previous`` one: what a write
    changed, not the page's whole history. With ``progress`` (called after each batch),
    bodies missing on disk come from the database first."""
    folder, manifest = blob_folder(page_id), known.manifest
    before = previous.known.manifest if previous and previous.known else None
    changed = manifest.changed_since(before)
    if progress is not None:
        folder.fill((blob_name(etag) for etag, _ in changed.values()), progress)
    kept = manifest.paths.keys() - changed.keys()
    entries = {path: previous.entries[path] for path in kept} if previous else {}
    entries.update(entries_of(Manifest(changed, bounded=manifest.bounded), folder))
    return Site(page_id, known.version, entries, folder, known)


@dataclass
class SnapshotStore:
    poll_interval: float = 0.5
    sites: dict[str, Site] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    default_page: str | None = None
    pages: list[tuple[str, str]] = field(default_factory=list)  # (id, domain), oldest first
    database_ok: bool = True  # until a poll says otherwise (one starts at once)
    _poll_started: float | None = None  # monotonic time of the poll under way
    _last_ok: float = -1e9  # monotonic time the last successful poll ended
    _thread: threading.Thread | None = None
    # Versions waiting for the export thread (the newest per page): linking a version's
    # files, thousands on a node's first, must not hold up the next poll.
    _unexported: dict[str, Known] = field(default_factory=dict)
    _export_wanted: threading.Condition = field(default_factory=threading.Condition)
    _exporting: bool = False

    def database_state(self) -> str:
        """``ok``, ``slow`` (a poll waits longer than it should) or ``unreachable``."""
        if self._poll_started is not None and self.database_ok:  # after a failure, until a
            waited = time.monotonic() - self._poll_started  # success: unreachable
            if waited > UNREACHABLE_AFTER:
                return "unreachable"
            if waited > SLOW_AFTER:
                return "slow"
        return "ok" if self.database_ok else "unreachable"

    def vouches(self) -> bool:
        """Whether this node can say its copy is current: it heard from the database a
        moment ago. A balancer asks only such nodes (deploy/nginx.conf)."""
        return time.monotonic() - self._last_ok < self.poll_interval + VOUCH_SLACK

    def site_for(self, host: str | None) -> Site | None:
        page_id = self.domains.get((host or "").split(":")[0].lower(), self.default_page)
        return self.sites.get(page_id) if page_id else None

    def refresh(self) -> None:
        """One poll: which pages exist, and load any newer snapshot."""
        pages = list(Page.objects.order_by("created_at").values_list("id", "domain"))
        latest = dict(
            Snapshot.objects.values_list("page").annotate(v=Max("version")).values_list("page", "v")
        )
        embeddable = set(Page.objects.filter(embeddable=True).values_list("id", flat=True))
        sites, new = dict(self.sites), []
        for page_id, version in latest.items():
            if page_id not in sites or sites[page_id].version < version:
                site = sites.get(page_id)
                loaded = load_manifest(page_id, version, site.known if site else None)
                if loaded is None:  # keep serving what it has; the next version may do
                    log.error(
                        "snapshot store: version %s of page %s is unreadable", version, page_id
                    )
                    continue
                sites[page_id] = site_of(page_id, loaded, self._progress, site)
                new.append(loaded)
            if sites[page_id].embeddable != (page_id in embeddable):
                sites[page_id] = replace(sites[page_id], embeddable=page_id in embeddable)
        if pages != self.pages:
            write_sites(pages)
        self._install(pages, sites)
        self.database_ok, self._last_ok = True, time.monotonic()
        for known in new:  # for an nginx next to this node
            self._export_soon(known)

    def load_export(self) -> None:
        """Start from the export folder: the last published state, no database needed."""
        pages = read_sites()
        sites = {}
        for page_id, _ in pages:
            exported = read_export(page_id)
            with contextlib.suppress(OSError, LookupError):
                if exported is not None:
                    version, manifest = exported
                    sites[page_id] = site_of(page_id, Known(page_id, version, NOT_STORED, manifest))
        self._install(pages, sites)

    def _install(self, pages: list[tuple[str, str]], sites: dict[str, Site]) -> None:
        self.pages = pages
        # Whole-object swaps: request threads see the old or the new state, never a mix.
        self.sites = {pid: site for pid, site in sites.items() if pid in dict(pages)}
        self.domains = {domain.lower(): pid for pid, domain in pages if domain}
        self.default_page = pages[0][0] if pages else None

    def _progress(self) -> None:
        """A long load (a node's first, fetching every body) is not a slow database."""
        self._poll_started = time.monotonic()

    def refresh_safely(self) -> None:
        self._poll_started = time.monotonic()
        was_ok = self.database_ok
        try:
            with guard.limit(POLL_TIMEOUT, probe=True):
                close_old_connections()
                self.refresh()
            if connection.vendor == "sqlite":
                connection.close()  # reopen each poll: notices a replaced or broken file
            if not was_ok:
                log.info("snapshot store: database reachable")
        except DatabaseError as exc:
            if was_ok or not self.sites:
                log.warning("snapshot store: database unreachable, serving what we have: %s", exc)
            self.database_ok = False
            with contextlib.suppress(DatabaseError):
                connections.close_all()
        except Exception:  # a full disk, a body missing: keep serving, try again next poll
            log.exception("snapshot store: could not load or export a new version")
        finally:
            self._poll_started = None

    def start(self) -> SnapshotStore:
        """Serve the export folder at once, then load and poll the database in the
        background: a node must come up even while the database hangs."""
        self.load_export()
        guard.watch_state(self.database_state)
        self.start_exporting()
        self._thread = threading.Thread(target=self._poll, name="snapshot-poll", daemon=True)
        self._thread.start()
        return self

    def start_exporting(self) -> None:
        """Export new versions from a thread of their own from now on."""
        self._exporting = True
        threading.Thread(target=self._export_loop, name="snapshot-export", daemon=True).start()

    def _export_soon(self, known: Known) -> None:
        if not self._exporting:  # not started (a command, a test): at once
            export(known.page_id, known.version, known.manifest)
            return
        with self._export_wanted:
            self._unexported[known.page_id] = known
            self._export_wanted.notify()

    def _export_loop(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        while True:
            with self._export_wanted:
                self._export_wanted.wait_for(lambda: bool(self._unexported))
                pending, self._unexported = self._unexported, {}
            for known in pending.values():
                try:
                    export(known.page_id, known.version, known.manifest)
                except Exception:  # a full disk: the next version tries again
                    log.exception("snapshot store: could not export version %s", known.version)

    def _poll(self) -> None:
        # Leave SIGINT/SIGTERM to the server's main thread, which must see them to stop.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        while True:
            self.refresh_safely()
            time.sleep(self.poll_interval)
