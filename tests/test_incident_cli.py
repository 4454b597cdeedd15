"""CLI parity: incident open|update|resolve|reopen, change record, postmortem actions."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from heliograph.audit.models import AuditEvent
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import DEGRADED, OPERATIONAL
from heliograph.incidents.models import Change, Incident
from tests.support.state import full_state


def run(*args: str) -> tuple[dict[str, Any], str]:
    out, err = StringIO(), StringIO()
    call_command(*args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


def test_it_runs_an_incident_end_to_end_from_the_command_line(
    page: Page, cluster_a: Component
) -> None:
    opened, _ = run(
        "incident",
        "open",
        "Inbound delays",
        "--page",
        "OpenSRS",
        "--reference",
        "INC-7",
        "--body",
        "Delays.",
        "--component",
        f"Cluster A={DEGRADED}",
        "--at",
        "2024-01-01T10:00Z",
    )
    assert (opened["status"], opened["impact"], opened["warnings"]) == (
        "investigating",
        "minor",
        [],
    )
    resolved, warned = run(
        "incident",
        "resolve",
        "INC-7",
        "--page",
        "OpenSRS",
        "--at",
        "2024-01-01T10:30Z",
        "--body",
        "Total Duration: 5 minutes",
    )
    assert resolved["status"] == "resolved"
    assert resolved["warnings"] == [
        "The text states a duration of 5 minutes; the recorded impact windows add up to 30 minutes."
    ]
    assert warned.startswith("Warning: The text states a duration of 5 minutes")
    cluster_a.refresh_from_db()
    assert cluster_a.status == OPERATIONAL  # resolving restored the impaired component
    reopened, _ = run(
        "incident",
        "reopen",
        "INC-7",
        "--page",
        "OpenSRS",
        "--body",
        "Back again.",
        "--at",
        "2024-01-01T12:00Z",
        "--component",
        f"Cluster A={DEGRADED}",
    )
    assert reopened["status"] == "investigating"
    incident = Incident.objects.get(reference="INC-7")
    assert incident.updates.get(display_at__hour=12).reopened
    updated, _ = run(
        "incident",
        "update",
        "INC-7",
        "--page",
        "OpenSRS",
        "--status",
        "identified",
        "--body",
        "Found it.",
        "--at",
        "2024-01-01T12:10Z",
    )
    assert updated["status"] == "identified"
    assert AuditEvent.objects.filter(target_id=incident.pk, actor="cli").exists()


def test_it_resolves_with_a_default_text(incident: Incident, page: Page) -> None:
    run("incident", "reopen", "PR-2142", "--page", "OpenSRS", "--body", "Again.")
    resolved, _ = run("incident", "resolve", "PR-2142", "--page", "OpenSRS")
    assert resolved["status"] == "postmortem"
    latest = incident.updates.order_by("-display_at", "-created_at").first()
    assert latest is not None and latest.body == "This incident has been resolved."


def test_it_records_a_change_from_the_command_line(page: Page, cluster_a: Component) -> None:
    change, _ = run(
        "change",
        "record",
        "Deploy 4.2",
        "--page",
        "OpenSRS",
        "--component",
        "Cluster A",
        "--source",
        "config",
        "--link",
        "https://ci.example.com/42",
        "--at",
        "2021-07-08T15:54Z",
    )
    assert (change["title"], change["source"], change["components"]) == (
        "Deploy 4.2",
        "config",
        [cluster_a.pk],
    )
    assert change["at"] == "2021-07-08T15:54:00+00:00"
    assert Change.objects.get().link == "https://ci.example.com/42"


def test_it_drafts_publishes_and_reverts_a_postmortem(incident: Incident, tmp_path: Path) -> None:
    reverted, _ = run("postmortem", "revert", "PR-2142", "--page", "OpenSRS")
    assert reverted["status"] == "resolved"
    prefilled, _ = run("postmortem", "draft", "PR-2142", "--page", "OpenSRS")
    assert "Total duration: 1 d 5 min" in prefilled["body_draft"]
    draft = tmp_path / "pm.md"
    draft.write_text("What happened.")
    run("postmortem", "draft", "PR-2142", "--page", "OpenSRS", "--body-file", str(draft))
    published, _ = run("postmortem", "publish", "PR-2142", "--page", "OpenSRS", "--notify")
    assert published["status"] == "postmortem"
    incident.refresh_from_db()
    assert (incident.postmortem.body, incident.postmortem.notify_subscribers) == (
        "What happened.",
        True,
    )


def test_it_schedules_and_reschedules_a_maintenance_from_the_command_line(page: Page) -> None:
    default, _ = run(
        "maintenance",
        "schedule",
        "Storage upgrade",
        "--page",
        "OpenSRS",
        "--start",
        "2030-01-01T02:00Z",
        "--end",
        "2030-01-01T04:00Z",
    )
    assert (default["remind_prior"], default["auto_in_progress"], default["auto_completed"]) == (
        False,
        True,
        True,
    )
    by_hand, _ = run(
        "maintenance",
        "schedule",
        "Disk swap",
        "--page",
        "OpenSRS",
        "--remind-prior",
        "--no-auto-start",
        "--no-auto-complete",
        "--start",
        "2030-01-01T02:00Z",
        "--end",
        "2030-01-01T04:00Z",
    )
    stored = Incident.objects.get(pk=by_hand["id"])
    assert (
        stored.scheduled_remind_prior,
        stored.scheduled_auto_in_progress,
        stored.scheduled_auto_completed,
    ) == (True, False, False)
    moved, _ = run(
        "maintenance",
        "reschedule",
        default["id"],
        "--page",
        "OpenSRS",
        "--start",
        "2030-01-02T02:00Z",
        "--end",
        "2030-01-02T05:00Z",
    )
    assert (moved["scheduled_for"], moved["scheduled_until"]) == (
        "2030-01-02T02:00:00+00:00",
        "2030-01-02T05:00:00+00:00",
    )
    out = StringIO()
    call_command(
        "maintenance",
        "reschedule",
        default["id"],
        "--page",
        "OpenSRS",
        "--end",
        "2030-01-02T06:00Z",
        stdout=out,
    )
    assert out.getvalue().strip() == f"rescheduled {default['id']}"
    assert Incident.objects.get(pk=default["id"]).scheduled_until.hour == 6
    event = AuditEvent.objects.filter(action="maintenance.reschedule").last()
    assert event is not None and event.actor == "cli"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            (
                "incident",
                "reopen",
                "PR-2142",
                "--page",
                "OpenSRS",
                "--body",
                "b",
                "--status",
                "resolved",
            ),
            "reopen with one of",
        ),
        (("incident", "reopen", "PR-2142", "--page", "OpenSRS"), "give the text with --body"),
        (
            ("change", "record", "Deploy", "--page", "OpenSRS", "--source", "whim"),
            "unknown change source 'whim'",
        ),
        (
            ("change", "record", "Deploy", "--page", "OpenSRS", "--component", "Nope"),
            "no component with id or name 'Nope'",
        ),
        (("postmortem", "publish", "PR-2142", "--page", "OpenSRS", "--body", " "), "needs a body"),
        (("postmortem", "revert", "PR-9", "--page", "OpenSRS"), "no incident"),
        (
            ("maintenance", "reschedule", "PR-2142", "--page", "OpenSRS", "--start", "2030-01-01"),
            "is an incident, not a maintenance",
        ),
        (
            ("maintenance", "reschedule", "PR-9", "--page", "OpenSRS", "--start", "2030-01-01"),
            "no incident",
        ),
        (
            ("maintenance", "reschedule", "PR-2142", "--page", "OpenSRS", "--start", "soon"),
            "cannot read the time 'soon'",
        ),
        (
            (
                "maintenance",
                "schedule",
                "Upgrade",
                "--page",
                "OpenSRS",
                "--no-auto-start",
                "--start",
                "2030-01-01T04:00Z",
                "--end",
                "2030-01-01T02:00Z",
            ),
            "must end after it starts",
        ),
    ],
)
def test_it_refuses_bad_commands_in_one_line(page: Page, args: tuple[str, ...], words: str) -> None:
    before = full_state()
    with pytest.raises(CommandError) as raised:
        call_command(*args, stdout=StringIO(), stderr=StringIO())
    assert words in str(raised.value) and "\n" not in str(raised.value)
    assert full_state() == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--end", "2030-01-01T01:00Z"), "must end after it starts"),
        ((), "give a new start or end"),
        (("--start", "2030-01-01 02:00+99:00"), "cannot read the time"),
    ],
)
def test_it_refuses_a_bad_reschedule_in_one_line(
    page: Page, args: tuple[str, ...], words: str
) -> None:
    made, _ = run(
        "maintenance",
        "schedule",
        "Storage upgrade",
        "--page",
        "OpenSRS",
        "--start",
        "2030-01-01T02:00Z",
        "--end",
        "2030-01-01T04:00Z",
    )
    before = full_state()
    window = Incident.objects.filter(pk=made["id"]).values_list("scheduled_for", "scheduled_until")
    was = list(window)
    with pytest.raises(CommandError) as raised:
        call_command(
            "maintenance",
            "reschedule",
            made["id"],
            "--page",
            "OpenSRS",
            *args,
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert words in str(raised.value) and "\n" not in str(raised.value)
    assert full_state() == before and list(window) == was
