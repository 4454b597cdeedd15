from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "heliograph.accounts"
    label = "accounts"
