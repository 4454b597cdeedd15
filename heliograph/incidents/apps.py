from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "heliograph.incidents"
    label = "incidents"

    def ready(self) -> None:
        from heliograph.incidents import maintenance
        from heliograph.lib import events

        # A status set while a maintenance window holds the component: the window's after it.
        events.connect(events.COMPONENT_STATUS_RECORDED, maintenance.hold)
