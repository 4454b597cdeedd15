from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "heliograph.runtime"
    label = "runtime"
