from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "heliograph.incidents"
    label = "incidents"
