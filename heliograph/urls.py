"""Django's URLs: everything public is served from snapshots before Django (publish.readpath)."""

from django.urls import URLPattern, URLResolver, include, path

from heliograph.api.v1 import api

# A body too large to read: a plain 400 in each part's error shape, not Django's page.
handler400 = "heliograph.lib.middleware.bad_request"

urlpatterns = [
    path("v1/", api.urls),
    path("console/", include("heliograph.console.urls")),
    path("", include("heliograph.monitors.urls")),  # /metrics (Prometheus)
    path("", include("heliograph.notify.urls")),
]

handler500 = "heliograph.lib.outage.server_error"


def django_prefixes(patterns: list[URLPattern | URLResolver] | None = None) -> tuple[str, ...]:
    """Where Django answers, for the read path to leave alone: an include's own prefix
    ("/v1", "/console", "/notify"), or a route's path; includes without one are opened."""
    found: list[str] = []
    for entry in urlpatterns if patterns is None else patterns:
        route = str(entry.pattern).rstrip("/")
        if isinstance(entry, URLResolver) and not route:
            found += django_prefixes(entry.url_patterns)
        else:
            found.append(f"/{route}")
    return tuple(found)
