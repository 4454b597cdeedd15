"""Django's URLs: everything public is served from snapshots before Django (publish.wsgi)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
