"""``heliograph subscribers import FILE.csv``: an operator brings an existing list over."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from heliograph.audit.models import AuditEvent
from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.notify import importing, worker
from heliograph.notify.models import CONFIRMATION, EMAIL, WEBHOOK, Notification, Subscriber
from tests.support.cli import Installation
from tests.support.live import scratch_database
from tests.support.notify import relay, smtp_sink, subscribe

HOOK = "http://127.0.0.1:9/hook"


class Terminal(StringIO):
    """Captures output the way a terminal would receive it."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def cluster_b(page: Page) -> Component:
    return catalog.create_component(page=page, name="Cluster B")


def write_csv(tmp_path: Path, text: str, name: str = "subscribers.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def run(*args: Any, stderr: StringIO | None = None) -> tuple[str, str]:
    out, err = StringIO(), stderr or StringIO()
    call_command("subscribers", "import", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_json(*args: Any) -> dict[str, Any]:
    out, _ = run(*args, "--json")
    return json.loads(out)


def refused(*args: Any) -> tuple[str, str]:
    """The error line and what went to stderr before it."""
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        run(*args, stderr=err)
    return str(raised.value), err.getvalue()


def components(subscriber: Subscriber) -> set[str]:
    return {c.name for c in subscriber.components.all()}


def test_it_imports_e_mail_addresses_and_webhooks_with_their_components(
    settings: Any, tmp_path: Path, cluster_a: Component, cluster_b: Component
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "127.0.0.0/8"
    path = write_csv(
        tmp_path,
        (
            "email,endpoint,components\n"
            "ann@example.net,,\n"
            f"bob@Example.NET,,Cluster A;{cluster_b.pk}\n"
            f"ops@example.net,{HOOK},Cluster B\n"
            f",{HOOK}/anonymous,\n"
        ),
    )
    result = run_json(path, "--page", "OpenSRS")
    assert (result["imported"], result["emails"], result["webhooks"]) == (4, 2, 2)
    assert result["confirmation_emails"] == 2

    ann = Subscriber.objects.get(email="ann@example.net")
    bob = Subscriber.objects.get(email="bob@example.net")  # the domain is lower-cased
    assert (ann.kind, ann.confirmed_at, components(ann)) == (EMAIL, None, set())
    assert (bob.kind, bob.confirmed_at, components(bob)) == (
        EMAIL,
        None,
        {"Cluster A", "Cluster B"},
    )
    hook = Subscriber.objects.get(endpoint=HOOK)
    assert hook.kind == WEBHOOK and hook.active  # webhooks need no opt-in
    assert hook.email == "ops@example.net" and components(hook) == {"Cluster B"}
    anonymous = Subscriber.objects.get(endpoint=f"{HOOK}/anonymous")
    assert anonymous.active and anonymous.email == ""

    # Each new e-mail address is asked to confirm, through the outbox, like a form sign-up.
    asked = Subscriber.objects.filter(targeted__kind=CONFIRMATION).order_by("email")
    assert list(asked.values_list("email", flat=True)) == ["ann@example.net", "bob@example.net"]
    with smtp_sink() as sink:
        relay(settings, sink.port)
        worker.run_once(owner="test")
    [message] = sink.to("ann@example.net")
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert f"/notify/confirm/{ann.unsubscribe_token}" in text

    [event] = AuditEvent.objects.filter(action="subscriber.import")  # one event, not one per row
    assert (event.actor, event.page_id, event.target_id) == ("cli", ann.page_id, ann.page_id)
    assert event.after is not None
    assert (event.after["imported"], event.after["file"]) == (4, "subscribers.csv")


def test_it_subscribes_them_confirmed_and_sends_nothing_when_they_opted_in_elsewhere(
    tmp_path: Path, page: Page
) -> None:
    path = write_csv(tmp_path, "email\nann@example.net\nbob@example.net\n")
    out, _ = run(path, "--confirmed")
    assert out == "imported 2 · already subscribed 0 · skipped 0 (unsubscribed earlier)\n"
    assert all(s.active for s in Subscriber.objects.all())
    assert Subscriber.objects.count() == 2
    assert not Notification.objects.exists()


def test_it_lists_every_bad_row_by_line_and_imports_nothing(
    settings: Any, tmp_path: Path, page: Page
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = ""
    path = write_csv(
        tmp_path,
        (
            "email,endpoint,components\n"
            "good@example.net,,\n"
            "foo@,,\n"
            '"multi\nline@example.net",,\n'  # one record over two lines: the next is line 6
            "carl@example.net,,Webmail\n"
            'dee@example.net,,"Cluster A, Cluster B"\n'
            f"ops@example.net,{HOOK},\n"
            ",,Cluster A\n"
            "ed@example.net,ftp://example.net/hook,\n"
            "fay@example.net,http://[::1/hook,\n"
            "gus@example.net,http://a..b/hook,\n"
            f"hal@example.net,{HOOK}/a\x00b,\n"
            "ida@example.net,,Cluster \x00A\n"
        ),
    )
    error, stderr = refused(path)
    assert error == "11 invalid rows in subscribers.csv; nothing was imported"
    assert stderr.splitlines() == [
        "line 3: 'foo@' is not a valid e-mail address",
        "line 4: 'multi\\nline@example.net' is not a valid e-mail address",
        "line 6: page 'OpenSRS' has no component with id or name 'Webmail'",
        "line 7: page 'OpenSRS' has no component with id or name 'Cluster A, Cluster B' "
        "(separate components with ';')",
        "line 8: webhooks cannot be sent there: 127.0.0.1 resolves to 127.0.0.1, a private or "
        "reserved address (allow it with HELIOGRAPH_ALLOW_PRIVATE_TARGETS)",
        "line 9: no e-mail address and no webhook endpoint",
        "line 10: webhooks cannot be sent there: 'ftp://example.net/hook' is not an http(s) URL",
        "line 11: webhooks cannot be sent there: 'http://[::1/hook' is not a valid URL "
        "(Invalid IPv6 URL)",
        "line 12: webhooks cannot be sent there: 'a..b' is not a valid host name",
        "line 13: the webhook URL must not contain spaces or control characters",
        "line 14: page 'OpenSRS' has no component with id or name 'Cluster \\x00A'",
    ]
    assert not Subscriber.objects.exists()
    assert not Notification.objects.exists()
    assert not AuditEvent.objects.filter(action="subscriber.import").exists()


def test_it_refuses_exported_rows_of_unsubscribed_and_single_incident_subscribers(
    tmp_path: Path, page: Page
) -> None:
    path = write_csv(
        tmp_path,
        (
            "id,mode,email,endpoint,components,incident,state,created_at\n"
            "a1,email,ann@example.net,,,,active,2026-11-01T00:00:00+00:00\n"
            "a2,email,gone@example.net,,,,unsubscribed,2026-11-01T00:00:00+00:00\n"
            "a3,email,one@example.net,,,pr2142incid,active,2026-11-01T00:00:00+00:00\n"
        ),
    )
    error, stderr = refused(path)
    assert error == "2 invalid rows in subscribers.csv; nothing was imported"
    assert stderr.splitlines() == [
        "line 3: this subscriber unsubscribed (exported with state unsubscribed)",
        "line 4: a single-incident subscription cannot be imported",
    ]
    run(path, "--skip-invalid", "--confirmed")
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ann@example.net"]


def test_it_leaves_existing_subscribers_alone_and_never_resubscribes_an_unsubscribe(
    settings: Any, tmp_path: Path, cluster_a: Component
) -> None:
    settings.HELIOGRAPH_ALLOW_PRIVATE_TARGETS = "127.0.0.0/8"
    page = cluster_a.page
    known = subscribe(page, email_address="known@example.net")
    pending = subscribe(page, email_address="pending@example.net", confirmed=False)
    hook = subscribe(page, endpoint=HOOK, email_address="ops@example.net")
    gone = subscribe(page, email_address="gone@example.net")
    gone.unsubscribed_at = timezone.now()
    gone.save()
    path = write_csv(
        tmp_path,
        (
            "email,endpoint,components\n"
            "Known@EXAMPLE.net,,Cluster A\n"  # the same address, written differently
            "pending@example.net,,\n"
            f"new@example.net,{HOOK},\n"
            "gone@example.net,,\n"
            "new@example.net,,\n"
            "NEW@example.net,,Cluster A\n"  # the same address again, further down
        ),
    )
    out, _ = run(path)
    assert out == (
        "imported 1 · already subscribed 3 · skipped 1 (unsubscribed earlier) · "
        "repeated in the file 1 · confirmation e-mails queued 1\n"
    )
    assert Subscriber.objects.filter(email__iexact="new@example.net", kind=EMAIL).count() == 1
    assert components(known) == set()  # left as it was
    assert Subscriber.objects.filter(email="gone@example.net").get().unsubscribed_at
    assert Subscriber.objects.filter(endpoint=HOOK).get() == hook
    # Only the new address is asked to confirm; the pending one is not asked twice.
    asked = Subscriber.objects.filter(targeted__kind=CONFIRMATION)
    assert list(asked.values_list("email", flat=True)) == ["new@example.net"]
    pending.refresh_from_db()
    assert pending.confirmed_at is None and pending.unsubscribed_at is None

    again, _ = run(path)  # importing the same file again changes nothing
    assert again.startswith("imported 0 · already subscribed 4 · skipped 1")
    assert Subscriber.objects.count() == 5


def test_it_reads_a_spreadsheet_export(tmp_path: Path, cluster_a: Component) -> None:
    # What spreadsheets and other tools export: a byte-order mark, CRLF line ends, capitalised
    # and extra columns, blank rows; some spreadsheet locales separate with semicolons.
    text = (
        "Email,Components,Created At\r\nann@example.net,Cluster A,2020-01-01\r\n,,\r\n\r\n"
        "bob@example.net,,2020-01-02\r\n"
    )
    out, err = run(write_csv(tmp_path, text, bom=True), "--confirmed")
    assert out.startswith("imported 2 ")
    assert err == "Warning: ignored column(s) 'Created At'\n"
    assert components(Subscriber.objects.get(email="ann@example.net")) == {"Cluster A"}

    semicolons = 'email;components\ncy@example.net;"Cluster A;Cluster A"\n'
    out, err = run(write_csv(tmp_path, semicolons, name="excel.csv", bom=True), "--confirmed")
    assert out.startswith("imported 1 ") and err == ""
    assert components(Subscriber.objects.get(email="cy@example.net")) == {"Cluster A"}


def test_it_imports_the_good_rows_and_reports_the_bad_ones_when_asked(
    tmp_path: Path, page: Page
) -> None:
    path = write_csv(tmp_path, "email\nann@example.net\nnot an address\nbob@example.net\n")
    result = run_json(path, "--skip-invalid", "--confirmed")
    assert (result["imported"], result["invalid"]) == (2, 1)
    assert result["errors"] == ["line 3: 'not an address' is not a valid e-mail address"]
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == [
        "ann@example.net",
        "bob@example.net",
    ]
    out, err = run(path, "--skip-invalid", "--confirmed")
    assert "invalid rows skipped 1" in out
    assert err == "Warning: skipped line 3: 'not an address' is not a valid e-mail address\n"


def test_it_checks_and_counts_without_writing_on_a_dry_run(tmp_path: Path, page: Page) -> None:
    subscribe(page, email_address="known@example.net")
    path = write_csv(tmp_path, "email\nknown@example.net\nann@example.net\n")
    out, _ = run(path, "--dry-run")
    assert out == (
        "would import 1 · already subscribed 1 · skipped 0 (unsubscribed earlier) · "
        "confirmation e-mails to queue 1\n"
    )
    assert Subscriber.objects.count() == 1 and not Notification.objects.exists()
    assert not AuditEvent.objects.filter(action="subscriber.import").exists()
    assert "is not a valid" in refused(write_csv(tmp_path, "email\nfoo@\n"), "--dry-run")[1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {path}: No such file or directory"),
        (b"", "subscribers.csv has no header row: its first line must name the columns"),
        (b"\n\nann@example.net\n", "subscribers.csv has no header row"),
        (
            b"name,phone\nAnn,555\n",
            "has no 'email' or 'endpoint' column (its header names 'name', 'phone')",
        ),
        (b"email,Email\n", "the column 'email' appears twice in the header"),
        (b"email\nj\xf6rg@example.net\n", "is not UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not UTF-8 text"),
        (b'email\n"ann@example.net\n', "line 2: not valid CSV"),
    ],
)
def test_it_refuses_a_file_it_cannot_read_in_one_line(
    tmp_path: Path, page: Page, content: bytes | None, message: str
) -> None:
    path = tmp_path / "subscribers.csv"
    if content is not None:
        path.write_bytes(content)
    error, stderr = refused(path)
    assert message.format(path=path) in error
    assert stderr == "" and not Subscriber.objects.exists()


def test_it_imports_into_the_only_page_or_the_one_named(tmp_path: Path, page: Page) -> None:
    path = write_csv(tmp_path, "email\nann@example.net\n")
    assert run_json(path)["page"] == page.pk
    other = catalog.create_page(name="Acme")
    assert refused(path)[0] == "there are several pages; choose one with --page"
    assert run_json(path, "--page", "Acme")["imported"] == 1
    assert refused(path, "--page", "Nope")[0] == "no page with id or name 'Nope'"
    catalog.update_page(page=other, allow_subscribers=False)
    assert refused(path, "--page", other.pk)[0] == "page 'Acme' does not accept subscribers"


def test_it_draws_a_progress_bar_only_on_a_terminal(tmp_path: Path, page: Page) -> None:
    path = write_csv(tmp_path, "email\n" + "".join(f"u{i}@example.net\n" for i in range(2500)))
    terminal = Terminal()
    out, _ = run(path, "--confirmed", stderr=terminal)
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())
    assert "checking" in drawn and "importing" in drawn and "2,500/2,500 rows" in drawn
    assert out == "imported 2,500 · already subscribed 0 · skipped 0 (unsubscribed earlier)\n"

    out, err = run(path, "--confirmed")  # not a terminal: only the summary
    assert err == "" and out.startswith("imported 0 · already subscribed 2,500")


class Steps:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def start(self, label: str, total: int) -> None:
        self.seen.append((label, total))

    def advance(self, amount: int) -> None:
        self.seen.append(("+", amount))


def test_it_writes_in_chunks_and_advances_the_bar_per_chunk(
    tmp_path: Path, page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "CHUNK", 2)
    path = write_csv(tmp_path, "email\n" + "".join(f"u{i}@example.net\n" for i in range(5)))
    steps = Steps()
    result = importing.import_subscribers(page=page, path=path, progress=steps)
    assert result.imported == 5 and result.confirmations == 5
    assert steps.seen == [
        ("checking", 5),
        ("+", 2),
        ("+", 2),
        ("+", 1),
        ("importing", 5),
        ("+", 2),
        ("+", 2),
        ("+", 1),
    ]
    assert Notification.objects.filter(kind=CONFIRMATION).count() == 5
    assert len(set(Subscriber.objects.values_list("unsubscribe_token", flat=True))) == 5


def test_it_runs_as_a_command_with_an_exit_status_and_no_traceback(tmp_path: Path) -> None:
    good = write_csv(tmp_path, "email,components\nann@example.net,API\n")
    bad = write_csv(tmp_path, "email\nann@example.net\nfoo@\n", name="bad.csv")
    with scratch_database() as database_url:
        heliograph = Installation(tmp_path, database_url)
        heliograph.ok("migrate")
        heliograph.ok("page", "create", "Acme")
        heliograph.ok("component", "create", "API", "--page", "Acme")
        failed = heliograph.run("subscribers", "import", str(bad))
        assert failed.returncode == 1 and failed.stdout == ""
        assert failed.stderr.splitlines() == [
            "line 3: 'foo@' is not a valid e-mail address",
            "Error: 1 invalid row in bad.csv; nothing was imported",
        ]
        missing = heliograph.run("subscribers", "import", "nowhere.csv")
        assert missing.returncode == 1 and "Traceback" not in missing.stderr
        assert missing.stderr == "Error: cannot read nowhere.csv: No such file or directory\n"
        assert heliograph.query("SELECT COUNT(*) FROM notify_subscriber") == [(0,)]
        out = heliograph.ok("subscribers", "import", str(good), "--confirmed")
        assert out == "imported 1 · already subscribed 0 · skipped 0 (unsubscribed earlier)\n"
        assert heliograph.query("SELECT email FROM notify_subscriber") == [("ann@example.net",)]
