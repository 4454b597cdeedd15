"""Console login throttling, with django-axes: failed logins are counted in the database
(so every process and node shares them) per username and, separately, per client address.

axes does the counting and the refusing; this module tells it who the client is, and
tells the user how long the lock has left.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta

from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from heliograph.lib import networks
from heliograph.lib.netguard import trusted_proxies


def client_address(request: HttpRequest) -> str | None:
    """The visitor behind nginx (``HELIOGRAPH_TRUSTED_PROXIES``), as for subscribing:
    without it every failure would count against the proxy, and lock everyone out."""
    remote = request.META.get("REMOTE_ADDR", "")
    address = networks.client_address(
        remote, request.META.get("HTTP_X_FORWARDED_FOR", ""), trusted_proxies()
    )
    try:  # axes stores an IP address; anything else the client claims is not one
        return str(ipaddress.ip_address(address))
    except ValueError:
        return remote or None


def lock_ends(request: HttpRequest, credentials: dict[str, str] | None) -> datetime:
    """When the latest-ending lock on this username or this address lifts."""
    now = timezone.now()
    cool_off: timedelta = settings.AXES_COOLOFF_TIME
    username = get_client_username(request, credentials)
    address = getattr(request, "axes_ip_address", None) or client_address(request)
    ends = [
        _lock_end(AccessAttempt.objects.filter(**match), now - cool_off)
        for match in ({"username": username}, {"ip_address": address})
    ]
    return max((end + cool_off for end in ends if end), default=now + cool_off)


def _lock_end(attempts: QuerySet[AccessAttempt], since: datetime) -> datetime | None:
    """axes counts the failures of the last cool-off period: the lock lifts a cool-off after
    the newest failure that, with the ones after it, still reaches the limit."""
    counted = 0
    for at, failures in (
        attempts.filter(attempt_time__gte=since)
        .order_by("-attempt_time")
        .values_list("attempt_time", "failures_since_start")
    ):
        counted += failures
        if counted >= settings.AXES_FAILURE_LIMIT:
            return at
    return None


def lockout_message(request: HttpRequest, credentials: dict[str, str] | None) -> str:
    seconds = (lock_ends(request, credentials) - timezone.now()).total_seconds()
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many failed attempts; try again in {minutes} minute{'s' * (minutes != 1)}."
