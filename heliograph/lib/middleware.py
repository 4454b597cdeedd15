"""Request checks every Django view shares, and the answer to a request too large to read."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from heliograph.lib import cors

NUL_REFUSED = "The request contains a NUL character, which no field may hold."
# Django's refusals of a body it will not read; their own text names settings.
TOO_MUCH = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)
logger = logging.getLogger("heliograph.requests")


def refuse_nul_characters(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A 400 for a NUL in the path, the query or a form field: PostgreSQL cannot store one,
    and a view that passes it on would answer 500 there (SQLite takes it silently)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            return refusal(request.path, NUL_REFUSED)
        return get_response(request)

    return middleware


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    forms = [request.GET]
    # The Manage API reads its own body (and checks each field); reading the form here
    # would use up a multipart body before it does.
    if request.method == "POST" and not request.path.startswith("/v1/"):
        forms.append(request.POST)
    return any(
        "\x00" in text for form in forms for key, values in form.lists() for text in (key, *values)
    )


def refusal(path: str, text: str, status: int = 400) -> HttpResponse:
    """``text`` in the error shape of the part of the site ``path`` belongs to."""
    if path.startswith("/v1/"):  # the Manage API's error shape
        return JsonResponse({"message": text}, status=status)
    if path.startswith("/api/"):  # the public API's, readable by other sites' scripts
        response = JsonResponse({"error": text}, status=status)
        for name, value in cors.SIMPLE:
            response[name] = value
        return response
    return HttpResponse(text + "\n", status=status, content_type="text/plain")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's ``handler400``: what it would answer, except for a body too large to read."""
    if isinstance(exception, TOO_MUCH):
        return refuse_too_much(request, exception)
    return defaults.bad_request(request, exception)


def refuse_too_much(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A 400 saying what was too much in words, logged as one warning line: the client's
    mistake (or probe), not ours, so no traceback."""
    text = too_much(exception)
    logger.warning(
        "Refused %s %s from %s: %s",
        request.method,
        request.path,
        request.META.get("REMOTE_ADDR", "?"),
        text,
    )
    response = refusal(request.path, text)
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django logs it otherwise
    return response


def too_much(exception: Exception) -> str:
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        return f"The request is too large: this server accepts at most {limit / 2**20:g} MB."
    if isinstance(exception, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES or 0
        return f"The request sends too many files: this server accepts at most {limit:,}."
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS or 0
    return f"The request has too many fields: this server accepts at most {limit:,}."
