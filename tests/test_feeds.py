"""The history feeds, as feed readers and chat integrations parse them."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree import ElementTree

import feedparser
import pytest

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.publish import feeds
from heliograph.publish.world import load_world
from tests.support.world import NOW

BASE_URL = "https://status.opensrs.com"
ATOM = "{http://www.w3.org/2005/Atom}"
FIRST_PARAGRAPH = (
    "<p><small>Jul <var data-var='date'> 8</var>, <var data-var='time'>17:28</var> UTC"
    "</small><br><strong>Resolved</strong> - Our engineering team has correctly identified"
)


@pytest.fixture(autouse=True)
def base_url(settings: Any) -> None:
    settings.BASE_URL = BASE_URL


def render(page: Page) -> dict[str, tuple[str, bytes]]:
    return feeds.render(load_world(page, now=NOW))


def atom_contents(page: Page) -> dict[str, str]:
    """Entry id -> the entry's HTML, unescaped once as any XML parser does."""
    root = ElementTree.fromstring(render(page)["/history.atom"][1])
    return {
        e.findtext(f"{ATOM}id", ""): e.findtext(f"{ATOM}content", "")
        for e in root.iter(f"{ATOM}entry")
    }


def rss_items(page: Page) -> dict[str, ElementTree.Element]:
    root = ElementTree.fromstring(render(page)["/history.rss"][1])
    return {item.findtext("title", ""): item for item in root.iter("item")}


def test_it_serves_both_feeds(page: Page) -> None:
    artifacts = render(page)
    assert artifacts["/history.atom"][0] == "application/atom+xml; charset=utf-8"
    assert artifacts["/history.rss"][0] == "application/rss+xml; charset=utf-8"
    for _, body in artifacts.values():
        parsed = feedparser.parse(body)
        assert not parsed.bozo
        assert parsed.feed.title == "OpenSRS Status - Incident History"


def test_it_has_an_atom_entry_for_the_incident(page: Page, incident: Incident) -> None:
    parsed = feedparser.parse(render(page)["/history.atom"][1])
    (entry,) = parsed.entries
    assert entry.title == "Cluster A - Inbound Delays"
    assert entry.link == f"{BASE_URL}/incidents/{incident.pk}"
    assert entry.id == f"tag:status.opensrs.com,2005:Incident/{incident.pk}"
    assert entry.published == "2021-07-08T12:04:00-04:00"
    assert entry.updated == "2021-07-21T16:20:00-04:00"  # the postmortem is the last change
    assert re.search(r"<strong>(.*?)</strong>", entry.content[0].value)[1] == "Resolved"  # type: ignore[index]


def test_it_marks_up_one_paragraph_per_update_newest_first(page: Page, incident: Incident) -> None:
    html = atom_contents(page)[f"tag:status.opensrs.com,2005:Incident/{incident.pk}"]
    assert html.startswith(FIRST_PARAGRAPH)
    assert re.findall(r"<strong>(.*?)</strong>", html) == [
        "Resolved",
        "Identified",
        "Investigating",
    ]
    assert "<var data-var='time'>16:04</var> UTC" in html
    assert html.count("<p>") == 3 and html.endswith("additional information.</p>")


def test_it_has_an_rss_item_for_the_incident(page: Page, incident: Incident) -> None:
    parsed = feedparser.parse(render(page)["/history.rss"][1])
    (entry,) = parsed.entries
    assert entry.link == f"{BASE_URL}/incidents/{incident.pk}"
    assert entry.id == f"{BASE_URL}/incidents/{incident.pk}"
    assert entry.summary.count("<strong>") == 3
    item = rss_items(page)["Cluster A - Inbound Delays"]
    assert item.findtext("description", "").startswith(FIRST_PARAGRAPH)
    assert item.find("maintenanceEndDate") is None


def test_it_escapes_html_in_update_bodies(page: Page) -> None:
    opened = incidents.open_incident(
        page=page, name="Webmail errors", body="Seen: <script>alert(1)</script> **bold**", at=NOW
    )
    html = atom_contents(page)[f"tag:status.opensrs.com,2005:Incident/{opened.pk}"]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<strong>bold</strong>" in html
    assert re.search(r"<strong>(.*?)</strong>", html)[1] == "Investigating"  # type: ignore[index]
    for _, body in render(page).values():
        for entry in feedparser.parse(body).entries:
            assert "<script>" not in entry.summary


def test_it_lists_the_most_recently_changed_first(page: Page, incident: Incident) -> None:
    opened = incidents.open_incident(page=page, name="Webmail errors", body="Slow.", at=NOW)
    entries = feedparser.parse(render(page)["/history.atom"][1]).entries
    assert [e.link.rsplit("/", 1)[1] for e in entries] == [opened.pk, incident.pk]


def test_it_gives_maintenance_items_an_end_date(page: Page, cluster_a: Component) -> None:
    start = NOW + timedelta(days=1)
    incidents.schedule_maintenance(
        page=page,
        name="MX upgrade",
        body="Upgrading MX hosts.",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        components=[cluster_a],
        at=NOW,
    )
    item = rss_items(page)["MX upgrade"]
    end = item.findtext("maintenanceEndDate")
    assert end is not None and parsedate_to_datetime(end) == start + timedelta(hours=2)
    assert "<strong>Scheduled</strong> - Upgrading MX hosts." in item.findtext("description", "")


def test_it_is_stable_for_a_page_without_incidents(db: None) -> None:
    page = catalog.create_page(name="Quiet", time_zone="UTC")
    first, second = render(page), render(page)
    assert first == second
    parsed = feedparser.parse(first["/history.atom"][1])
    assert parsed.entries == []
    assert parsed.feed.id == "tag:status.opensrs.com,2005:/history"


def test_it_serves_no_feeds_when_they_are_switched_off(page: Page) -> None:
    page.allow_feeds = False
    page.save()
    assert render(page) == {}


def test_it_renders_without_querying_the_database(
    page: Page, django_assert_num_queries: Any
) -> None:
    world = load_world(page, now=NOW)
    with django_assert_num_queries(0):
        feeds.render(world)
