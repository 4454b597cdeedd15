from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "heliograph.catalog"
    label = "catalog"
