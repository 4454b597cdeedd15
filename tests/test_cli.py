"""The ``heliograph`` console script, run as a user runs it: a real process, its own database.

On SQLite the database is a file in a temporary data folder. When the test session runs on
PostgreSQL, the commands get a throwaway database on the same server, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from heliograph.cli import COMMANDS
from tests.support.cli import Installation
from tests.support.live import scratch_database


@pytest.fixture(scope="module")
def heliograph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """A migrated installation on the session's kind of database."""
    with scratch_database() as database_url:
        installation = Installation(tmp_path_factory.mktemp("heliograph-data"), database_url)
        installation.ok("migrate")
        yield installation


def test_it_lists_its_commands_and_answers_help_everywhere(tmp_path: Path) -> None:
    installation = Installation(tmp_path, None)  # help never touches the database
    usage = installation.run("--help")
    assert usage.returncode == 0
    for name in COMMANDS:
        assert f"  {name} " in usage.stdout

    invocations = [[name, "--help"] for name in COMMANDS] + [
        ["page", "create", "--help"],
        ["group", "create", "--help"],
        ["component", "create", "--help"],
        ["component", "set", "--help"],
        ["incident", "open", "--help"],
        ["incident", "update", "--help"],
        ["maintenance", "schedule", "--help"],
        ["postmortem", "publish", "--help"],
    ]
    running = [(args, installation.start(*args)) for args in invocations]
    for args, proc in running:
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, (args, stderr)
        assert "usage:" in stdout, args
        assert "Traceback" not in stderr, (args, stderr)
    assert not (tmp_path / "heliograph.sqlite3").exists()


def test_it_records_an_incident_from_the_command_line(
    heliograph: Installation, tmp_path: Path
) -> None:
    page = heliograph.json("page", "create", "OpenSRS", "--time-zone", "America/New_York")
    assert len(page["id"]) == 12 and page["name"] == "OpenSRS"
    assert f"{page['id']}  OpenSRS  (America/New_York)" in heliograph.ok("page", "list")
    group = heliograph.json("group", "create", "Hosted Email", "--page", "OpenSRS")
    component = heliograph.json(
        "component", "create", "Cluster A", "--page", page["id"], "--group", "Hosted Email"
    )

    opened = heliograph.json(
        "incident",
        "open",
        "Cluster A - Inbound Delays",
        "--page",
        "OpenSRS",
        "--reference",
        "PR-2142",
        "--backfilled",
        "--started-at",
        "2021-07-08T11:57-04:00",
        "--at",
        "2021-07-08 16:04",
        "--body",
        "We are currently experiencing inbound delays.",
        "--component",
        "Cluster A=degraded_performance",
    )
    assert len(opened["id"]) == 12
    assert opened["name"] == "Cluster A - Inbound Delays"
    assert (opened["status"], opened["impact"], opened["reference"]) == (
        "investigating",
        "minor",
        "PR-2142",
    )
    assert opened["shortlink"].endswith(f"/incidents/{opened['id']}")
    assert heliograph.query(
        f"SELECT group_id, status FROM catalog_component WHERE id = '{component['id']}'"
    ) == [(group["id"], "degraded_performance")]

    out = heliograph.ok(
        "incident",
        "update",
        "PR-2142",
        "--page",
        "OpenSRS",
        "--status",
        "resolved",
        "--at",
        "2021-07-08T17:28:00Z",
        "--body",
        "Total Duration:26 minutes",
        "--component",
        "Cluster A=operational",
    )
    assert f"{opened['id']} resolved: Cluster A - Inbound Delays" in out

    body = tmp_path / "postmortem.md"
    body.write_text("On July 8, 2021 at 11:57 AM ET, …\n\nThank you,\n\nTucows Engineering Team\n")
    published = heliograph.json(
        "postmortem",
        "publish",
        opened["id"],
        "--page",
        "OpenSRS",
        "--body-file",
        str(body),
        "--at",
        "2021-07-21T20:20Z",
    )
    assert published["status"] == "postmortem"
    assert heliograph.query("SELECT body FROM incidents_postmortem") == [(body.read_text(),)]

    maintenance = heliograph.json(
        "maintenance",
        "schedule",
        "Storage upgrade",
        "--page",
        "OpenSRS",
        "--start",
        "2030-01-01T02:00Z",
        "--end",
        "2030-01-01T04:00Z",
        "--component",
        "Cluster A",
    )
    assert (maintenance["status"], maintenance["impact"]) == ("scheduled", "maintenance")

    rows = heliograph.query(
        "SELECT id, status, resolved_at IS NOT NULL FROM incidents_incident ORDER BY created_at"
    )
    assert [row[:2] for row in rows] == [
        (opened["id"], "postmortem"),
        (maintenance["id"], "scheduled"),
    ]
    assert rows[0][2]
    changes = heliograph.query(
        "SELECT old_status, new_status FROM catalog_statuschange ORDER BY at"
    )
    assert changes == [
        ("operational", "degraded_performance"),
        ("degraded_performance", "operational"),
    ]
    assert heliograph.query("SELECT status FROM catalog_component") == [("operational",)]


