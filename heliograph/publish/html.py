"""The public HTML pages, rendered from a ``World`` with Django templates.

User text reaches the page only through ``render_markdown`` (the one thing marked safe);
everything else is escaped by the template engine. No JavaScript and no external assets:
the page has to load and read well exactly when everything else is broken.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from heliograph.catalog import uptime
from heliograph.catalog.models import Component, ComponentGroup, Page
from heliograph.catalog.status import (
    COMPONENT_STATUS_LABELS,
    DEGRADED,
    MAINTENANCE,
    MAJOR,
    OPERATIONAL,
    PARTIAL,
)
from heliograph.incidents import lifecycle
from heliograph.incidents.models import Incident, IncidentUpdate
from heliograph.lib.markup import render_markdown
from heliograph.lib.timefmt import (
    day_text,
    humanize_duration,
    local_clock,
    posted_utc,
    short_day,
)
from heliograph.monitors import charts
from heliograph.publish import quarters
from heliograph.publish.world import World, day_range

CONTENT_TYPE = "text/html; charset=utf-8"
PAST_DAYS = 15
BAR_STEP = 5  # SVG units per day: a 3-unit bar and a 2-unit gap
# Fixed English names: the page must not change with the server's locale.
# Short CSS class names keep 90 bars per row light; "ok" is the default fill.
_STATUS_CSS = {OPERATIONAL: "ok", MAINTENANCE: "mnt", DEGRADED: "deg", PARTIAL: "prt", MAJOR: "maj"}
_IMPACT_CSS = {
    "none": "ok",
    "minor": "deg",
    "major": "prt",
    "critical": "maj",
    "maintenance": "mnt",
}
_IMPACT_LABELS = {
    "none": "No impact",
    "minor": "Minor impact",
    "major": "Major impact",
    "critical": "Critical impact",
    "maintenance": "Maintenance",
}

Rendered = dict[str, tuple[str, bytes]]


# -- view models: plain values the templates show --------------------------------------


@dataclass(frozen=True)
class Stamp:
    """One moment, as Statuspage prints it in UTC and as the page's readers live it."""

    iso: str
    utc: str  # Jul 08, 2021 - 16:04 UTC
    local: str  # 12:04 PM EDT (with the date when it differs from the UTC one)


@dataclass(frozen=True)
class UpdateView:
    status: str
    label: str
    body: SafeString
    posted: Stamp
    note: str  # the recorded truth, when the text claims a different duration
    edited: str = ""  # when the text was last edited (earlier text kept as revisions)


@dataclass(frozen=True)
class WindowView:
    component: str
    status: str
    css: str
    local: str
    utc: str
    length: str
    ongoing: bool


@dataclass(frozen=True)
class Bar:
    x: int
    css: str
    title: str


@dataclass(frozen=True)
class UptimeView:
    figure: str  # "99.97%"
    label: str  # the text alternative for the whole chart
    bars: list[Bar]

    @property
    def width(self) -> int:
        return len(self.bars) * BAR_STEP - (BAR_STEP - 3)

    def svg(self) -> SafeString:
        """Built here, not in the template: 90 bars a row, 20 rows, for every version."""
        rects = "".join(
            f"<rect x={b.x}{f' class={b.css}' if b.css else ''}>"
            f"<title>{escape(b.title)}</title></rect>"
            for b in self.bars
        )
        return format_html(
            '<svg class="bars" viewBox="0 0 {} 34" preserveAspectRatio="none" role="img" '
            'aria-label="{}">{}</svg>',
            self.width,
            self.label,
            mark_safe(rects),
        )


@dataclass(frozen=True)
class ChartView:
    """A public monitor's chart under its component (architecture: Monitors)."""

    title: str  # the monitor's name
    what: str  # "delivery time"
    svg: SafeString  # built by monitors.charts, which escapes every text in it


@dataclass
class Row:
    """A component, or a group heading with its members, on the index."""

    name: str
    status: str
    status_label: str
    description: str = ""
    figure: str = ""
    uptime: UptimeView | None = None
    members: list[Row] = field(default_factory=list)
    charts: list[ChartView] = field(default_factory=list)


@dataclass(frozen=True)
class EventView:
    """An incident or maintenance as lists show it."""

    id: str
    name: str
    impact: str
    impact_label: str
    status: str
    status_label: str
    is_maintenance: bool
    started: Stamp
    schedule: str
    duration: str
    updates: list[UpdateView]


# -- formatting ------------------------------------------------------------------------


def stamp(value: datetime, zone: ZoneInfo) -> Stamp:
    local = value.astimezone(zone)
    clock = local_clock(value, zone)
    if local.date() != value.astimezone(UTC).date():
        clock = f"{short_day(local.date())}, {clock}"
    return Stamp(value.astimezone(UTC).isoformat(), posted_utc(value), clock)


