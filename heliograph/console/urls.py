"""The responders' console (session auth, CSRF)."""

from django.urls import URLPattern

app_name = "console"
urlpatterns: list[URLPattern] = []
