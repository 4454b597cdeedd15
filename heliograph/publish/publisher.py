"""The publisher: renders a snapshot whenever a page's version moves ahead of it."""

from __future__ import annotations

import threading

from django.db import connection
from django.db.models import F, Max, Q

from heliograph.catalog.models import Page
from heliograph.lib.loop import run_until_stopped
from heliograph.publish.build import publish_page, write_sites

LOCK_KEY = 0x48_656C_696F  # "Helio": one publisher at a time across PostgreSQL nodes


def stale_pages() -> list[Page]:
    return list(
        Page.objects.annotate(published=Max("snapshots__version")).filter(
            Q(published__isnull=True) | Q(version__gt=F("published"))
        )
    )


def publish_stale() -> int:
    """Publish every page whose snapshot is behind; returns how many were published."""
    published = sum(publish_page(page) is not None for page in stale_pages())
    write_sites(list(Page.objects.order_by("created_at").values_list("id", "domain")))
    return published


def _take_lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # on SQLite, `heliograph run` starts exactly one publisher
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        return bool(cursor.fetchone()[0])


def watch(stop: threading.Event, interval: float = 0.3) -> None:
    """Publish until ``stop`` is set; rides out database outages."""
    held = {"lock": False}  # a session lock: lost with the connection in an outage

    def one_pass() -> None:
        held["lock"] = held["lock"] or _take_lock()
        if held["lock"]:
            publish_stale()

    run_until_stopped(
        stop, interval, one_pass, name="publisher", on_outage=lambda: held.update(lock=False)
    )
