"""CORS for the public API v2, the same on every path: the read path (snapshots) and
Django's ``POST /api/v2/subscribers.json`` both take their header values from here.

Anyone's page may call the public API from a browser (Statuspage widgets do), so the
origin is ``*``; no cookie or credential is ever honoured across origins.
"""

from __future__ import annotations

ALLOW_ORIGIN = "*"
# What a browser may send: what widgets and fetch() wrappers commonly add.
ALLOW_HEADERS = "Accept, Authorization, Content-Type, If-Modified-Since, If-None-Match"
EXPOSE_HEADERS = "ETag"  # lets a script do its own If-None-Match revalidation
MAX_AGE = 86400  # seconds a browser may cache a preflight answer (browsers cap it lower)

Headers = list[tuple[str, str]]


def response_headers() -> Headers:
    """For every answer, errors included: without them a script cannot read the error."""
    return [
        ("Access-Control-Allow-Origin", ALLOW_ORIGIN),
        ("Access-Control-Expose-Headers", EXPOSE_HEADERS),
    ]


def preflight_headers(methods: str) -> Headers:
    """For the 204 answer to ``OPTIONS``; ``methods`` as in ``Allow``, e.g. ``"POST, OPTIONS"``."""
    return [
        *response_headers(),
        ("Access-Control-Allow-Methods", methods),
        ("Access-Control-Allow-Headers", ALLOW_HEADERS),
        ("Access-Control-Max-Age", str(MAX_AGE)),
        ("Allow", methods),
    ]
