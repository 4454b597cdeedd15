"""What a request that needs the database gets while the database is away: a 503."""

from __future__ import annotations

import json
import logging
import sys

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.defaults import server_error as django_server_error

from heliograph.lib.db import guard

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
MESSAGE = (
    "Heliograph cannot reach its database right now, so nothing was changed. "
    "The public status page is still being served. Please try again in a minute."
)


def refusal(path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of the 503, in the shape each part of the site speaks."""
    if path.startswith(("/v1/", "/api/")):
        content_type, body = "application/json", json.dumps({"message": MESSAGE}).encode()
    else:
        content_type, body = "text/plain; charset=utf-8", (MESSAGE + "\n").encode()
    headers = [
        ("Content-Type", content_type),
        ("Retry-After", str(RETRY_AFTER_SECONDS)),
        ("Cache-Control", "no-store"),
    ]
    if path.startswith("/api/"):
        headers.append(("Access-Control-Allow-Origin", "*"))
    return 503, headers, body


def refusal_response(path: str) -> HttpResponse:
    status, headers, body = refusal(path)
    response = HttpResponse(body, status=status)
    for name, value in headers:
        response[name] = value
    response._has_been_logged = True  # type: ignore[attr-defined]  # by us, in one line
    return response


class DatabaseOutageMiddleware:
    """A view that fails on the database answers 503 with one log line, not a 500."""

    def __init__(self, get_response: object) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Requests that queued for a thread while the database went away need not wait.
        if guard.database_state() == "unreachable":
            return refusal_response(request.path)
        return self.get_response(request)  # type: ignore[operator,no-any-return]

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        return refuse(request, exc) if isinstance(exc, DatabaseError) else None


def refuse(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
    log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
    return refusal_response(request.path)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's last resort (handler500): a database failure outside a view is a 503 too."""
    if isinstance(sys.exc_info()[1], DatabaseError):
        return refusal_response(request.path)
    return django_server_error(request)