def percent(value: float | None) -> str:
    """Rounded down, so a bad day never reads as a clean 100%."""
    if value is None:
        return "no data"
    if value >= 1.0:
        return "100%"
    return f"{math.floor(value * 10000) / 100:.2f}%"


def _local_moment(value: datetime, zone: ZoneInfo, with_zone: bool = True) -> str:
    local = value.astimezone(zone)
    clock = local_clock(value, zone)
    return f"{day_text(local.date())}, {clock if with_zone else clock.rsplit(' ', 1)[0]}"


def span_texts(start: datetime, end: datetime | None, zone: ZoneInfo) -> tuple[str, str]:
    """A window in the page zone and in UTC; the end's date is left out on the same day."""
    start_utc = start.astimezone(UTC)
    utc_text = f"{day_text(start_utc.date())} {start_utc:%H:%M}"
    if end is None:
        return f"{_local_moment(start, zone)} – ongoing", f"{utc_text} UTC – ongoing"
    end_utc = end.astimezone(UTC)
    same_utc_day = end_utc.date() == start_utc.date()
    utc_text += f" – {'' if same_utc_day else day_text(end_utc.date()) + ' '}{end_utc:%H:%M} UTC"
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if local_start.date() == local_end.date() and local_start.tzname() == local_end.tzname():
        local = f"{_local_moment(start, zone, with_zone=False)} – {local_clock(end, zone)}"
    else:
        local = f"{_local_moment(start, zone)} – {_local_moment(end, zone)}"
    return local, utc_text


# -- incidents and updates -------------------------------------------------------------


def user_html(text: str) -> SafeString:
    """The only markup this module marks safe: markdown rendered, then sanitised by nh3."""
    return mark_safe(render_markdown(text))


def duration_note(update: IncidentUpdate, world: World, incident: Incident) -> str:
    """What the record says, next to an update whose text states a different duration."""
    return lifecycle.differs_note(update.body, world.windows(incident), world.now)


def update_view(update: IncidentUpdate, world: World, incident: Incident) -> UpdateView:
    return UpdateView(
        status=update.status,
        label=update_label(update),
        body=user_html(update.body),
        posted=stamp(update.display_at, world.zone),
        note=duration_note(update, world, incident),
        edited=posted_utc(update.edited_at) if update.edited_at else "",
    )


def update_label(update: IncidentUpdate) -> str:
    """A reopening update reads "Recurred", so the log shows resolved → recurred → resolved."""
    label = lifecycle.STATUS_LABELS.get(update.status, update.status)
    return f"Recurred · {label}" if update.reopened else label


def event_view(incident: Incident, world: World, updates: bool = True) -> EventView:
    """An incident as lists show it; kept with the incident object while its impact is
    over (World.views), since then nothing but the incident itself changes it."""
    key, views = (incident.pk, updates), world.views
    kept = views.get(key) if views is not None else None
    if kept is not None and kept[0] is incident:
        return kept[1]
    view = _event_view(incident, world, updates)
    if views is not None and all(window.end for window in world.windows(incident)):
        views[key] = (incident, view)
    return view


def _event_view(incident: Incident, world: World, updates: bool) -> EventView:
    zone = world.zone
    schedule = ""
    if incident.scheduled_for and incident.scheduled_until:
        start, end = span_texts(incident.scheduled_for, incident.scheduled_until, zone)
        schedule = f"{start} ({end})"
    windows = world.windows(incident)
    shown = world.updates(incident) if updates else []
    return EventView(
        id=incident.pk,
        name=incident.name,
        impact=_IMPACT_CSS.get(incident.impact, "ok"),
        impact_label=_IMPACT_LABELS.get(incident.impact, incident.impact),
        status=incident.status,
        status_label=lifecycle.STATUS_LABELS.get(incident.status, incident.status),
        is_maintenance=incident.is_maintenance,
        started=stamp(incident.started_at, zone),
        schedule=schedule,
        duration=_listed_duration(windows, world),
        updates=[update_view(u, world, incident) for u in shown],
    )


def _listed_duration(windows: list[lifecycle.Window], world: World) -> str:
    """Lists say "ongoing" rather than a figure that moves with the clock: a history page
    changes when its incidents do, not every minute (the incident's page has the figure)."""
    if any(w.end is None for w in windows):
        return "ongoing"
    return humanize_duration(lifecycle.total_duration(windows, world.now)) if windows else ""


