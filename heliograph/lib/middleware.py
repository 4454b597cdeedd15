"""Request checks every Django view shares."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

NUL_REFUSED = "The request contains a NUL character, which no field may hold."


def refuse_nul_characters(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A 400 for a NUL in the path, the query or a form field: PostgreSQL cannot store one,
    and a view that passes it on would answer 500 there (SQLite takes it silently)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            return _refusal(request.path)
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


def _refusal(path: str) -> HttpResponse:
    if path.startswith("/v1/"):  # the Manage API's error shape
        return JsonResponse({"message": NUL_REFUSED}, status=400)
    if path.startswith("/api/"):  # the public API's
        return JsonResponse({"error": NUL_REFUSED}, status=400)
    return HttpResponse(NUL_REFUSED + "\n", status=400, content_type="text/plain")
