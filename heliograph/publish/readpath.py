"""The public read path: public URLs answered from the in-memory snapshot.

No middleware, no query, no thread: the request is matched against the current snapshot
and the stored bytes go out with ETag/304, caching, CORS and HEAD. Each answer's headers
are built once per published version, not per request. Everything else (the console,
the Manage API, subscribing) is Django's, and ``answer`` returns None for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from heliograph.lib import cors
from heliograph.publish.manifest import Entry, blob_name
from heliograph.publish.store import Site, SnapshotStore

DJANGO_PREFIXES = (
    "/v1/", "/console", "/admin", "/accounts", "/metrics", "/static/",
    "/notify/", "/api/v2/subscribers.json",  # subscribing writes: heliograph.notify.views
)  # fmt: skip
CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=60, stale-if-error=86400"
READ_METHODS = "GET, HEAD, OPTIONS"
# Public pages run no script; the inline <style> is theirs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
)
SECURITY = [
    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "strict-origin-when-cross-origin")
]  # fmt: skip
FRESH_HEADER = "x-heliograph-require-fresh"  # set by the balancer (deploy/nginx.conf)
NOT_YET = b"No status page has been published yet. Create one: heliograph page create NAME\n"

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class Prepared:
    """An entry's 200 and 304 answers, ready to send."""

    etag: str
    ok: Answer
    not_modified: Answer
    head: Answer


CANNOT_VOUCH = Answer(
    503, [("Content-Type", "text/plain"), ("Cache-Control", "no-store")],
    b"This node cannot reach the database, so it cannot vouch that its copy is current.\n",
)  # fmt: skip


UNAVAILABLE = Answer(
    503, [("Content-Type", "text/plain"), ("Cache-Control", "no-store"), ("Retry-After", "5")],
    b"This page cannot be read on this node right now. Try again in a few seconds.\n",
)  # fmt: skip
KEEP_RECENT = 512  # answers read from disk kept in memory per page


def normalize(path: str) -> str:
    if path.endswith("/index.html"):
        path = path[: -len("index.html")]
    return path.rstrip("/") or "/"


class ReadPath:
    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    def answer(
        self, method: str, path: str, host: str, if_none_match: str, fresh: bool = False
    ) -> Answer | None:
        """The answer to a public request; None when the path is Django's.

        ``fresh``: the balancer asks only for what this node can vouch is current; a node
        cut off from the database says 503, so the balancer asks another (or its disk)."""
        if path.startswith(DJANGO_PREFIXES):
            return None
        if fresh and not self.store.vouches():
            return CANNOT_VOUCH
        site = self.store.site_for(host)
        if method == "GET" or method == "HEAD":
            if site is None:
                return _with_body(503, common(site), "text/plain; charset=utf-8", NOT_YET, method)
            try:
                prepared = _prepared(site, normalize(path))
            except OSError:  # its body went missing from this node's disk
                return UNAVAILABLE
            if prepared is None:
                return not_found(site, path, method)
            if if_none_match and prepared.etag in if_none_match:
                return prepared.not_modified
            return prepared.ok if method == "GET" else prepared.head
        if method == "OPTIONS":
            return Answer(204, [*cors.preflight(READ_METHODS), *_protections(site)], b"")
        return not_allowed(path, site)


def _prepared(site: Site, path: str) -> Prepared | None:
    prepared: Prepared | None = site.prepared.get(path)
    if prepared is not None:
        return prepared
    if (recent := site.recent.get(path)) is not None:
        site.recent.move_to_end(path)
        return recent  # type: ignore[no-any-return]
    entry = site.entries.get(path)
    if entry is None:
        return None
    if entry.body is None:  # an old incident or quarter: on disk, kept while in demand
        return _from_disk(site, path, entry)
    prepared = site.prepared[path] = _prepare(entry, entry.body, site)  # threads agree
    return prepared


def _from_disk(site: Site, path: str, entry: Entry) -> Prepared:
    assert site.folder is not None
    body = site.folder.read(blob_name(entry.etag))  # OSError: answered 503 by ``answer``
    prepared = _prepare(entry, body, site)
    site.recent[path] = prepared
    while len(site.recent) > KEEP_RECENT:
        site.recent.popitem(last=False)
    return prepared


def _prepare(entry: Entry, body: bytes, site: Site) -> Prepared:
    headers = [*common(site), ("ETag", entry.etag), ("X-Heliograph-Version", str(site.version))]
    # Granian adds Content-Length to a body; HEAD has none, so it states the GET's.
    ok = Answer(200, [*headers, ("Content-Type", entry.content_type)], body)
    head = _with_body(200, headers, entry.content_type, body, "HEAD")
    return Prepared(entry.etag, ok, Answer(304, headers, b""), head)


def common(site: Site | None) -> Headers:
    return [*cors.SIMPLE, *_protections(site)]


def _protections(site: Site | None) -> Headers:
    ancestors = "*" if site is not None and site.embeddable else "'none'"
    return [
        *SECURITY, ("Cache-Control", CACHE_CONTROL),
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY.format(ancestors=ancestors)),
    ]  # fmt: skip


def not_found(site: Site, path: str, method: str) -> Answer:
    page = site.entries.get("/404.html")
    if path.startswith("/api/") or page is None or page.body is None:
        return _with_body(404, common(site), "application/json", b'{"error":"Not found"}', method)
    return _with_body(404, common(site), page.content_type, page.body, method)


def not_allowed(path: str, site: Site | None) -> Answer:
    """405: names what is allowed, and is never cached (the next request may be a GET)."""
    headers = [(name, value) for name, value in common(site) if name != "Cache-Control"] + [
        ("Allow", READ_METHODS),
        ("Cache-Control", "no-store"),
    ]
    if path.startswith("/api/"):
        return _with_body(405, headers, "application/json", b'{"error":"Read only"}', "GET")
    return _with_body(405, headers, "text/plain; charset=utf-8", b"Read only\n", "GET")


def _with_body(
    status: int, headers: list[tuple[str, str]], content_type: str, body: bytes, method: str
) -> Answer:
    headers = [*headers, ("Content-Type", content_type), ("Content-Length", str(len(body)))]
    return Answer(status, headers, b"" if method == "HEAD" else body)
