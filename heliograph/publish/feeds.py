"""The incident history feeds (``/history.atom``, ``/history.rss``), rendered from a ``World``.

The markup inside each entry copies Statuspage's (architecture: Wire formats): feed consumers such
as chat integrations read the first ``<strong>`` as the incident's current status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed, SyndicationFeed, rfc2822_date
from django.utils.html import escape
from django.utils.xmlutils import SimplerXMLGenerator

from heliograph.incidents.lifecycle import STATUS_LABELS
from heliograph.incidents.models import Incident, IncidentUpdate
from heliograph.lib.markup import render_inline_markdown as inline_markdown
from heliograph.lib.timefmt import MONTHS
from heliograph.publish.world import World

RECENT = 50
# Fixed English abbreviations: the feed must not change with the server's locale.


class _HistoryFeed(SyndicationFeed):
    content_type: str

    def latest_post_date(self) -> datetime:
        # Django falls back to the clock for an empty feed; a snapshot must not, or every
        # rebuild would change its bytes (and its ETag).
        if not self.items:
            fallback: datetime = self.feed["fallback_date"]
            return fallback
        return super().latest_post_date()


class HistoryAtom(_HistoryFeed, Atom1Feed):
    def add_item_elements(self, handler: SimplerXMLGenerator, item: dict[str, Any]) -> None:
        # Statuspage puts the updates in <content>, where Django would write <summary>.
        super().add_item_elements(handler, {**item, "description": None})
        handler.addQuickElement("content", item["description"], {"type": "html"})


class HistoryRss(_HistoryFeed, Rss201rev2Feed):
    def add_item_elements(self, handler: SimplerXMLGenerator, item: dict[str, Any]) -> None:
        super().add_item_elements(handler, item)
        if item.get("maintenance_end") is not None:
            handler.addQuickElement("maintenanceEndDate", rfc2822_date(item["maintenance_end"]))


def render(world: World) -> dict[str, tuple[str, bytes]]:
    """Both history feeds, or nothing when the page has feeds switched off."""
    if not world.page.allow_feeds:
        return {}
    artifacts: dict[str, tuple[str, bytes]] = {}
    for path, feed_class in (("/history.atom", HistoryAtom), ("/history.rss", HistoryRss)):
        feed = _build(world, feed_class, f"{settings.BASE_URL}{path}")
        artifacts[path] = (feed.content_type, feed.writeString("utf-8").encode())
    return artifacts


def _build(world: World, feed_class: type[_HistoryFeed], self_url: str) -> _HistoryFeed:
    host = urlsplit(settings.BASE_URL).hostname
    feed = feed_class(
        title=f"{world.page.name} Status - Incident History",
        link=settings.BASE_URL,
        description=f"Incidents and maintenances on the {world.page.name} status page",
        language="en-US",
        author_name=world.page.name,
        feed_url=self_url,
        feed_guid=f"tag:{host},2005:/history",
        fallback_date=world.page.updated_at.astimezone(world.zone),
    )
    for incident in recent(world):
        link = f"{settings.BASE_URL}/incidents/{incident.pk}"
        until = incident.scheduled_until if incident.is_maintenance else None
        feed.add_item(
            title=incident.name,
            link=link,
            description=entry_html(world.updates(incident)),
            pubdate=incident.created_at.astimezone(world.zone),
            updateddate=incident.updated_at.astimezone(world.zone),
            # Atom wants a tag URI; RSS readers expect the guid to be the permalink.
            unique_id=f"tag:{host},2005:Incident/{incident.pk}"
            if feed_class is HistoryAtom
            else link,
            maintenance_end=until.astimezone(world.zone) if until else None,
        )
    return feed


def recent(world: World) -> list[Incident]:
    """The most recently changed incidents and maintenances, newest first."""
    by_change = sorted(world.incidents, key=lambda i: (i.updated_at, i.created_at), reverse=True)
    return by_change[:RECENT]


def entry_html(updates: list[IncidentUpdate]) -> str:
    """One paragraph per update, newest first, exactly as Statuspage marks them up."""
    return "".join(_update_html(u) for u in updates)


def _update_html(update: IncidentUpdate) -> str:
    at = update.display_at.astimezone(UTC)
    label = escape(STATUS_LABELS.get(update.status, update.status))
    return (
        f"<p><small>{MONTHS[at.month - 1]} <var data-var='date'>{at.day:>2}</var>, "
        f"<var data-var='time'>{at:%H:%M}</var> UTC</small><br>"
        f"<strong>{label}</strong> - {inline_markdown(update.body)}</p>"
    )
