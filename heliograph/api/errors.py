"""Every error the Manage API returns is ``{"message": ...}`` with a 4xx status.

Statuspage clients read ``message``; ninja's own errors (``{"detail": ...}``) and Django's
HTML 404/405/500 pages are turned into that shape here, so no client ever sees a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError

from heliograph.lib import outage
from heliograph.lib.errors import InputError
from heliograph.lib.middleware import TOO_MUCH, refuse_too_much

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = logging.getLogger(__name__)
# Where ninja says an error came from, and the handlers' own argument names: noise to a client.
_SOURCES = ("body", "query", "path", "data", "paging", "dates")


class RateLimited(HttpError):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(429, "Rate limit exceeded: retry after the delay in Retry-After")


def not_found(what: str) -> Http404:
    return Http404(f"The requested {what} could not be found.")


def message(status: int, text: str) -> JsonResponse:
    return JsonResponse({"message": text}, status=status)


def describe(errors: list[dict[str, Any]]) -> str:
    """``incident.status: Input should be 'investigating', ...`` from pydantic's error list."""
    parts = []
    for error in errors[:5]:
        where = [str(p) for p in error.get("loc", ()) if p not in _SOURCES]
        parts.append(f"{'.'.join(where) or 'request'}: {error.get('msg', 'is invalid')}")
    return "; ".join(parts) or "The request is invalid."


def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return message(422, describe(exc.errors))


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc, AuthenticationError):
        return message(401, "Could not authenticate: send Authorization: OAuth <api key>")
    response = message(exc.status_code, exc.message)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    text = str(exc) if str(exc).startswith("The requested") else ""
    return message(404, text or "The requested resource could not be found.")


def _input_error(request: HttpRequest, exc: InputError) -> HttpResponse:
    return message(422, str(exc))


def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    if isinstance(exc, TOO_MUCH):  # a body too large: said without naming Django's settings
        return refuse_too_much(request, exc)
    return message(400, f"Bad request: {exc}")


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A bug, not bad input: logged with its traceback, answered without one.
    logger.exception("Manage API error on %s %s", request.method, request.path)
    return message(500, "Internal error; it has been logged.")


def install(api: NinjaAPI) -> None:
    handlers: dict[type[Exception], Callable[..., HttpResponse]] = {
        Exception: _unexpected,
        Http404: _not_found,
        HttpError: _http_error,
        ValidationError: _validation,
        InputError: _input_error,
        SuspiciousOperation: _suspicious,
        DatabaseError: outage.refuse,
    }
    for exc_class, handler in handlers.items():
        api.add_exception_handler(exc_class, handler)


def route_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any /v1/ path no route matches."""
    return message(404, "The requested resource could not be found.")


def json_method_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Ninja answers an unsupported method with a plain-text 405; give it a message."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and "json" not in response.get("Content-Type", ""):
            allowed = response.get("Allow", "")
            out = message(405, f"Method {request.method} is not allowed here (allowed: {allowed})")
            out["Allow"] = allowed
            return out
        return response

    for attr in ("csrf_exempt",):
        if hasattr(view, attr):
            setattr(wrapped, attr, getattr(view, attr))
    return wrapped