def window_views(incident: Incident, world: World) -> list[WindowView]:
    views = []
    for window in world.windows(incident):
        component = world.components_by_id.get(window.component)
        local, utc_text = span_texts(window.start, window.end, world.zone)
        views.append(
            WindowView(
                component=component.display_name if component else window.component,
                status=COMPONENT_STATUS_LABELS.get(window.worst_status, window.worst_status),
                css=_STATUS_CSS.get(window.worst_status, "ok"),
                local=local,
                utc=utc_text,
                length=humanize_duration(window.duration(world.now)),
                ongoing=window.end is None,
            )
        )
    return views


def incident_context(incident: Incident, world: World) -> dict[str, Any]:
    postmortem = world.postmortem(incident)
    windows = window_views(incident, world)
    affected = [c.display_name for c in world.affected(incident)]
    return {
        "title": incident.name,
        "event": event_view(incident, world),
        "postmortem": user_html(postmortem.body) if postmortem else None,
        "postmortem_posted": stamp(postmortem.published_at, world.zone)
        if postmortem and postmortem.published_at
        else None,
        "affected": ", ".join(affected),
        "windows": windows,
        "total": humanize_duration(world.duration(incident)) if windows else "",
        "ongoing": any(w.ongoing for w in windows),
        "overlap": len({w.component for w in windows}) > 1,
        "followable": world.page.allow_subscribers and incident.status in lifecycle.FOLLOWABLE,
    }


# -- components and uptime -------------------------------------------------------------


def uptime_view(name: str, days: Sequence[uptime.DayUptime]) -> UptimeView:
    bars = []
    for n, day in enumerate(days):
        status = day.worst_status
        # The year only where it changes: 90 titles per row are most of the page's weight.
        named = (
            day_text(day.day) if n == 0 or day.day.timetuple().tm_yday == 1 else short_day(day.day)
        )
        title = f"{named}: {percent(day.uptime)}"
        if day.uptime is None:
            css = "nd"
        else:
            css = _STATUS_CSS.get(status, "ok")
            if status != OPERATIONAL:
                title += f", {COMPONENT_STATUS_LABELS[status]}"
        bars.append(Bar(n * BAR_STEP, "" if css == "ok" else css, title))
    figure = percent(uptime.overall(days))
    bad = [b.title for b in bars if b.css not in ("", "nd")]
    label = f"{name}: {figure} uptime over the past {len(days)} days"
    label += f"; not fully operational on {'; '.join(bad)}." if bad else "; operational throughout."
    return UptimeView(figure, label, bars)


def _visible(component: Component) -> bool:
    return not (component.only_show_if_degraded and component.status == OPERATIONAL)


def chart_views(world: World, component: Component) -> list[ChartView]:
    return [
        ChartView(chart.title, chart.what, mark_safe(chart.svg()))
        for chart in world.charts.get(component.pk, [])
    ]


def component_row(component: Component, world: World) -> Row:
    return Row(
        name=component.name,
        status=_STATUS_CSS.get(component.status, "ok"),
        status_label=COMPONENT_STATUS_LABELS.get(component.status, component.status),
        description=component.description,
        figure=percent(world.uptime_figure(component)) if component.showcase else "",
        charts=chart_views(world, component),
    )


def group_row(group: ComponentGroup, world: World) -> Row | None:
    """A heading with its members; one set of bars for the group keeps the page light."""
    members = [c for c in world.group_members(group) if _visible(c)]
    if not members:
        return None
    shown = [c for c in world.group_members(group) if c.showcase]
    bars = uptime_view(group.name, world.merged_uptime_days(shown)) if shown else None
    status = world.group_status(group)
    return Row(
        name=group.name,
        status=_STATUS_CSS.get(status, "ok"),
        status_label=COMPONENT_STATUS_LABELS.get(status, status),
        description=group.description,
        uptime=bars,
        members=[component_row(c, world) for c in members],
    )


def component_rows(world: World) -> list[Row]:
    """Top-level rows in component order; a group sits where its first member does."""
    groups = {g.pk: g for g in world.groups}
    rows: list[Row] = []
    seen: set[str] = set()
    for component in world.components:
        if component.group_id is None:
            if _visible(component):
                row = component_row(component, world)
                if component.showcase:
                    row.uptime = uptime_view(component.name, world.uptime_days(component))
                rows.append(row)
        elif component.group_id not in seen and component.group_id in groups:
            seen.add(component.group_id)
            if group := group_row(groups[component.group_id], world):
                rows.append(group)
    return rows


def policy_note(world: World) -> str:
    policy = world.page.uptime_policy
    maintenance = "counts fully" if policy.maintenance_counts else "is not counted"
    return (
        f"Uptime counts major outage fully, partial outage {policy.partial_weight * 100:g}%, "
        f"degraded performance {policy.degraded_weight * 100:g}%; maintenance {maintenance}."
    )


