from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "heliograph.notify"
    label = "notify"

    def ready(self) -> None:
        from heliograph.notify import system_checks  # noqa: F401  (registers the checks)
