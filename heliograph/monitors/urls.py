"""The monitors' Django URLs: ``/metrics`` (Prometheus), reached through publish.readpath."""

from django.urls import URLPattern, path

from heliograph.monitors import views

app_name = "monitors"
urlpatterns: list[URLPattern] = [path("metrics", views.metrics, name="metrics")]
