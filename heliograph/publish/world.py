"""Everything a page's public artifacts show, loaded in a few queries.

Renderers (HTML, v2 JSON, feeds) take a ``World`` and never touch the database, so one
snapshot is consistent across all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, Prefetch, Subquery
from django.utils import timezone

from heliograph.catalog import uptime
from heliograph.catalog.models import Component, ComponentGroup, Page, StatusChange
from heliograph.catalog.status import OPERATIONAL, PageStatus, blend, worst
from heliograph.incidents import lifecycle
from heliograph.incidents.models import Incident, IncidentUpdate, Postmortem
from heliograph.monitors.metrics import PublicChart, public_charts

UPTIME_DAYS = 90


@dataclass
class World:
    page: Page
    groups: list[ComponentGroup]
    components: list[Component]
    incidents: list[Incident]  # incidents and maintenances, newest first
    timelines: dict[str, uptime.Timeline]  # component id -> (at, new status), oldest first
    now: datetime = field(default_factory=timezone.now)
    # Component id -> charts of its public monitors (monitors.metrics.public_charts).
    charts: dict[str, list[PublicChart]] = field(default_factory=dict)
    _windows: dict[int, tuple[Incident, list[lifecycle.Window]]] = field(
        default_factory=dict, repr=False
    )
    # Views of incidents (publish.html.event_view), by incident id and kind, shared with
    # the next publish's world through IncidentCache; None (a full build): none kept.
    views: dict[tuple[str, bool], tuple[Incident, Any]] | None = field(default=None, repr=False)

    @property
    def zone(self) -> ZoneInfo:
        return self.page.zone

    @cached_property
    def status(self) -> PageStatus:
        return blend(c.status for c in self.components)

    @cached_property
    def components_by_id(self) -> dict[str, Component]:
        return {c.pk: c for c in self.components}

    @cached_property
    def _members(self) -> dict[str | None, list[Component]]:
        members: dict[str | None, list[Component]] = {}
        for component in self.components:
            members.setdefault(component.group_id, []).append(component)
        return members

    def group_members(self, group: ComponentGroup) -> list[Component]:
        return self._members.get(group.pk, [])

    def group_status(self, group: ComponentGroup) -> str:
        """A group has no status of its own: it shows its worst member's."""
        statuses = [c.status for c in self.group_members(group)]
        return worst(statuses)  # an outage outranks maintenance (catalog.status.SEVERITY)

    @property
    def ungrouped(self) -> list[Component]:
        return [c for c in self.components if c.group_id is None]

    def updates(self, incident: Incident) -> list[IncidentUpdate]:
        """Newest first, as every Statuspage artifact lists them."""
        return list(incident.updates.all())

    def postmortem(self, incident: Incident) -> Postmortem | None:
        found: Postmortem | None = getattr(incident, "postmortem", None)
        return found if found and found.is_published else None

    @cached_property
    def positions(self) -> dict[str, int]:
        return {c.pk: n for n, c in enumerate(self.components)}

    def affected(self, incident: Incident) -> list[Component]:
        # This world's components, not the incident's own: an incident kept from an
        # earlier publish (IncidentCache) must still show today's names and statuses.
        return sorted(
            (self.components_by_id[c.pk] for c in incident.components.all()),
            key=lambda c: self.positions[c.pk],
        )

    def windows(self, incident: Incident) -> list[lifecycle.Window]:
        # Asked for by every update of an incident: worked out once per loaded incident.
        cached = self._windows.get(id(incident))
        if cached is None or cached[0] is not incident:
            changes = [
                lifecycle.StatusStep(sc.component_id, sc.at, sc.new_status)
                for sc in incident.status_changes.all()
            ]
            cached = self._windows[id(incident)] = (incident, lifecycle.impact_windows(changes))
        return cached[1]

    def duration(self, incident: Incident) -> timedelta:
        return lifecycle.total_duration(self.windows(incident), self.now)

    @property
    def incident_list(self) -> list[Incident]:
        return [i for i in self.incidents if not i.is_maintenance]

    @property
    def maintenance_list(self) -> list[Incident]:
        return [i for i in self.incidents if i.is_maintenance]

    @property
    def unresolved(self) -> list[Incident]:
        return [i for i in self.incident_list if i.status in lifecycle.UNRESOLVED]

    @property
    def upcoming(self) -> list[Incident]:
        return [m for m in self.maintenance_list if m.status == lifecycle.Status.SCHEDULED]

    @property
    def active_maintenance(self) -> list[Incident]:
        return [m for m in self.maintenance_list if m.status in lifecycle.ACTIVE_MAINTENANCE]

    @cached_property
    def uptime_span(self) -> list[date]:
        """The days the bars show, oldest first."""
        today = self.now.astimezone(self.zone).date()
        return [today - timedelta(days=n) for n in range(UPTIME_DAYS - 1, -1, -1)]

    def uptime_days(self, component: Component) -> list[uptime.DayUptime]:
        timeline, since, _ = self._column(component)
        return uptime.daily_uptime(
            timeline=timeline,
            since=since,
            now=self.now,
            days=self.uptime_span,
            zone=self.zone,
            policy=self.page.uptime_policy,
        )

    def uptime_figure(self, component: Component) -> float | None:
        """Its uptime over the bars' days (``overall`` of ``uptime_days``)."""
        return uptime.overall_uptime(
            column=self._column(component),
            now=self.now,
            days=self.uptime_span,
            zone=self.zone,
            policy=self.page.uptime_policy,
        )

    def merged_uptime_days(self, members: Iterable[Component]) -> list[uptime.DayUptime]:
        """A group's bars: its members' days added together."""
        return uptime.merged_daily_uptime(
            columns=[self._column(c) for c in members],
            now=self.now,
            days=self.uptime_span,
            zone=self.zone,
            policy=self.page.uptime_policy,
        )

    def _column(self, component: Component) -> uptime.Column:
        timeline = self.timelines.get(component.pk, ())
        return timeline, _began(component, self.zone), OPERATIONAL


