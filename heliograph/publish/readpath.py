"""The public read path: public URLs answered from the in-memory snapshot.

No middleware, no query, no thread: the request is matched against the current snapshot
and the stored bytes go out with ETag/304, caching, CORS and HEAD; the gzip form stored
with a body (compressed once, at publish) to clients that accept it. Each answer's
headers are built once per published version, not per request. Everything else (the console,
the Manage API, subscribing) is Django's, and ``answer`` returns None for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from heliograph.lib import cors
from heliograph.publish.encoding import MIN_SIZE, accepts_gzip, gzip_etag, gzip_of
from heliograph.publish.manifest import Entry, blob_name
from heliograph.publish.store import Site, SnapshotStore

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
# Before the first page is published: a page a visitor can read, and the owner's way in.
NOT_YET = (
    b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
    b'<meta name="viewport" content="width=device-width,initial-scale=1">'
    b"<title>Status page not set up yet</title></head>\n<body><main>"
    b"<h1>This status page is not set up yet</h1>"
    b"<p>Please check back soon.</p>"
    b'<p>Setting it up? <a href="/console/">Open the console</a> to create the page.</p>'
    b"</main></body></html>\n"
)

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class Prepared:
    """An entry's 200, 304 and HEAD answers, ready to send; ``gzip``: the same for its
    gzip form, when it has one."""

    etag: str
    ok: Answer
    not_modified: Answer
    head: Answer
    gzip: Prepared | None = None


CANNOT_VOUCH = Answer(
    503,
    [("Content-Type", "text/plain"), ("Cache-Control", "no-store")],
    b"This node cannot reach the database, so it cannot vouch that its copy is current.\n",
)


UNAVAILABLE = Answer(
    503,
    [("Content-Type", "text/plain"), ("Cache-Control", "no-store"), ("Retry-After", "5")],
    b"This page cannot be read on this node right now. Try again in a few seconds.\n",
)
KEEP_RECENT = 512  # answers read from disk kept in memory per page


def normalize(path: str) -> str:
    if path.endswith("/index.html"):
        path = path[: -len("index.html")]
    return path.rstrip("/") or "/"


class ReadPath:
    def __init__(self, store: SnapshotStore, django_prefixes: tuple[str, ...] = ()) -> None:
        self.store = store
        self.django_prefixes = django_prefixes  # paths Django answers (``urls.django_prefixes``)

    def answer(
        self,
        method: str,
        path: str,
        host: str,
        if_none_match: str,
        fresh: bool = False,
        accept_encoding: str = "",
    ) -> Answer | None:
        """The answer to a public request; None when the path is Django's.

        ``fresh``: the balancer asks only for what this node can vouch is current; a node
        cut off from the database says 503, so the balancer asks another (or its disk)."""
        if path.startswith(self.django_prefixes):
            return None
        if fresh and not self.store.vouches():
            return CANNOT_VOUCH
        site = self.store.site_for(host)
        if method == "GET" or method == "HEAD":
            if site is None:
                headers = [*common(site), ("Retry-After", "30")]
                return _with_body(503, headers, "text/html; charset=utf-8", NOT_YET, method)
            try:
                prepared = _prepared(site, normalize(path))
            except OSError:  # its body went missing from this node's disk
                return UNAVAILABLE
            if prepared is None:
                return not_found(site, path, method)
            chosen = prepared
            if prepared.gzip is not None and accepts_gzip(accept_encoding):
                chosen = prepared.gzip
            if if_none_match and (held := _held(prepared, chosen, if_none_match)) is not None:
                return held.not_modified
            return chosen.ok if method == "GET" else chosen.head
        if method == "OPTIONS":
            return Answer(204, [*cors.preflight(READ_METHODS), *_protections(site)], b"")
        return not_allowed(path, site)


def _held(prepared: Prepared, chosen: Prepared, if_none_match: str) -> Prepared | None:
    """The form whose ETag the client sent: both are current, so either gets its 304
    (a cache holding the other form keeps using it)."""
    if chosen.etag in if_none_match or if_none_match.strip() == "*":
        return chosen
    other = prepared.gzip if chosen is prepared else prepared
    return other if other is not None and other.etag in if_none_match else None


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
    prepared = site.prepared[path] = _prepare(entry, entry.body, entry.gzipped, site)
    return prepared  # (threads agree)


def _from_disk(site: Site, path: str, entry: Entry) -> Prepared:
    assert site.folder is not None
    name = blob_name(entry.etag)
    body = site.folder.read(name)  # OSError: answered 503 by ``answer``
    prepared = _prepare(entry, body, site.folder.gzipped(name), site)
    site.recent[path] = prepared
    while len(site.recent) > KEEP_RECENT:
        site.recent.popitem(last=False)
    return prepared


def _prepare(entry: Entry, body: bytes, zipped: bytes | None, site: Site) -> Prepared:
    headers = [*common(site), ("X-Heliograph-Version", str(site.version))]
    if zipped is None and len(body) >= MIN_SIZE:  # a body stored before bodies had a form
        zipped = gzip_of(body)
    if zipped is None:
        return _answers(entry.etag, headers, [("Content-Type", entry.content_type)], body)
    headers.append(("Vary", "Accept-Encoding"))
    gzip = _answers(
        gzip_etag(entry.etag),
        headers,
        [("Content-Type", entry.content_type), ("Content-Encoding", "gzip")],
        zipped,
    )
    plain = _answers(entry.etag, headers, [("Content-Type", entry.content_type)], body)
    return replace(plain, gzip=gzip)


def _answers(etag: str, headers: Headers, content: Headers, body: bytes) -> Prepared:
    """200, 304 and HEAD with these headers; ``content``: those of the body, not in a 304."""
    headers = [*headers, ("ETag", etag)]
    # Granian adds Content-Length to a body; HEAD has none, so it states the GET's.
    ok = Answer(200, [*headers, *content], body)
    head = Answer(200, [*headers, *content, ("Content-Length", str(len(body)))], b"")
    return Prepared(etag, ok, Answer(304, headers, b""), head)


def common(site: Site | None) -> Headers:
    return [*cors.SIMPLE, *_protections(site)]


def _protections(site: Site | None) -> Headers:
    ancestors = "*" if site is not None and site.embeddable else "'none'"
    return [
        *SECURITY,
        ("Cache-Control", CACHE_CONTROL),
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY.format(ancestors=ancestors)),
    ]


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
