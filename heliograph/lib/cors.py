"""CORS for the public API: any site's script may read the status (as on Statuspage)."""

from __future__ import annotations

ALLOW_HEADERS = (
    "Accept, Authorization, Cache-Control, Content-Type, If-None-Match, X-Requested-With"
)
MAX_AGE = "86400"
EXPOSE_HEADERS = "ETag"
SIMPLE = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", EXPOSE_HEADERS)]


def preflight(methods: str) -> list[tuple[str, str]]:
    """The headers of a preflight answer for a resource that allows ``methods``."""
    return [
        *SIMPLE,
        ("Access-Control-Allow-Methods", methods),
        ("Access-Control-Allow-Headers", ALLOW_HEADERS),
        ("Access-Control-Max-Age", MAX_AGE),
        ("Allow", methods),
    ]
