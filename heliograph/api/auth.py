"""API key authentication, Statuspage style, with scope, page restriction and rate limit.

The key comes as ``Authorization: OAuth <key>`` (Statuspage's form), ``Bearer <key>``, or
``?api_key=<key>``. Missing or unknown: 401. Known but its scope or page doesn't allow the
request: 403. Over the rate: 429 with Retry-After.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security.base import AuthBase

from heliograph.accounts.keys import authenticate
from heliograph.accounts.models import ApiKey
from heliograph.api.errors import RateLimited
from heliograph.lib import ratelimit

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_SCHEMES = ("oauth", "bearer", "token")


def raw_key(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() in _SCHEMES and value.strip():
            return value.strip()
        return None
    return request.GET.get("api_key") or None


class ApiKeyAuth(AuthBase):
    openapi_type = "apiKey"
    openapi_in = "header"
    openapi_name = "Authorization"
    openapi_description = "`OAuth <api key>` (or `Bearer <api key>`, or `?api_key=`)"

    def __call__(self, request: HttpRequest) -> ApiKey | None:
        raw = raw_key(request)
        key = authenticate(raw) if raw else None
        if key is None:
            return None  # ninja answers 401
        wait = ratelimit.take(key.pk)
        if wait:
            raise RateLimited(wait)
        check_allowed(key, request)
        return key


def check_allowed(key: ApiKey, request: HttpRequest) -> None:
    write = request.method not in SAFE_METHODS
    match = request.resolver_match
    page_id = match.kwargs.get("page_id") if match else None
    if page_id is None:
        if write and key.scope != ApiKey.WRITE:
            raise HttpError(403, "This API key is read-only")
        return
    if key.allows(page_id=page_id, write=write):
        return
    if key.page_id and key.page_id != page_id:
        raise HttpError(403, "This API key is restricted to another page")
    raise HttpError(403, "This API key is read-only")


def actor(request: HttpRequest) -> str:
    """How the audit log names whoever made the request."""
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    return f"key:{key.name}"
