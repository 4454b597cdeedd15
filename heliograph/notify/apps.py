from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "heliograph.notify"
    label = "notify"

    def ready(self) -> None:
        from heliograph.incidents import maintenance
        from heliograph.lib import events
        from heliograph.notify import hooks, system_checks  # noqa: F401  (registers the checks)

        # Due maintenance reminders become notifications (queued in the same transaction).
        if hooks.remind not in maintenance.REMINDER_HOOKS:
            maintenance.REMINDER_HOOKS.append(hooks.remind)

        # Changes that concern subscribers write a Notification in their own transaction.
        events.connect(events.INCIDENT_UPDATE, hooks.on_incident_update)
        events.connect(events.POSTMORTEM_PUBLISHED, hooks.on_postmortem_published)
        events.connect(events.COMPONENT_STATUS, hooks.on_component_status)
