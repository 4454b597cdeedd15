from django.apps import AppConfig


class PublishConfig(AppConfig):
    name = "heliograph.publish"
    label = "publish"
