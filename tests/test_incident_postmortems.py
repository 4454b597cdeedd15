"""Postmortems: drafts, publishing (status postmortem), reverting, the pre-filled text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from heliograph.publish import v2json
from heliograph.publish.world import load_world
from tests.support.state import full_state
from tests.support.world import NOW


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_it_reverts_a_published_postmortem_to_a_draft(page: Page, incident: Incident) -> None:
    text = incident.postmortem.body
    incidents.revert_postmortem(incident=incident, actor="user:alice")
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert (incident.postmortem.published_at, incident.postmortem.body_draft) == (None, text)
    world = load_world(page, now=NOW)
    assert world.postmortem(incident) is None
    assert v2json.incident_json(world, incident)["status"] == "resolved"
    event = AuditEvent.objects.get(action="postmortem.revert")
    assert event.actor == "user:alice"
    assert event.before["published_at"] == "2021-07-21T20:20:00+00:00"  # type: ignore[index]
    assert event.after["published_at"] is None  # type: ignore[index]


def test_it_publishes_the_saved_draft(incident: Incident) -> None:
    incidents.revert_postmortem(incident=incident)
    incidents.save_postmortem_draft(incident=incident, body="Revised draft.", actor="user:bob")
    incident.refresh_from_db()
    assert incident.status == "resolved"  # a draft is not public
    assert incident.postmortem.body == ""
    published = incidents.publish_postmortem(
        incident=incident, at=utc(2021, 7, 23), notify_subscribers=True, actor="user:bob"
    )
    incident.refresh_from_db()
    assert incident.status == "postmortem"
    assert (published.body, published.notify_subscribers) == ("Revised draft.", True)
    actions = AuditEvent.objects.filter(actor="user:bob").values_list("action", flat=True)
    assert sorted(actions) == ["postmortem.draft", "postmortem.publish"]


def test_it_keeps_the_published_text_while_a_new_draft_is_written(incident: Incident) -> None:
    published = incident.postmortem.body
    incidents.save_postmortem_draft(incident=incident, body="Work in progress.")
    incident.refresh_from_db()
    assert (incident.status, incident.postmortem.body) == ("postmortem", published)
    assert incident.postmortem.body_draft == "Work in progress."


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda i: incidents.revert_postmortem(incident=i), "no published postmortem"),
        (lambda i: incidents.publish_postmortem(incident=i), "needs a body"),
        (lambda i: incidents.publish_postmortem(incident=i, body="  "), "needs a body"),
    ],
)
def test_it_refuses_postmortem_actions_that_make_no_sense(
    page: Page, call: object, words: str
) -> None:
    opened = incidents.open_incident(page=page, name="Slow", body="b", at=utc(2024, 1, 1))
    incidents.post_update(incident=opened, status="resolved", body="ok", at=utc(2024, 1, 1, 1))
    before = full_state()
    with pytest.raises(InputError, match=words):
        call(opened)  # type: ignore[operator]
    assert full_state() == before


def test_it_refuses_a_postmortem_for_an_open_incident(page: Page) -> None:
    opened = incidents.open_incident(page=page, name="Slow", body="b")
    before = full_state()
    with pytest.raises(InputError, match="resolve the incident"):
        incidents.publish_postmortem(incident=opened, body="Too early.")
    assert full_state() == before


def test_it_prefills_the_postmortem_with_windows_updates_and_changes(
    page: Page, incident: Incident, cluster_a: Component
) -> None:
    incidents.record_change(
        page=page,
        title="rspamd config",
        components=[cluster_a],
        at=utc(2021, 7, 8, 15, 54),
        source="config",
    )
    text = incidents.prefill_postmortem(incident=incident, now=NOW)
    assert "Incident number: PR-2142" in text
    assert (
        "| Hosted Email (Cluster A) | degraded_performance | Jul 08, 2021 11:57 AM EDT "
        "(15:57 UTC) | Jul 08, 2021 12:23 PM EDT (16:23 UTC) | 26 min |"
    ) in text
    assert "Jul 09, 2021 1:43 PM EDT (17:43 UTC) | 23 h 39 min |" in text
    assert "Total duration: 1 d 5 min over 2 impact window(s)." in text
    assert "- **Jul 08, 2021 1:28 PM EDT (17:28 UTC)** — Resolved: Our engineering team" in text
    assert text.index("Investigating:") < text.index("Identified:") < text.index("Resolved:")
    assert 'began 3 minutes after config "rspamd config"' in text


def test_it_prefills_an_incident_without_impact(page: Page) -> None:
    opened = incidents.open_incident(page=page, name="Slow", body="Looking.", at=utc(2024, 1, 1))
    text = incidents.prefill_postmortem(incident=opened, now=NOW)
    assert "No impact recorded on any component." in text
    assert "- None recorded." in text


def test_it_shows_ongoing_windows_in_the_prefill(page: Page, cluster_a: Component) -> None:
    opened = incidents.open_incident(
        page=page, name="Slow", body="b", at=utc(2026, 11, 27, 10), components={cluster_a: DEGRADED}
    )
    text = incidents.prefill_postmortem(incident=opened, now=NOW)
    assert "| ongoing | 2 h |" in text
