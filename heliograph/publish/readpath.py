"""The public read path: a thin WSGI layer that answers public URLs from memory.

No middleware, no query: the request is matched against the current snapshot and the
stored bytes go out with ETag/304, caching, CORS and HEAD. Everything else (the console,
the Manage API) falls through to Django.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from heliograph.publish.build import Entry
from heliograph.publish.store import Site, SnapshotStore

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

DJANGO_PREFIXES = (
    "/v1/", "/console", "/admin", "/accounts", "/metrics", "/static/",
    "/notify/", "/api/v2/subscribers.json",  # subscribing writes: heliograph.notify.views
)  # fmt: skip
CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=60, stale-if-error=86400"
COMMON = [("Access-Control-Allow-Origin", "*"), ("Cache-Control", CACHE_CONTROL)]
NOT_YET = b"No status page has been published yet. Create one: heliograph page create NAME\n"


def normalize(path: str) -> str:
    if path.endswith("/index.html"):
        path = path[: -len("index.html")]
    return path.rstrip("/") or "/"


class ReadPath:
    def __init__(self, django_app: WSGIApp, store: SnapshotStore | None = None) -> None:
        self.django_app = django_app
        if store is None:
            store = SnapshotStore(float(os.environ.get("HELIOGRAPH_POLL_INTERVAL", "0.5")))
            store.start()
        self.store = store

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path.startswith(DJANGO_PREFIXES):
            return self.django_app(environ, start_response)
        if path == "/healthz":
            return self.health(start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":
            start_response("204 No Content", [*COMMON, ("Allow", "GET, HEAD, OPTIONS")])
            return []
        if method not in ("GET", "HEAD"):
            return respond(start_response, "405 Method Not Allowed", "text/plain", b"Read only\n")
        head = method == "HEAD"
        site = self.store.site_for(environ.get("HTTP_HOST"))
        if site is None:
            body = respond(start_response, "503 Service Unavailable", "text/plain", NOT_YET)
            return [] if head else body
        entry = site.entries.get(normalize(path))
        if entry is None:
            body = not_found(site, path, start_response)
            return [] if head else body
        return serve(entry, site, environ, start_response, head=head)

    def health(self, start_response: StartResponse) -> list[bytes]:
        body = json.dumps({
            "database": "ok" if self.store.database_ok else "unreachable",
            "pages": {pid: site.version for pid, site in self.store.sites.items()},
        }).encode()  # fmt: skip
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        )
        return [body]


def serve(
    entry: Entry, site: Site, environ: dict[str, Any], start_response: StartResponse, head: bool
) -> list[bytes]:
    headers = [*COMMON, ("ETag", entry.etag), ("X-Heliograph-Version", str(site.version))]
    if entry.etag in environ.get("HTTP_IF_NONE_MATCH", ""):
        start_response("304 Not Modified", headers)
        return []
    headers += [("Content-Type", entry.content_type), ("Content-Length", str(len(entry.body)))]
    start_response("200 OK", headers)
    return [] if head else [entry.body]


def not_found(site: Site, path: str, start_response: StartResponse) -> list[bytes]:
    page = site.entries.get("/404.html")
    if path.startswith("/api/") or page is None:
        return respond(
            start_response, "404 Not Found", "application/json", b'{"error":"Not found"}'
        )
    return respond(start_response, "404 Not Found", page.content_type, page.body)


def respond(
    start_response: StartResponse, status: str, content_type: str, body: bytes
) -> list[bytes]:
    start_response(
        status, [*COMMON, ("Content-Type", content_type), ("Content-Length", str(len(body)))]
    )
    return [body]
