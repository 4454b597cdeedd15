"""Start-up checks (``manage.py check``, and every command): mail and network settings.

A typo in ``HELIOGRAPH_SMTP_URL`` should stop the operator at start-up, not surface as
thousands of failed deliveries during an incident.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from heliograph.lib import netguard
from heliograph.notify import smtp_config


@checks.register()
def check_notify_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    for number, read in enumerate(
        (
            smtp_config.relays,
            smtp_config.mail_from,
            netguard.allowed_networks,
            netguard.trusted_proxies,
        ),
        start=1,
    ):
        try:
            read()
        except ImproperlyConfigured as exc:
            problems.append(checks.Error(str(exc), id=f"notify.E00{number}"))
    return problems