# Each refused command, and the words its error line must contain.
BAD_INPUT = [
    (("incident", "open", "Outage", "--page", "Nope", "--body", "b"),
     "no page with id or name 'Nope'"),
    (("incident", "update", "INC-1", "--page", "Acme", "--status", "fixed", "--body", "b"),
     "unknown incident status 'fixed'"),
    (("incident", "update", "INC-1", "--page", "Acme", "--status", "identified", "--body", "b",
      "--component", "API=broken"), "unknown component status 'broken'"),
    (("incident", "update", "INC-1", "--page", "Acme", "--status", "identified", "--body", "b",
      "--component", "Webmail=major_outage"), "no component with id or name 'Webmail'"),
    (("incident", "update", "INC-1", "--page", "Acme", "--status", "identified", "--body", "b",
      "--component", "API=major_outage", "--at", "2021-13-40"),
     "cannot read the time '2021-13-40'"),
    (("incident", "update", "INC-1", "--page", "Acme", "--status", "identified", "--body", "b",
      "--component", "API=major_outage", "--at", "2024-01-01T09:59Z"),
     "before the incident started"),
    (("incident", "update", "INC-9", "--page", "Acme", "--status", "identified", "--body", "b"),
     "no incident with id or reference 'INC-9'"),
    (("incident", "open", "Second", "--page", "Acme", "--body", "b",
      "--component", "API=major_outage", "--started-at", "2021-13-40"),
     "cannot read the time '2021-13-40'"),
    (("maintenance", "schedule", "Upgrade", "--page", "Acme", "--component", "API",
      "--start", "2030-01-01T04:00Z", "--end", "2030-01-01T02:00Z"),
     "must end after it starts"),
    (("postmortem", "publish", "INC-1", "--page", "Acme", "--body-file", "/nonexistent/pm.md"),
     "cannot read /nonexistent/pm.md"),
    (("component", "set", "API", "sideways", "--page", "Acme"),
     "unknown component status 'sideways'"),
    (("page", "create", "Acme"), "already exists"),
    (("page", "create", "Mars", "--time-zone", "Mars/Olympus_Mons"), "unknown time zone"),
]  # fmt: skip


def test_it_refuses_bad_input_with_one_line_and_writes_nothing(
    heliograph: Installation,
) -> None:
    heliograph.ok("page", "create", "Acme")
    heliograph.ok("component", "create", "API", "--page", "Acme")
    heliograph.ok(
        "incident",
        "open",
        "API errors",
        "--page",
        "Acme",
        "--reference",
        "INC-1",
        "--at",
        "2024-01-01T10:00Z",
        "--body",
        "Looking.",
        "--component",
        "API=partial_outage",
    )
    before = heliograph.state()
    for args, words in BAD_INPUT:
        result = heliograph.run(*args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.stderr)
        assert words in lines[0], (args, result.stderr)
        assert result.stdout == "", args
        assert heliograph.state() == before, args


def test_the_demo_keeps_its_data_apart_from_a_real_install(tmp_path: Path) -> None:
    installation = Installation(tmp_path, None)
    del installation.env["HELIOGRAPH_DATA"]  # the defaults, in the folder it runs from
    assert installation.run("demo", "--help").returncode == 0
    assert installation.run("page", "list").returncode != 0  # ./var: never migrated
    assert (tmp_path / "var" / "demo" / "secret_key").exists()
    assert not (tmp_path / "var" / "demo" / "heliograph.sqlite3").exists()


@pytest.mark.parametrize(
    "name, value, shown",
    [
        ("DATABASE_URL", "mysql://db/heliograph", "sqlite://"),  # a URL may hold a password
        ("HELIOGRAPH_API_RATE", "fast", "'fast'"),
        ("HELIOGRAPH_SMTP_CONNECTIONS", "0", "'0'"),
        ("HELIOGRAPH_NOTIFY_LEASE_SECONDS", "forever", "'forever'"),
        ("HELIOGRAPH_WORKER_INTERVAL", "-1", "'-1'"),
        ("HELIOGRAPH_TRUSTED_PROXIES", "10.0.0.0/8, nginx", "'nginx'"),
        ("HELIOGRAPH_ALLOW_PRIVATE_TARGETS", "localnet", "'localnet'"),
    ],
)
def test_it_reports_bad_configuration_in_one_line(
    tmp_path: Path, name: str, value: str, shown: str
) -> None:
    # Every setting is read and checked at start-up, whatever the command will need.
    installation = Installation(tmp_path, None)
    result = installation.run("page", "list", env={name: value})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and shown in lines[0], result.stderr


def test_it_asks_for_migrate_instead_of_a_traceback(tmp_path: Path) -> None:
    with scratch_database() as database_url:
        fresh = Installation(tmp_path, database_url)  # never migrated
        result = fresh.run("page", "create", "Acme")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "heliograph migrate" in lines[0]

    unreachable = fresh.run("page", "list", env={"DATABASE_URL": "postgres://x@127.0.0.1:1/x"})
    assert unreachable.returncode != 0
    assert "Traceback" not in unreachable.stderr
    lines = unreachable.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), unreachable.stderr
    assert "database" in lines[0]
