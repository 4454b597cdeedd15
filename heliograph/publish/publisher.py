"""The publisher: renders a snapshot whenever a page's version moves ahead of it."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from heliograph.catalog.models import Page, Touch
from heliograph.lib.loop import run_until_stopped
from heliograph.publish.build import publish_page
from heliograph.publish.export import write_sites
from heliograph.publish.models import Snapshot

LOCK_KEY = 0x48_656C_696F  # "Helio": one publisher at a time across PostgreSQL nodes
TAKEOVER_AFTER = 1.0  # seconds a stale page may wait for the lock holder to publish anything
# Seconds between looks for a page whose local day has turned or whose charts' window moved.
DAY_CHECK_EVERY = 30.0
CHART_REFRESH = timedelta(minutes=5)  # how far a public chart may lag behind its window


def stale_pages() -> list[Page]:
    return list(
        Page.objects.annotate(published=Max("snapshots__version")).filter(
            Q(published__isnull=True) | Q(version__gt=F("published"))
        )
    )


def publish_stale(pages: list[Page] | None = None) -> int:
    """Publish every page whose snapshot is behind (or those given); returns how many."""
    stale = stale_pages() if pages is None else pages
    published = sum(publish_page(page) is not None for page in stale)
    if stale:  # a new page, or a new domain, comes with a new version
        write_sites(list(Page.objects.order_by("created_at").values_list("id", "domain")))
    return published


@transaction.atomic
def mark_all_changed() -> None:
    """Make every page's next version a full build (``heliograph publish --full``); the
    version moves without touching ``updated_at``: nothing a person wrote changed."""
    pages = list(Page.objects.values_list("pk", flat=True))
    Page.objects.update(version=F("version") + 1)
    Touch.objects.bulk_create(Touch(page_id=pk, kind=Touch.PAGE) for pk in pages)


def turn_the_day(now: datetime | None = None) -> int:
    """Move each page whose newest snapshot was built on an earlier day of its own time
    zone to a new version of its bounded documents: the uptime bars and the list of past
    days move at the page's midnight though nobody wrote anything. Returns how many."""
    now = now or timezone.now()
    built = Page.objects.annotate(built=Max("snapshots__built_at")).filter(built__isnull=False)
    turned = [
        page.pk
        for page in built
        if timezone.localdate(page.built, page.zone) < timezone.localdate(now, page.zone)  # type: ignore[attr-defined]
    ]
    # No Touch rows and no updated_at: only what every version renders is new.
    return Page.objects.filter(pk__in=turned).update(version=F("version") + 1) if turned else 0


def refresh_public_charts(now: datetime, every: timedelta = CHART_REFRESH) -> int:
    """Republish pages that show charts when their snapshot is older than ``every`` (the
    charts' window moves on, but nothing else bumps the page's version). The version moves
    without touching ``updated_at``: nothing a person wrote changed. Returns how many."""
    pages = Page.objects.filter(monitors__public=True, monitors__component__isnull=False)
    ids = set(pages.values_list("pk", flat=True))
    recent = Snapshot.objects.filter(page_id__in=ids, built_at__gt=now - every)
    stale = ids - set(recent.values_list("page_id", flat=True))
    return Page.objects.filter(pk__in=stale).update(version=F("version") + 1) if stale else 0


def _take_lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # on SQLite, `heliograph run` starts exactly one publisher
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        return bool(cursor.fetchone()[0])


class Standby:
    """What a publisher without the lock does: publish what the holder leaves stale for
    more than TAKEOVER_AFTER seconds. The holder may be dead, stuck, or cut off from the
    database while its session, and so its lock, lives on at the server; concurrent
    publishing is safe (one snapshot per version), only wasteful."""

    def __init__(self) -> None:
        self.first_seen: dict[tuple[str, int | None], float] = {}

    def one_pass(self) -> int:
        now = time.monotonic()
        # Keyed by the version last published, not the one wanted: while writes keep
        # coming the wanted one moves every moment, and a silent holder would never be
        # overdue.
        stale = {(page.pk, page.published): page for page in stale_pages()}  # type: ignore[attr-defined]
        self.first_seen = {key: self.first_seen.get(key, now) for key in stale}
        overdue = [
            page for key, page in stale.items() if now - self.first_seen[key] > TAKEOVER_AFTER
        ]
        return publish_stale(overdue) if overdue else 0


def watch(stop: threading.Event, interval: float = 0.1) -> None:
    """Publish until ``stop`` is set; rides out database outages."""
    held = {"lock": False}  # a session lock: lost with the connection in an outage
    standby = Standby()
    day_checked = {"at": 0.0}

    def one_pass() -> None:
        held["lock"] = held["lock"] or _take_lock()
        if held["lock"]:
            if time.monotonic() - day_checked["at"] > DAY_CHECK_EVERY:
                turn_the_day()
                refresh_public_charts(timezone.now())
                day_checked["at"] = time.monotonic()
            publish_stale()
        else:
            standby.one_pass()

    run_until_stopped(
        stop, interval, one_pass, name="publisher", on_outage=lambda: held.update(lock=False)
    )
