"""What a reader sees in a real browser (Debian chromium driven by Playwright)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.browser import page_without_javascript, require_chromium
from tests.support.live import Server

pytestmark = pytest.mark.browser
CHROMIUM = require_chromium()

from playwright.sync_api import Page  # noqa: E402


@pytest.fixture(scope="module")
def browser_page() -> Iterator[Page]:
    with page_without_javascript(CHROMIUM) as page:
        yield page


def incident_path(server: Server) -> str:
    incidents = json.loads(server.get("/api/v2/incidents.json")[2])["incidents"]
    example = next(i for i in incidents if i["name"] == "Cluster A - Inbound Delays")
    return f"/incidents/{example['id']}"


def test_it_shows_the_banner_and_the_component(browser_page: Page, demo_server: Server) -> None:
    browser_page.goto(demo_server.url + "/")
    assert browser_page.title()
    main = browser_page.locator("main")
    assert "All Systems Operational" in main.inner_text()
    assert browser_page.get_by_text("Hosted Email").first.is_visible()
    assert browser_page.get_by_text("Cluster A").first.is_visible()


def test_it_shows_the_incident_as_it_happened(browser_page: Page, demo_server: Server) -> None:
    browser_page.goto(demo_server.url + incident_path(demo_server))
    text = browser_page.locator("main").inner_text()
    assert "Cluster A - Inbound Delays" in text
    # Updates newest first, each in UTC and in the page's zone.
    resolved, identified, investigating = (
        text.index("Posted Jul 08, 2021 - 17:28 UTC"),
        text.index("Posted Jul 08, 2021 - 16:50 UTC"),
        text.index("Posted Jul 08, 2021 - 16:04 UTC"),
    )
    assert resolved < identified < investigating
    assert "1:28 PM EDT" in text and "12:04 PM EDT" in text
    assert "This incident affected: Hosted Email (Cluster A)" in text
    # Both impact windows the postmortem describes, and the truth next to "26 minutes".
    assert "11:57 AM" in text and "12:23 PM" in text
    assert "2:04 PM" in text and "1:43 PM" in text
    assert "Total Duration:26 minutes" in text
    assert "1 d" in text
