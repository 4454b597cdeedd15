"""Manage API v1, Statuspage compatible (``/v1/``), plus Heliograph's extensions."""

from ninja import NinjaAPI

api = NinjaAPI(title="Heliograph Manage API", version="1.0.0", urls_namespace="v1")
