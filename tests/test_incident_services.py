"""Incident services for responders: open, update, reopen, edit, patch, delete, audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from heliograph.audit.models import AuditEvent
from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED, MAJOR, OPERATIONAL
from heliograph.incidents import lifecycle
from heliograph.incidents import maintenance as maintenance_rules
from heliograph.incidents import services as incidents
from heliograph.incidents.models import (
    Incident,
)
from heliograph.lib.errors import InputError
from heliograph.publish import html, v2json
from heliograph.publish.world import load_world
from tests.support.state import full_state
from tests.support.world import NOW


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def last_event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("id")


def windows(incident: Incident) -> list[lifecycle.Window]:
    return lifecycle.impact_windows(
        lifecycle.StatusStep(sc.component_id, sc.at, sc.new_status)
        for sc in incident.status_changes.all()
    )


@pytest.fixture
def other_page(page: Page) -> Page:
    other = catalog.create_page(name="Elsewhere", time_zone="Europe/Paris")
    catalog.create_component(page=other, name="Webmail")
    return other


# --- opening -------------------------------------------------------------------------------


def test_it_opens_an_incident_with_its_metadata_and_records_who(
    page: Page, cluster_a: Component
) -> None:
    change = incidents.record_change(page=page, title="rspamd 3.9", components=[cluster_a])
    opened = incidents.open_incident(
        page=page,
        name="Outbound delays",
        body="Looking.",
        components={cluster_a: MAJOR},
        metadata={"jira": "OPS-1"},
        caused_by=change,
        deliver_notifications=False,
        actor="user:alice",
    )
    opened.refresh_from_db()
    assert (opened.metadata, opened.caused_by_change, opened.impact) == (
        {"jira": "OPS-1"},
        change,
        "critical",
    )
    assert opened.updates.get().deliver_notifications is False
    event = last_event("incident.create")
    assert (event.actor, event.target_id, event.page_id) == ("user:alice", opened.pk, page.pk)
    assert event.before is None and event.after is not None
    assert event.after["name"] == "Outbound delays" and event.after["status"] == "investigating"
    first = opened.updates.get()
    assert not AuditEvent.objects.filter(target_id=first.pk).exists()  # one event per action


def test_it_defaults_the_actor_to_the_command_line(page: Page) -> None:
    opened = incidents.open_incident(page=page, name="Slow", body="b")
    assert last_event("incident.create").actor == "cli"
    incidents.post_update(incident=opened, status="identified", body="Found it.")
    event = last_event("incident_update.create")
    assert (event.actor, event.before, event.after["status"]) == (  # type: ignore[index]
        "cli",
        {"status": "investigating", "resolved_at": None},
        "identified",
    )


# --- reopening -----------------------------------------------------------------------------


def test_it_reopens_a_resolved_incident_as_a_recurrence(page: Page, cluster_a: Component) -> None:
    opened = incidents.open_incident(
        page=page,
        name="Inbound delays",
        body="Delays.",
        at=utc(2024, 1, 1, 10),
        components={cluster_a: DEGRADED},
    )
    incidents.post_update(
        incident=opened,
        status="resolved",
        body="Fixed.",
        at=utc(2024, 1, 1, 10, 30),
        components={cluster_a: OPERATIONAL},
    )
    again = incidents.post_update(
        incident=opened,
        status="investigating",
        body="It is back.",
        at=utc(2024, 1, 1, 12),
        components={cluster_a: MAJOR},
        actor="user:bob",
    )
    opened.refresh_from_db()
    assert again.reopened
    assert (opened.status, opened.resolved_at, opened.impact) == ("investigating", None, "critical")
    event = last_event("incident.reopen")
    resolved = {"status": "resolved", "resolved_at": "2024-01-01T10:30:00+00:00"}
    assert (event.actor, event.before) == ("user:bob", resolved)

    incidents.post_update(
        incident=opened,
        status="resolved",
        body="Fixed for good.",
        at=utc(2024, 1, 1, 13),
        components={cluster_a: OPERATIONAL},
    )
    opened.refresh_from_db()
    assert (opened.status, opened.resolved_at) == ("resolved", utc(2024, 1, 1, 13))
    assert [(w.start, w.end) for w in windows(opened)] == [
        (utc(2024, 1, 1, 10), utc(2024, 1, 1, 10, 30)),
        (utc(2024, 1, 1, 12), utc(2024, 1, 1, 13)),
    ]
    assert lifecycle.total_duration(windows(opened), NOW) == timedelta(minutes=90)

    world = load_world(page, now=NOW)
    shown = [v.label for v in html.event_view(opened, world).updates]
    assert shown == ["Resolved", "Recurred · Investigating", "Resolved", "Investigating"]
    page_html = html.render(world)[f"/incidents/{opened.pk}"][1].decode()
    assert "Recurred · Investigating" in page_html and "1 h 30 min" in page_html
    statuses = [u["status"] for u in v2json.incident_json(world, opened)["incident_updates"]]
    assert statuses == ["resolved", "investigating", "resolved", "investigating"]


def test_it_reopens_the_example_explicitly_and_keeps_every_window(
    incident: Incident, cluster_a: Component
) -> None:
    update = incidents.reopen_incident(
        incident=incident,
        body="Delays again.",
        status="identified",
        at=utc(2021, 7, 22, 9),
        components={cluster_a: DEGRADED},
        actor="user:carol",
    )
    incident.refresh_from_db()
    assert update.reopened and incident.status == "identified"
    incidents.post_update(
        incident=incident,
        status="resolved",
        body="Done.",
        at=utc(2021, 7, 22, 10),
        components={cluster_a: OPERATIONAL},
    )
    incident.refresh_from_db()
    assert incident.status == "postmortem"  # the published postmortem still stands
    assert len(windows(incident)) == 3
    assert lifecycle.total_duration(windows(incident), NOW) == timedelta(hours=25, minutes=5)
    assert last_event("incident.reopen").actor == "user:carol"


def test_it_does_not_call_an_update_before_the_resolution_a_recurrence(
    incident: Incident,
) -> None:
    backfilled = incidents.post_update(
        incident=incident, status="monitoring", body="Watching.", at=utc(2021, 7, 8, 17)
    )
    incident.refresh_from_db()
    assert not backfilled.reopened
    assert incident.status == "postmortem"


# --- patching, deleting, editing -----------------------------------------------------------


def test_it_patches_plain_fields_and_audits_before_and_after(incident: Incident) -> None:
    incidents.update_incident(
        incident=incident,
        actor="key:bot",
        name="Cluster A inbound delays",
        impact_override="major",
        metadata={"ticket": 7},
        reference="PR-2143",
        started_at=utc(2021, 7, 8, 15, 50),
    )
    incident.refresh_from_db()
    assert (incident.name, incident.impact, incident.reference, incident.metadata) == (
        "Cluster A inbound delays",
        "major",
        "PR-2143",
        {"ticket": 7},
    )
    assert incident.started_at == utc(2021, 7, 8, 15, 50)
    assert incident.status == "postmortem"
    event = last_event("incident.update")
    assert event.actor == "key:bot"
    assert (event.before["name"], event.after["name"]) == (  # type: ignore[index]
        "Cluster A - Inbound Delays",
        "Cluster A inbound delays",
    )


def test_it_deletes_an_incident_but_keeps_the_component_timeline(
    page: Page, incident: Incident, cluster_a: Component
) -> None:
    before = catalog.Page.objects.get(pk=page.pk).version
    rows, incident_id = cluster_a.status_changes.count(), incident.pk
    incidents.delete_incident(incident=incident, actor="user:alice")
    assert not Incident.objects.filter(pk=incident_id).exists()
    assert cluster_a.status_changes.count() == rows
    assert catalog.Page.objects.get(pk=page.pk).version > before
    event = last_event("incident.delete")
    assert (event.target_id, event.before["reference"], event.after) == (  # type: ignore[index]
        incident_id,
        "PR-2142",
        None,
    )


def test_it_keeps_the_previous_text_when_an_update_is_edited(
    page: Page, incident: Incident
) -> None:
    resolved = incident.updates.get(status="resolved")
    incidents.edit_update(
        update=resolved,
        actor="user:alice",
        body="Resolved. Impact returned later; see the postmortem.",
        display_at=utc(2021, 7, 8, 17, 30),
        deliver_notifications=False,
    )
    resolved.refresh_from_db()
    assert resolved.body.startswith("Resolved. Impact returned")
    assert (resolved.display_at, resolved.deliver_notifications) == (
        utc(2021, 7, 8, 17, 30),
        False,
    )
    assert resolved.edited_at is not None
    revision = resolved.revisions.get()
    assert "Total Duration:26 minutes" in revision.body
    assert (revision.display_at, revision.actor) == (utc(2021, 7, 8, 17, 28), "user:alice")
    incident.refresh_from_db()
    assert incident.resolved_at == utc(2021, 7, 8, 17, 30)
    event = last_event("incident_update.edit")
    assert "26 minutes" in event.before["body"]  # type: ignore[index]
    page_html = html.render(load_world(page, now=NOW))[f"/incidents/{incident.pk}"][1].decode()
    assert page_html.count('class="edited"') == 1


def test_it_keeps_every_revision_across_edits(incident: Incident) -> None:
    update = incident.updates.get(status="identified")
    original = update.body
    incidents.edit_update(update=update, body="Second text.")
    incidents.edit_update(update=update, body="Third text.")
    assert [r.body for r in update.revisions.all()] == [original, "Second text."]


def test_it_changes_only_the_notification_flag_without_a_revision(incident: Incident) -> None:
    update = incident.updates.get(status="identified")
    incidents.edit_update(update=update, deliver_notifications=False)
    update.refresh_from_db()
    assert (update.deliver_notifications, update.edited_at, update.revisions.count()) == (
        False,
        None,
        0,
    )


# --- refused input writes nothing ----------------------------------------------------------

Call = Callable[[Page, Component, Incident, Page], object]


def bad_calls() -> dict[str, Call]:
    return {
        "reopen before the resolution": lambda p, c, i, o: incidents.reopen_incident(
            incident=i, body="again", at=utc(2021, 7, 8, 16, 30)
        ),
        "reopen as resolved": lambda p, c, i, o: incidents.reopen_incident(
            incident=i, body="again", status="resolved", at=utc(2021, 7, 22)
        ),
        "reopen without text": lambda p, c, i, o: incidents.reopen_incident(
            incident=i, body=" ", at=utc(2021, 7, 22), components={c: MAJOR}
        ),
        "reopen with a component of another page": lambda p, c, i, o: incidents.reopen_incident(
            incident=i, body="again", at=utc(2021, 7, 22), components={o.components.get(): MAJOR}
        ),
        "open with metadata that is not an object": lambda p, c, i, o: incidents.open_incident(
            page=p,
            name="New",
            body="b",
            metadata=["x"],
            components={c: MAJOR},  # type: ignore[arg-type]
        ),
        "open caused by an incident that is no maintenance": lambda p, c, i, o: (
            incidents.open_incident(page=p, name="New", body="b", caused_by=i)
        ),
        "open without a name": lambda p, c, i, o: incidents.open_incident(
            page=p, name=" ", body="b", components={c: MAJOR}
        ),
        "open without a body": lambda p, c, i, o: incidents.open_incident(
            page=p, name="New", body="", components={c: MAJOR}
        ),
        "patch with an empty name": lambda p, c, i, o: incidents.update_incident(
            incident=i, name="", reference="PR-1"
        ),
        "patch with an unknown impact": lambda p, c, i, o: incidents.update_incident(
            incident=i, name="Renamed", impact_override="huge"
        ),
        "patch a start after the first update": lambda p, c, i, o: incidents.update_incident(
            incident=i, name="Renamed", started_at=utc(2021, 7, 8, 17)
        ),
        "patch a reference too long": lambda p, c, i, o: incidents.update_incident(
            incident=i, reference="R" * 65
        ),
        "edit to an empty text": lambda p, c, i, o: incidents.edit_update(
            update=i.updates.get(status="resolved"), body="  "
        ),
        "edit to a time before the incident": lambda p, c, i, o: incidents.edit_update(
            update=i.updates.get(status="resolved"), body="new", display_at=utc(2021, 7, 1)
        ),
    }


@pytest.mark.parametrize("case", list(bad_calls()))
def test_it_refuses_bad_input_and_writes_nothing(
    case: str, page: Page, cluster_a: Component, incident: Incident, other_page: Page
) -> None:
    before = full_state()
    with pytest.raises(InputError) as raised:
        bad_calls()[case](page, cluster_a, incident, other_page)
    assert str(raised.value) and "\n" not in str(raised.value)
    assert full_state() == before


def test_it_leaves_the_callers_incident_untouched_when_a_patch_is_refused(
    incident: Incident,
) -> None:
    with pytest.raises(InputError):
        incidents.update_incident(incident=incident, name="Renamed", impact_override="huge")
    assert incident.name == "Cluster A - Inbound Delays"


def test_it_refuses_to_reopen_an_incident_that_is_still_open(page: Page) -> None:
    opened = incidents.open_incident(page=page, name="Slow", body="Looking.")
    before = full_state()
    with pytest.raises(InputError, match="only a resolved incident can be reopened"):
        incidents.reopen_incident(incident=opened, body="again")
    assert full_state() == before


def test_it_refuses_to_reopen_a_maintenance(page: Page, cluster_a: Component) -> None:
    maintenance = incidents.schedule_maintenance(
        page=page,
        name="Upgrade",
        body="b",
        scheduled_for=utc(2030, 1, 1, 2),
        scheduled_until=utc(2030, 1, 1, 4),
        components=[cluster_a],
        actor="user:alice",
    )
    assert last_event("maintenance.create").actor == "user:alice"
    before = full_state()
    with pytest.raises(InputError, match="maintenance cannot be reopened"):
        incidents.reopen_incident(incident=maintenance, body="again")
    assert full_state() == before


# --- maintenance flags and rescheduling ----------------------------------------------------


def schedule_upgrade(page: Page, cluster_a: Component, **flags: bool) -> Incident:
    return incidents.schedule_maintenance(
        page=page,
        name="Upgrade",
        body="b",
        scheduled_for=utc(2030, 1, 1, 2),
        scheduled_until=utc(2030, 1, 1, 4),
        components=[cluster_a],
        at=utc(2029, 12, 1),
        **flags,  # type: ignore[arg-type]
    )


def window_of(maintenance: Incident) -> tuple[object, ...]:
    return tuple(
        Incident.objects.filter(pk=maintenance.pk).values_list(
            "scheduled_for", "scheduled_until", "started_at", "metadata"
        )[0]
    )


def test_it_schedules_a_maintenance_with_its_automation_flags(
    page: Page, cluster_a: Component
) -> None:
    default = schedule_upgrade(page, cluster_a)
    assert (
        default.scheduled_remind_prior,
        default.scheduled_auto_in_progress,
        default.scheduled_auto_completed,
    ) == (False, True, True)
    by_hand = schedule_upgrade(
        page, cluster_a, remind_prior=True, auto_in_progress=False, auto_completed=False
    )
    by_hand.refresh_from_db()
    assert (
        by_hand.scheduled_remind_prior,
        by_hand.scheduled_auto_in_progress,
        by_hand.scheduled_auto_completed,
    ) == (True, False, False)
    # The worker goes by them: nothing starts at the start time without the flag.
    assert maintenance_rules.run_due(now=utc(2030, 1, 1, 2)) == 1
    assert (fresh(default).status, fresh(by_hand).status) == ("in_progress", "scheduled")


def test_it_reschedules_a_maintenance_and_audits_it(page: Page, cluster_a: Component) -> None:
    upgrade = schedule_upgrade(page, cluster_a)
    version = Page.objects.get(pk=page.pk).version
    moved = incidents.reschedule_maintenance(
        maintenance=upgrade,
        scheduled_for=utc(2030, 1, 2, 2),
        scheduled_until=utc(2030, 1, 2, 5),
        actor="user:alice",
    )
    assert (moved.scheduled_for, moved.scheduled_until, moved.started_at) == (
        utc(2030, 1, 2, 2),
        utc(2030, 1, 2, 5),
        utc(2030, 1, 2, 2),
    )
    assert Page.objects.get(pk=page.pk).version > version
    event = last_event("maintenance.reschedule")
    assert event.actor == "user:alice"
    assert event.before["scheduled_for"].startswith("2030-01-01 02:00")  # type: ignore[index]
    assert event.after["scheduled_for"].startswith("2030-01-02 02:00")  # type: ignore[index]
    # Only the end: the start stays.
    incidents.reschedule_maintenance(maintenance=upgrade, scheduled_until=utc(2030, 1, 2, 6))
    assert window_of(upgrade)[:2] == (utc(2030, 1, 2, 2), utc(2030, 1, 2, 6))
    # The public page shows the new window.
    shown = v2json.render(load_world(Page.objects.get(pk=page.pk), now=NOW))
    upcoming = shown["/api/v2/scheduled-maintenances/upcoming.json"][1]
    assert b'"scheduled_for":"2030-01-01T21:00:00.000-05:00"' in upcoming  # in the page's zone


def test_it_makes_a_sent_reminder_due_again_when_the_start_moves(
    page: Page, cluster_a: Component, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance_rules, "REMINDER_HOOKS", [])
    upgrade = schedule_upgrade(page, cluster_a, remind_prior=True)
    upgrade.metadata = {"jira": {"issue": "OPS-1"}}
    upgrade.save(update_fields=["metadata"])
    assert maintenance_rules.run_due(now=utc(2030, 1, 1, 1, 30)) == 1  # the reminder
    # A new end keeps the reminder: it went out for the same start.
    incidents.reschedule_maintenance(maintenance=upgrade, scheduled_until=utc(2030, 1, 1, 5))
    assert maintenance_rules.notes(fresh(upgrade)).reminder_recorded_at is not None
    assert maintenance_rules.run_due(now=utc(2030, 1, 1, 1, 40)) == 0
    incidents.reschedule_maintenance(
        maintenance=upgrade, scheduled_for=utc(2030, 1, 3, 2), scheduled_until=utc(2030, 1, 3, 4)
    )
    assert maintenance_rules.notes(fresh(upgrade)).reminder_recorded_at is None
    assert fresh(upgrade).metadata == {"jira": {"issue": "OPS-1"}}  # the client's, untouched
    assert maintenance_rules.run_due(now=utc(2030, 1, 3, 1, 30)) == 1  # reminded again
    assert maintenance_rules.notes(fresh(upgrade)).reminder_recorded_at == utc(2030, 1, 3, 1, 30)


def test_it_refuses_to_reschedule_what_cannot_move_and_writes_nothing(
    page: Page, cluster_a: Component, incident: Incident
) -> None:
    upgrade = schedule_upgrade(page, cluster_a)
    started = schedule_upgrade(page, cluster_a)
    maintenance_rules.start_maintenance(maintenance=started, at=utc(2029, 12, 31))
    before, windows_before = full_state(), [window_of(upgrade), window_of(started)]
    refused = {
        "an incident": lambda: incidents.reschedule_maintenance(
            maintenance=incident, scheduled_for=utc(2030, 1, 1)
        ),
        "in_progress": lambda: incidents.reschedule_maintenance(
            maintenance=started, scheduled_for=utc(2030, 1, 5)
        ),
        "end after it starts": lambda: incidents.reschedule_maintenance(
            maintenance=upgrade, scheduled_for=utc(2030, 1, 1, 4)
        ),
        "new start or end": lambda: incidents.reschedule_maintenance(maintenance=upgrade),
    }
    for words, call in refused.items():
        with pytest.raises(InputError, match=words) as raised:
            call()
        assert "\n" not in str(raised.value)
    assert full_state() == before
    assert [window_of(upgrade), window_of(started)] == windows_before


def fresh(incident: Incident) -> Incident:
    incident.refresh_from_db()
    return incident


def test_it_accepts_an_in_progress_update_before_the_maintenance_window(page) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from heliograph.incidents.services import post_update, schedule_maintenance

    start = timezone.now() + timedelta(hours=2)
    maintenance = schedule_maintenance(
        page=page,
        name="Rspamd upgrade",
        body="Upgrading rspamd.",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=1),
    )
    post_update(incident=maintenance, status="in_progress", body="Starting early.")
    maintenance.refresh_from_db()
    assert maintenance.status == "in_progress"
