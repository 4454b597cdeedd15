"""The public HTML pages, as a reader of the status page sees them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED, MAJOR, OPERATIONAL
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.publish import html
from heliograph.publish.world import load_world
from tests.support.html import read, text_of
from tests.support.world import NOW

CONTENT_TYPE = "text/html; charset=utf-8"


def render(page: Page) -> dict[str, tuple[str, bytes]]:
    return html.render(load_world(page, now=NOW))


def incident_text(page: Page, incident: Incident) -> str:
    content_type, body = render(page)[f"/incidents/{incident.pk}"]
    assert content_type == CONTENT_TYPE
    return text_of(body)


def index(page: Page) -> bytes:
    return render(page)["/"][1]


# -- the incident page -----------------------------------------------------------------


def test_it_shows_every_update_newest_first(page: Page, incident: Incident) -> None:
    text = incident_text(page, incident)
    assert "Cluster A - Inbound Delays" in text
    resolved = text.index("Resolved Our engineering team has correctly identified")
    identified = text.index("Identified Our Engineering team has identified")
    investigating = text.index("Investigating We are currently experiencing")
    assert resolved < identified < investigating
    assert "Posted Jul 08, 2021 - 16:04 UTC · 12:04 PM EDT" in text
    assert "Posted Jul 08, 2021 - 16:50 UTC · 12:50 PM EDT" in text
    assert "Posted Jul 08, 2021 - 17:28 UTC · 1:28 PM EDT" in text


def test_it_puts_the_postmortem_at_the_top(page: Page, incident: Incident) -> None:
    text = incident_text(page, incident)
    postmortem = text.index("Postmortem Incident Date: July 8, 2021")
    assert "planned maintenance that caused a rspam email processing loop" in text
    assert postmortem < text.index("Posted Jul 21, 2021 - 20:20 UTC") < text.index("Resolved")


def test_it_says_what_the_incident_affected(page: Page, incident: Incident) -> None:
    assert "This incident affected: Hosted Email (Cluster A)." in incident_text(page, incident)


def test_it_shows_both_impact_windows_and_their_total(page: Page, incident: Incident) -> None:
    text = incident_text(page, incident)
    assert "Jul 08, 2021, 11:57 AM – 12:23 PM EDT (26 min)" in text
    assert "Jul 08, 2021 15:57 – 16:23 UTC" in text
    assert "Jul 08, 2021, 2:04 PM EDT – Jul 09, 2021, 1:43 PM EDT (23 h 39 min)" in text
    assert "Jul 08, 2021 18:04 – Jul 09, 2021 17:43 UTC" in text
    assert "Total duration: 1 d 5 min" in text


def test_it_sets_the_record_straight_next_to_the_resolved_update(
    page: Page, incident: Incident
) -> None:
    text = incident_text(page, incident)
    note = (
        "This update states a duration of 26 min; the recorded impact windows add up to 1 d 5 min."
    )
    assert text.count(note) == 1
    claim = text.index("Total Duration:26 minutes")
    assert claim < text.index(note) < text.index("Posted Jul 08, 2021 - 17:28 UTC")


def test_it_says_ongoing_for_an_open_window(page: Page, cluster_a: Component) -> None:
    opened = incidents.open_incident(
        page=page,
        name="Inbound delays again",
        body="Total Duration: 5 minutes",
        at=NOW - timedelta(hours=2),
        components={cluster_a: MAJOR},
    )
    text = incident_text(page, opened)
    assert "– ongoing (2 h so far)" in text
    assert "Total duration: 2 h so far, still ongoing" in text
    assert "add up to 2 h so far, and impact is ongoing." in text


def test_it_shows_times_in_the_page_zone_in_winter(page: Page, cluster_a: Component) -> None:
    opened = incidents.open_incident(
        page=page,
        name="Late night",
        body="Looking.",
        at=NOW.replace(hour=3, minute=5),
        components={cluster_a: DEGRADED},
    )
    # 03:05 UTC is still the day before in New York, so the local time carries its date.
    assert "Posted Nov 27, 2026 - 03:05 UTC · Nov 26, 10:05 PM EST" in incident_text(page, opened)


# -- the index -------------------------------------------------------------------------


def uptime_bars(body: bytes) -> list[str]:
    svgs = re.findall(r'<svg class="bars".*?</svg>', body.decode(), re.S)
    return [bar for svg in svgs for bar in re.findall(r"<rect[^>]*>.*?</rect>", svg)]


def test_it_shows_the_status_and_the_components(page: Page) -> None:
    body = index(page)
    text = text_of(body)
    assert "All Systems Operational" in text
    assert "Hosted Email Operational Cluster A 100% uptime Operational" in text
    bars = uptime_bars(body)
    assert len(bars) == 90
    assert all("<title>" in bar for bar in bars)
    assert "<title>Nov 27: 100%</title>" in bars[-1]
    assert "partial outage 30%, degraded performance 0%" in text


def test_it_changes_the_banner_when_cluster_a_degrades(page: Page, cluster_a: Component) -> None:
    catalog.set_component_status(component=cluster_a, status=DEGRADED, at=NOW - timedelta(hours=3))
    body = index(page)
    text = text_of(body)
    assert "All Systems Operational" not in text
    assert "Degraded System Service" in text
    assert 'class="banner b-deg"' in body.decode()
    assert "Cluster A 100% uptime Degraded Performance" in text
    assert "<title>Nov 27: 100%, Degraded Performance</title>" in uptime_bars(body)[-1]


def test_it_counts_an_outage_against_uptime(page: Page, cluster_a: Component) -> None:
    catalog.set_component_status(component=cluster_a, status=MAJOR, at=NOW - timedelta(hours=7))
    catalog.set_component_status(
        component=cluster_a, status=OPERATIONAL, at=NOW - timedelta(hours=1)
    )
    body = index(page)
    # 6 of the 7 hours since local midnight (EST) were down.
    assert "<title>Nov 27: 14.28%, Major Outage</title>" in uptime_bars(body)[-1]
    # Over 90 days (2,144 observed hours with the DST day), 6 hours lost.
    assert "Cluster A 99.72% uptime" in text_of(body)


def test_it_lists_the_last_15_days_of_incidents(page: Page, cluster_a: Component) -> None:
    recent = incidents.open_incident(
        page=page,
        name="Webmail slow",
        body="Investigating slow logins.",
        at=NOW - timedelta(days=2),
        components={cluster_a: DEGRADED},
    )
    body = index(page).decode()
    days = re.findall(r"<h3>([^<]+)</h3>", body[body.index('id="past-h"') :])
    assert days[0] == "Nov 27, 2026" and days[-1] == "Nov 13, 2026" and len(days) == 15
    text = text_of(index(page))
    past = text[text.index("Past incidents") :]
    assert past.count("No incidents reported.") == 14
    assert "Nov 25, 2026 Webmail slow Investigating – Investigating slow logins." in past
    assert f'href="/incidents/{recent.pk}"' in body


def test_it_hides_what_the_page_asks_to_hide(page: Page, cluster_a: Component) -> None:
    began = NOW - timedelta(days=30)
    quiet = catalog.create_component(page=page, name="Fax gateway", created_at=began)
    quiet.only_show_if_degraded = True
    quiet.save()
    plain = catalog.create_component(page=page, name="Billing", created_at=began)
    plain.showcase = False
    plain.save()
    text = text_of(index(page))
    assert "Fax gateway" not in text
    assert "Billing Operational" in text and len(uptime_bars(index(page))) == 90
    catalog.set_component_status(component=quiet, status=MAJOR, at=NOW - timedelta(hours=1))
    assert "Fax gateway" in text_of(index(page))


def test_it_shows_upcoming_maintenance(page: Page, cluster_a: Component) -> None:
    incidents.schedule_maintenance(
        page=page,
        name="Cluster A storage upgrade",
        body="New disks.",
        scheduled_for=NOW + timedelta(days=2),
        scheduled_until=NOW + timedelta(days=2, hours=2),
        components=[cluster_a],
        at=NOW - timedelta(hours=1),
    )
    text = text_of(index(page))
    assert "Scheduled maintenance Cluster A storage upgrade" in text
    assert "Nov 29, 2026, 7:00 AM – 9:00 AM EST (Nov 29, 2026 12:00 – 14:00 UTC)" in text


def test_it_links_feeds_history_and_api(page: Page) -> None:
    links = {a.get("href") for tag, a in read(index(page)).tags if tag == "a"}
    assert {"/history", "/history.atom", "/history.rss", "/api/v2/summary.json"} <= links
    page.allow_feeds = False
    page.save()
    links = {a.get("href") for tag, a in read(index(page)).tags if tag == "a"}
    assert "/history.atom" not in links and "/api/v2/summary.json" in links


def test_it_is_accessible_without_javascript(page: Page) -> None:
    for path, (_, body) in render(page).items():
        tags = read(body).tags
        names = [tag for tag, _ in tags]
        assert ("html", {"lang": "en"}) in tags, path
        assert {"header", "main", "footer"} <= set(names), path
        assert "script" not in names, path
        assert not [a for _, a in tags if a.get("rel") == "stylesheet" or a.get("src")], path
    svg = next(a for tag, a in read(index(page)).tags if tag == "svg")
    assert svg["role"] == "img"
    assert svg["aria-label"] == (
        "Hosted Email: 100% uptime over the past 90 days; operational throughout."
    )


def test_it_keeps_20_components_under_50_kb(db: None) -> None:
    page = catalog.create_page(name="Tucows", time_zone="America/New_York")
    layout = {
        "Hosted Email": [f"Cluster {c}" for c in "ABCDEF"],
        "Domains": ["Registration", "Transfers", "Managed DNS", "WHOIS"],
        "SSL Certificates": ["Issuance", "Validation", "Reissue"],
        "Platform": ["Reseller API", "Control Panel", "Billing"],
        None: ["Website", "Webmail", "Support", "Notifications"],
    }
    for group_name, names in layout.items():
        group = catalog.create_group(page=page, name=group_name) if group_name else None
        for name in names:
            catalog.create_component(
                page=page,
                name=name,
                group=group,
                created_at=NOW - timedelta(days=365),
                description=f"{name}: what customers use it for, in a sentence.",
            )
    body = index(page)
    assert len(text_of(body).split(" uptime")) > 20
    assert len(body) < 50_000


# -- safety and purity -----------------------------------------------------------------


def test_it_renders_user_text_inert(page: Page, incident: Incident) -> None:
    page.url = "javascript:alert(1)"
    page.name = "<script>alert('name')</script>"
    page.save()
    incidents.post_update(
        incident=incident,
        status="resolved",
        at=NOW,
        body="<script>alert(1)</script> <img src=x onerror=alert(1)> "
        "[click](javascript:alert(1)) [ok](https://example.com)",
    )
    for path, (_, body) in render(page).items():
        assert b"<script>" not in body, path
        for tag, attrs in read(body).tags:
            assert not [name for name in attrs if name.startswith("on")], (path, tag)
            href = (attrs.get("href") or "").strip().lower()
            assert not href.startswith("javascript:"), (path, tag)
    body = render(page)[f"/incidents/{incident.pk}"][1].decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert '<a href="https://example.com" rel="nofollow noopener noreferrer">ok</a>' in body


def test_it_makes_no_query_given_a_loaded_world(page: Page, django_assert_num_queries: Any) -> None:
    world = load_world(page, now=NOW)
    with django_assert_num_queries(0):
        rendered = html.render(world)
    # The index, /history, not found, the example's quarter and its incident.
    assert set(rendered) == {
        "/",
        "/history",
        "/404.html",
        "/history/2021-q3",
        *incident_paths(world),
    }


def incident_paths(world: Any) -> list[str]:
    return [f"/incidents/{i.pk}" for i in world.incidents]


# -- history and not found -------------------------------------------------------------


def test_it_lists_the_history_by_month(
    page: Page, incident: Incident, cluster_a: Component
) -> None:
    later = incidents.open_incident(
        page=page,
        name="Outbound delays",
        body="Looking.",
        at=NOW - timedelta(days=1),
        components={cluster_a: DEGRADED},
    )
    pages = render(page)
    current = text_of(pages["/history"][1])
    assert "October – December 2026 November 2026 Outbound delays" in current
    assert "July 2021" not in current  # each page one quarter: its size does not grow
    assert "← July – September 2021" in current  # the way back to the example's quarter
    body = pages["/history/2021-q3"][1]
    text = text_of(body)
    assert "Cluster A - Inbound Delays Minor impact · Postmortem" in text
    assert "started Jul 08, 2021 - 15:57 UTC (11:57 AM EDT) · impact 1 d 5 min" in text
    links = {a.get("href") for tag, a in read(body).tags if tag == "a"}
    assert {f"/incidents/{incident.pk}", "/history/2026-q4"} <= links
    assert f"/incidents/{later.pk}" in {a.get("href") for _, a in read(pages["/history"][1]).tags}


def test_it_has_a_friendly_not_found_page(page: Page) -> None:
    content_type, body = render(page)["/404.html"]
    assert content_type == CONTENT_TYPE
    text = text_of(body)
    assert "Page not found" in text
    assert "See the current status of OpenSRS" in text
