from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "heliograph.audit"
    label = "audit"
