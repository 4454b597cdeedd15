"""``heliograph monitors apply monitors.toml``: monitors kept in version control."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heliograph.audit.models import AuditEvent
from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.monitors import declarative, services
from heliograph.monitors.models import Monitor

PASSWORD = "imap-Secret-7f3a91"
FILE = """\
page = "OpenSRS"

[[monitor]]
name = "Inbound — Cluster A"
component = "Cluster A"
kind = "mail_roundtrip"
interval = 120
timeout = 60
automation = "draft"
public = true

[monitor.config]
smtp_host = "mx.cluster-a.example.net"
mail_from = "probe@example.org"
mail_to = "probe-a@example.net"
imap_host = "imap.example.net"
imap_username = "probe-a@example.net"

[monitor.secrets]
imap_password = { env = "CLUSTER_A_IMAP_PASSWORD" }

[[monitor]]
name = "Status site"
kind = "http"
[monitor.config]
url = "https://status.example.net/"
"""


class Run:
    def __init__(self, out: str, err: str) -> None:
        self.out, self.err = out, err


def monitors(*args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    call_command("monitors", *args, stdout=out, stderr=err)
    return Run(out.getvalue(), err.getvalue())


def refused(*args: str) -> tuple[str, str]:
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("monitors", *args, stdout=io.StringIO(), stderr=err)
    return str(caught.value), err.getvalue()


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTER_A_IMAP_PASSWORD", PASSWORD)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "monitors.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_it_creates_then_reports_unchanged_then_updates(
    page: Page, cluster_a: Component, tmp_path: Path, secret_env: None
) -> None:
    path = write(tmp_path, FILE)
    first = monitors("apply", path)
    assert "created       OpenSRS / Inbound — Cluster A" in first.out
    assert "2 created" in first.out
    inbound = Monitor.objects.get(name="Inbound — Cluster A")
    assert inbound.component == cluster_a and inbound.automation == "draft" and inbound.public
    assert (inbound.interval_seconds, inbound.timeout_seconds) == (120, 60.0)
    assert inbound.secrets == {"imap_password": PASSWORD}
    assert "2 unchanged" in monitors("apply", path).out
    changed = write(tmp_path, FILE.replace("interval = 120", "interval = 90"))
    again = monitors("apply", changed)
    assert "updated       OpenSRS / Inbound — Cluster A  (interval_seconds)" in again.out
    assert Monitor.objects.get(pk=inbound.pk).interval_seconds == 90
    everything = first.out + again.out + first.err + again.err
    assert PASSWORD not in everything
    assert PASSWORD not in json.dumps(list(AuditEvent.objects.values("before", "after")))


def test_it_names_a_changed_secret_but_never_shows_it(
    page: Page, cluster_a: Component, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUSTER_A_IMAP_PASSWORD", "old-password-123")
    path = write(tmp_path, FILE)
    monitors("apply", path)
    monkeypatch.setenv("CLUSTER_A_IMAP_PASSWORD", PASSWORD)
    run = monitors("apply", path, "--json")
    report = json.loads(run.out)
    assert report["updated"] == [
        {"page": "OpenSRS", "name": "Inbound — Cluster A", "changes": ["secrets.imap_password"]}
    ]
    assert PASSWORD not in run.out and "old-password-123" not in run.out
    assert Monitor.objects.get(kind="mail_roundtrip").secrets == {"imap_password": PASSWORD}


def test_it_prunes_only_the_files_pages_when_asked(
    page: Page, tmp_path: Path, secret_env: None
) -> None:
    other = catalog.create_page(name="Elsewhere")
    tcp = {"host": "mx.example.net", "port": 25}
    services.create_monitor(page=page, name="Old check", kind="tcp", config=tcp)
    services.create_monitor(page=other, name="Theirs", kind="tcp", config=tcp)
    path = write(tmp_path, FILE)
    monitors("apply", path)
    assert Monitor.objects.filter(name="Old check").exists()
    plan = monitors("apply", path, "--prune", "--dry-run")
    assert "would delete  OpenSRS / Old check" in plan.out
    assert Monitor.objects.filter(name="Old check").exists()
    done = monitors("apply", path, "--prune")
    assert "deleted       OpenSRS / Old check" in done.out
    names = set(Monitor.objects.values_list("name", flat=True))
    assert names == {"Inbound — Cluster A", "Status site", "Theirs"}


def test_it_changes_nothing_on_a_dry_run(page: Page, tmp_path: Path, secret_env: None) -> None:
    run = monitors("apply", write(tmp_path, FILE), "--dry-run")
    assert "would create  OpenSRS / Inbound — Cluster A" in run.out
    assert "2 would create" in run.out
    assert (
        not Monitor.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="monitor.").exists()
    )


def test_it_refuses_a_secret_written_in_the_file(page: Page, tmp_path: Path) -> None:
    literal = FILE.replace('{ env = "CLUSTER_A_IMAP_PASSWORD" }', f'"{PASSWORD}"')
    message, err = refused("apply", write(tmp_path, literal))
    assert "1 error in" in message and "nothing changed" in message
    assert "monitor 1 'Inbound — Cluster A' (line 3): secrets.imap_password: write" in err
    assert "a secret's value never goes in the file" in err
    assert PASSWORD not in message + err
    in_config = FILE.replace(
        "[monitor.secrets]", f'imap_password = "{PASSWORD}"\n[monitor.secrets]'
    )
    _, err = refused("apply", write(tmp_path, in_config))
    assert "config.imap_password is a secret: give it under [monitor.secrets]" in err
    assert PASSWORD not in err
    assert not Monitor.objects.exists()


def test_it_refuses_a_secret_whose_variable_is_not_set(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLUSTER_A_IMAP_PASSWORD", raising=False)
    _, err = refused("apply", write(tmp_path, FILE))
    assert "the environment variable CLUSTER_A_IMAP_PASSWORD is not set" in err
    assert not Monitor.objects.exists()


def test_it_checks_the_whole_file_before_changing_anything(
    page: Page, tmp_path: Path, secret_env: None
) -> None:
    broken = FILE.replace('url = "https://status.example.net/"', 'url = "ftp://x"') + (
        '\n[[monitor]]\nname = "Status site"\nkind = "tcp"\ninterval = 5\n'
        '[monitor.config]\nhost = "a.example"\nport = 25\n'
    )
    message, err = refused("apply", write(tmp_path, broken))
    assert "2 errors in" in message
    assert "monitor 2 'Status site' (line 22): config: url must be an http:// or https://" in err
    assert "monitor 3 'Status site' (line 28): the interval must be a whole number" in err
    assert not Monitor.objects.exists()


def test_it_refuses_a_name_given_twice(page: Page, tmp_path: Path, secret_env: None) -> None:
    twice = (
        FILE
        + '\n[[monitor]]\nname = "Status site"\nkind = "http"\n'
        + ('[monitor.config]\nurl = "https://status.example.net/"\n')
    )
    _, err = refused("apply", write(tmp_path, twice))
    assert "monitor 3 'Status site' (line 28): named twice on page 'OpenSRS'" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[monitor]\nname = 1", "not valid TOML: "),
        ('[[monitor]]\nname = "x"\nkind = "tcp"\nperiod = 1', "unknown key 'period'"),
        ('[[monitor]]\nname = "x"', "kind is required"),
        ('[[monitor]]\nname = "x"\nkind = "tcp"\npage = "Nowhere"', "no page with id or name"),
        ('[[monitor]]\nname = "x"\nkind = "tcp"\ncomponent = "Nope"', "has no component"),
        ("monitors = 1", "unknown top-level key 'monitors'"),
        ('[[monitor]]\nname = "a\\u0000b"\nkind = "tcp"', "name: text must not contain NUL"),
        ('[[monitor]]\nname = "a"\nkind = "tcp"\npage = "\\u0000"', "must not contain NUL"),
        (
            '[[monitor]]\nname = "x"\nkind = "tcp"\n[monitor.config]\nhost = "a"\nport = 1\n'
            "when = 2026-01-01",
            "config.when: date is not allowed",
        ),
    ],
)
def test_it_explains_what_is_wrong_with_a_file(
    page: Page, tmp_path: Path, text: str, expected: str
) -> None:
    message, err = refused("apply", write(tmp_path, text))
    assert expected in err
    assert "nothing changed" in message


def test_it_keeps_a_pause_the_file_does_not_mention(
    page: Page, tmp_path: Path, secret_env: None
) -> None:
    path = write(tmp_path, FILE)
    monitors("apply", path)
    site = Monitor.objects.get(name="Status site")
    services.pause_monitor(monitor=site, actor="user:alice")
    assert "2 unchanged" in monitors("apply", path).out
    assert Monitor.objects.get(pk=site.pk).paused
    resumed = FILE.replace('kind = "http"', 'kind = "http"\npaused = false')
    assert "(paused)" in monitors("apply", write(tmp_path, resumed)).out
    assert not Monitor.objects.get(pk=site.pk).paused


def test_it_says_when_the_file_cannot_be_read(page: Page, tmp_path: Path) -> None:
    message, _ = refused("apply", str(tmp_path / "missing.toml"))
    assert message.startswith("cannot read ")


def test_it_lists_monitors_with_secrets_as_set_only(
    page: Page, tmp_path: Path, secret_env: None
) -> None:
    monitors("apply", write(tmp_path, FILE))
    text = monitors("list").out
    assert "OpenSRS / Inbound — Cluster A  mail_roundtrip → Cluster A  every 120s" in text
    assert "not run yet" in text
    listed: dict[str, Any] = json.loads(monitors("list", "--json", "--page", "OpenSRS").out)
    inbound = next(m for m in listed["monitors"] if m["kind"] == "mail_roundtrip")
    assert inbound["secrets"] == {"imap_password": "set", "smtp_password": "not set"}
    assert PASSWORD not in text + json.dumps(listed)


LOOP_CHECK = """
[[monitor]]
name = "Filter loop — Cluster A"
component = "Cluster A"
kind = "rspamd"
{extra}
[monitor.config]
url = "http://rspamd.cluster-a.example.net:11334"
mode = "history"
"""


def test_it_round_trips_a_monitors_role_and_severity(
    page: Page, cluster_a: Component, tmp_path: Path, secret_env: None
) -> None:
    path = write(tmp_path, FILE + LOOP_CHECK.format(extra=""))
    monitors("apply", path)
    loop = Monitor.objects.get(kind="rspamd")
    inbound = Monitor.objects.get(kind="mail_roundtrip")
    assert (loop.role, loop.acts_as, loop.severity) == ("", "signal", "degraded_performance")
    assert inbound.acts_as == "path"
    worse = LOOP_CHECK.format(extra='severity = "partial_outage"')
    assert "(severity)" in monitors("apply", write(tmp_path, FILE + worse)).out
    assert "3 unchanged" in monitors("apply", write(tmp_path, FILE + worse)).out
    listed = json.loads(monitors("list", "--json").out)["monitors"]
    shown = {m["name"]: (m["role"], m["severity"]) for m in listed}
    assert shown["Filter loop — Cluster A"] == ("signal", "partial_outage")
    assert "(signal: partial_outage)" in monitors("list").out
    as_path = LOOP_CHECK.format(extra='role = "path"')
    assert "(role, severity)" in monitors("apply", write(tmp_path, FILE + as_path)).out
    assert Monitor.objects.get(pk=loop.pk).acts_as == "path"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('role = "detector"', "role must be one of path, signal"),
        ('severity = "catastrophic"', "severity must be one of degraded_performance"),
        ('role = "path"\nseverity = "major_outage"', "severity applies to signals only"),
    ],
)
def test_it_refuses_a_bad_role_or_severity_and_changes_nothing(
    page: Page, cluster_a: Component, tmp_path: Path, secret_env: None, extra: str, expected: str
) -> None:
    message, err = refused("apply", write(tmp_path, FILE + LOOP_CHECK.format(extra=extra)))
    assert expected in err and "nothing changed" in message
    assert not Monitor.objects.exists()


def test_it_applies_the_readmes_example_with_the_loop_check_as_a_signal(
    page: Page, cluster_a: Component
) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split('```toml\npage = "OpenSRS"', 1)[1].split("```", 1)[0]
    names = ("CLUSTER_A_INBOUND_IMAP_PASSWORD", "CLUSTER_A_OUTBOUND_SMTP_PASSWORD")
    environ = dict.fromkeys(
        (*names, "PROBE_MAILBOX_IMAP_PASSWORD", "CLUSTER_A_RSPAMD_PASSWORD"), "x"
    )
    declarative.apply_text('page = "OpenSRS"' + example, environ=environ)
    roles = {m.name: (m.acts_as, m.severity) for m in Monitor.objects.all()}
    assert roles["Filter loop — Cluster A"] == ("signal", "degraded_performance")
    assert {r for n, (r, _) in roles.items() if n != "Filter loop — Cluster A"} == {"path"}
    loop = Monitor.objects.get(kind="rspamd")
    assert (loop.config["quiet_minutes"], loop.config["window_minutes"]) == (2, 30)