# -- pages -----------------------------------------------------------------------------


def past_days(world: World) -> list[tuple[str, list[EventView]]]:
    """The last 15 days in the page zone, each with what started on it."""
    by_day: dict[date, list[Incident]] = {}
    for incident in world.incidents:
        if incident.status != lifecycle.Status.SCHEDULED:  # upcoming work has its own section
            day = incident.started_at.astimezone(world.zone).date()
            by_day.setdefault(day, []).append(incident)
    return [
        (day_text(day), [event_view(i, world) for i in _newest(by_day.get(day, []))])
        for day in day_range(world, PAST_DAYS)
    ]


def _newest(incidents: list[Incident]) -> list[Incident]:
    return sorted(incidents, key=lambda i: i.started_at, reverse=True)


def index_context(world: World) -> dict[str, Any]:
    active = world.unresolved
    maintenance = world.active_maintenance + sorted(
        world.upcoming, key=lambda m: m.scheduled_for or m.started_at
    )
    return {
        "title": None,
        "status": world.status,
        "status_css": _IMPACT_CSS.get(world.status.indicator, "ok"),
        "active": [event_view(i, world) for i in active],
        "maintenance": [event_view(m, world) for m in maintenance],
        "rows": component_rows(world),
        "chart_css": mark_safe(charts.CSS) if world.charts else "",
        "policy": policy_note(world),
        "days": past_days(world),
    }


def history_context(
    world: World, key: str, incidents: list[Incident], keys: Iterable[str]
) -> dict[str, Any]:
    """A quarter of the history, newest first by month, linked to its neighbours."""
    months: dict[tuple[int, int], list[Incident]] = {}
    for incident in incidents:
        local = incident.started_at.astimezone(world.zone)
        months.setdefault((local.year, local.month), []).append(incident)
    older, newer = quarters.neighbours(keys, key)
    return {
        "title": f"Incident history: {quarters.label(key)}",
        "span": quarters.label(key),
        "months": [
            (
                f"{quarters.MONTH_NAMES[month - 1]} {year}",
                [event_view(i, world, updates=False) for i in _newest(months[(year, month)])],
            )
            for year, month in sorted(months, reverse=True)
        ],
        "older": (quarters.path(older), quarters.label(older)) if older else None,
        "newer": (quarters.path(newer), quarters.label(newer)) if newer else None,
    }


def base_context(world: World) -> dict[str, Any]:
    return page_context(world.page)


def page_context(page: Page) -> dict[str, Any]:
    """What ``publish/base.html`` needs (also used by the subscribe pages Django serves)."""
    # A company link only for web addresses: the field is typed by people.
    site = page.url if page.url.startswith(("https://", "http://")) else ""
    return {"page": page, "site": site, "feeds": page.allow_feeds, "zone": page.time_zone}


def _html(template: str, base: dict[str, Any], context: dict[str, Any]) -> bytes:
    return render_to_string(f"publish/{template}", {**base, **context}).encode()


def render_bounded(world: World) -> Rendered:
    """The index and the not-found page: what every version renders again."""
    base = base_context(world)
    pages = {
        "/": _html("index.html", base, index_context(world)),
        "/404.html": _html("404.html", base, {"title": "Page not found"}),
    }
    return {path: (CONTENT_TYPE, body) for path, body in pages.items()}


def render_incident(world: World, incident: Incident) -> bytes:
    return _html("incident.html", base_context(world), incident_context(incident, world))


def render_history(world: World, key: str, incidents: list[Incident], keys: Iterable[str]) -> bytes:
    """One quarter's page (also ``/history`` itself, for ``quarters.latest``)."""
    context = history_context(world, key, incidents, keys)
    return _html("history.html", base_context(world), context)


def by_quarter(world: World) -> dict[str, list[Incident]]:
    grouped: dict[str, list[Incident]] = {}
    for incident in world.incidents:
        grouped.setdefault(quarters.quarter_of(incident.started_at, world.zone), []).append(
            incident
        )
    return grouped


def render(world: World) -> Rendered:
    """Every public HTML page of the world: URL path -> (content type, body)."""
    pages = render_bounded(world)
    grouped = by_quarter(world)
    for key, members in grouped.items():
        pages[quarters.path(key)] = (CONTENT_TYPE, render_history(world, key, members, grouped))
    latest = quarters.latest(grouped, quarters.quarter_of(world.now, world.zone))
    pages["/history"] = pages.get(quarters.path(latest)) or (
        CONTENT_TYPE,
        render_history(world, latest, [], grouped),
    )
    for incident in world.incidents:
        pages[f"/incidents/{incident.pk}"] = (CONTENT_TYPE, render_incident(world, incident))
    return pages
