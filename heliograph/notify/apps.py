from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "heliograph.notify"
    label = "notify"

    def ready(self) -> None:
        from heliograph.incidents import maintenance
        from heliograph.notify import hooks, system_checks  # noqa: F401  (registers the checks)

        # Due maintenance reminders become notifications (queued in the same transaction).
        if hooks.remind not in maintenance.REMINDER_HOOKS:
            maintenance.REMINDER_HOOKS.append(hooks.remind)
