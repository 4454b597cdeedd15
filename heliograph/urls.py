"""Django's URLs: everything public is served from snapshots before Django (publish.readpath)."""

from django.urls import include, path

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
