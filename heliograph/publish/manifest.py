"""What a published version holds: each public path's content, named by its hash.

Bodies live apart, stored once however many versions share them (content-addressed), so
a version costs the artifacts that changed plus this list. Pure code, no Django.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    content_type: str
    etag: str
    body: bytes | None  # None: kept on disk, read when asked for (publish.export)
    gzipped: bytes | None = None  # its gzip form, where it has one (publish.encoding)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def blob_name(etag: str) -> str:
    """The file (and row) a body is kept under: its ETag without the quotes."""
    return etag.strip('"')


@dataclass
class Manifest:
    # URL path -> (etag, content type)
    paths: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Incident id -> the history quarter listing it; which incidents have pages.
    quarters: dict[str, str] = field(default_factory=dict)
    # Incidents whose pages change with the clock (an impact window still open).
    live: set[str] = field(default_factory=set)
    # Paths rendered again for every version (the index, the v2 lists, the feeds).
    bounded: set[str] = field(default_factory=set)
    # The renderers' fingerprint: a manifest from other renderers is rebuilt in full.
    renderers: str = ""

    def copy(self) -> Manifest:
        return Manifest(
            dict(self.paths),
            dict(self.quarters),
            set(self.live),
            set(self.bounded),
            self.renderers,
        )

    def blob_names(self) -> set[str]:
        return {blob_name(etag) for etag, _ in self.paths.values()}

    def changed_since(self, other: Manifest | None) -> dict[str, tuple[str, str]]:
        """The paths whose content differs from ``other`` (all of them without one)."""
        if other is None:
            return dict(self.paths)
        before = other.paths
        return {path: entry for path, entry in self.paths.items() if before.get(path) != entry}

    def dumps(self, base: Manifest | None = None) -> bytes:
        """Compact: a path's type only where its name does not tell it; with ``base``,
        only what differs from it (``loads`` with the same base reads it back)."""
        paths = self.changed_since(base)
        quarters = self.quarters
        if base is not None:
            quarters = {i: q for i, q in quarters.items() if base.quarters.get(i) != q}
        document = {
            "paths": {path: blob_name(etag) for path, (etag, _) in paths.items()},
            "types": {p: kind for p, (_, kind) in paths.items() if kind != _type_of(p)},
            "removed": sorted(base.paths.keys() - self.paths.keys()) if base else [],
            "quarters": quarters,
            "unlisted": sorted(base.quarters.keys() - self.quarters.keys()) if base else [],
            "live": sorted(self.live),
            "bounded": sorted(self.bounded),
            "renderers": self.renderers,
        }
        return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)

    @classmethod
    def loads(cls, data: bytes, base: Manifest | None = None) -> Manifest:
        document = json.loads(zlib.decompress(data))
        types = document["types"]
        manifest = base.copy() if base else cls()
        for path in document["removed"]:
            manifest.paths.pop(path, None)
        for path, name in document["paths"].items():
            manifest.paths[path] = (f'"{name}"', types.get(path) or _type_of(path))
        for incident_id in document["unlisted"]:
            manifest.quarters.pop(incident_id, None)
        manifest.quarters.update(document["quarters"])
        manifest.live, manifest.bounded = set(document["live"]), set(document["bounded"])
        manifest.renderers = document["renderers"]
        return manifest


_TYPES = {
    "json": "application/json",
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
}


def _type_of(path: str) -> str:
    """What a path's content type usually is (stored only where it is not)."""
    return _TYPES.get(path.rsplit(".", 1)[-1], "text/html; charset=utf-8")


def export_file_path(url_path: str) -> str:
    """Where nginx finds an artifact: directories hold index.html, files keep their name."""
    trimmed = url_path.strip("/")
    if not trimmed:
        return "index.html"
    return trimmed if "." in trimmed.rsplit("/", 1)[-1] else f"{trimmed}/index.html"