def _began(component: Component, zone: ZoneInfo) -> datetime:
    if component.start_date:
        return datetime.combine(component.start_date, datetime.min.time(), zone)
    return component.created_at


def incidents_of(
    page: Page, ids: Iterable[str] | None = None, listed_only: bool = False
) -> list[Incident]:
    """Public incidents and maintenances with all they show, newest first; only ``ids``
    when given (drafts are for responders only: no public artifact shows them).
    ``listed_only``: what a history list shows of them, without their updates."""
    found = page.incidents.filter(draft=False)
    if ids is not None:
        found = found.filter(pk__in=list(ids))
    changes = Prefetch("status_changes", queryset=StatusChange.objects.order_by("at", "id"))
    if listed_only:
        loaded = found.prefetch_related(changes)
    else:
        loaded = found.prefetch_related(
            Prefetch(
                "updates", queryset=IncidentUpdate.objects.order_by("-display_at", "-created_at")
            ),
            Prefetch("components", queryset=Component.objects.only("id")),
            changes,
        ).select_related("postmortem")
    return _newest_first(loaded)


def _newest_first(incidents: Iterable[Incident]) -> list[Incident]:
    # The id breaks ties, so any subset lists in the same order as the whole.
    return sorted(incidents, key=lambda i: (i.created_at, i.pk), reverse=True)


class IncidentCache:
    """The incidents one publish loaded, for the next publish in the same process: only
    those a write has touched since (``forget``) and those not kept are read again.
    Sound because every write marks the incidents it changes (catalog.Touch); the
    publisher starts a new cache whenever another process may have published meanwhile.
    What a publish did not use is let go after it (``next``), so it stays small."""

    def __init__(self) -> None:
        self.kept: dict[str, Incident] = {}
        self.used: dict[str, Incident] = {}
        self.views: dict[tuple[str, bool], tuple[Incident, Any]] = {}

    def forget(self, ids: Iterable[str]) -> None:
        for incident_id in ids:
            self.kept.pop(incident_id, None)

    def load(self, page: Page, ids: Iterable[str]) -> list[Incident]:
        wanted = set(ids)
        if missing := wanted - self.kept.keys():
            self.kept.update((i.pk, i) for i in incidents_of(page, missing))
        found = [self.kept[i] for i in wanted if i in self.kept]
        self.used.update((i.pk, i) for i in found)
        return _newest_first(found)

    def next(self) -> IncidentCache:
        self.kept, self.used = self.used, {}
        self.views = {key: view for key, view in self.views.items() if key[0] in self.kept}
        return self


def load_incidents(
    page: Page, ids: Iterable[str], cache: IncidentCache | None, listed_only: bool = False
) -> list[Incident]:
    """``incidents_of`` these, through ``cache`` when there is one (it keeps whole ones)."""
    return cache.load(page, ids) if cache else incidents_of(page, ids, listed_only)


def load_world(
    page: Page,
    now: datetime | None = None,
    incident_ids: Iterable[str] | None = None,
    cache: IncidentCache | None = None,
) -> World:
    """The page's world: every public incident, or only ``incident_ids``."""
    page.refresh_from_db()
    now = now or timezone.now()
    return World(
        page=page,
        groups=list(page.groups.all()),
        components=list(page.components.select_related("group")),
        incidents=(
            incidents_of(page)
            if incident_ids is None
            else load_incidents(page, incident_ids, cache)
        ),
        timelines=recent_timelines(page, now),
        now=now,
        charts=public_charts(page, now),
        views=cache.views if cache else None,
    )


def recent_timelines(page: Page, now: datetime) -> dict[str, uptime.Timeline]:
    """Each component's (moment, new status) since before the uptime bars begin, oldest
    first, led by the last change before then (the status the bars start in): older rows
    change nothing. Plain tuples: a thousand model objects per publish cost more."""
    since = now - timedelta(days=UPTIME_DAYS + 2)
    leading = StatusChange.objects.filter(component=OuterRef("pk"), at__lt=since)
    starts = page.components.annotate(
        lead=Subquery(leading.order_by("-at", "-id").values("id")[:1])
    ).values_list("lead", flat=True)
    # Two queries, not one with OR: that would scan every row of ten years' timeline.
    fields = ("at", "id", "component_id", "new_status")
    recent = StatusChange.objects.filter(component__page=page, at__gte=since).values_list(*fields)
    leads = StatusChange.objects.filter(pk__in=[pk for pk in starts if pk]).values_list(*fields)
    timelines: dict[str, list[tuple[datetime, str]]] = {}
    for at, _, component_id, status in sorted([*leads, *recent]):
        timelines.setdefault(component_id, []).append((at, status))
    return {component_id: tuple(changes) for component_id, changes in timelines.items()}


def day_range(world: World, days: int) -> list[date]:
    today = world.now.astimezone(world.zone).date()
    return [today - timedelta(days=n) for n in range(days)]
