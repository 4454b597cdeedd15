"""Crash safety of the notification outbox, with real worker processes (issue 4, part 6).

A fan-out to 5,000 subscribers (4,000 e-mail addresses, 1,000 webhooks) is under way when
a ``heliograph worker`` is killed with SIGKILL; another worker finishes it. Counting by
delivery id at the receivers (an SMTP server and an HTTP server on 127.0.0.1): every
subscriber got the update, nobody got two different deliveries, and only what was in
flight at the kill went out twice (at most one batch, which receivers can drop by id).

The workers run on a scratch database (a SQLite file, or a new PostgreSQL database) that
this process reads with plain SQL; the subscribers are written by a short subprocess
(``seed``), since the pytest-django database is not one another process can see.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from django.conf import settings

from heliograph.notify.channels import email, webhook
from heliograph.notify.channels.webhook import DELIVERY_HEADER
from tests.support.live import free_port, scratch_database

EMAILS, HOOKS = 4000, 1000
TOTAL = EMAILS + HOOKS
# A killed worker's batch comes back after this. It must stay longer than a batch takes
# (1 to 6 s here, depending on the load), or a live worker's batch could be claimed again.
LEASE_SECONDS = 15
KILL_AT = 0.35  # of TOTAL received: inside the fourth batch of 500
DEADLINE = 120.0  # for the rest of the fan-out after the kill
# The repeated-kill run: each of 3 webhooks gets 12 updates, more than the 10 failures
# that quarantine one, so any failure wrongly held against it shows.
STORM_EMAILS, STORM_UPDATES, STORM_LEASE, KILLS = 300, 12, 5, 4
ROOT = Path(__file__).resolve().parents[1]
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def seed(emails: int, bases: list[str], hooks_each: int, updates: int = 1) -> None:
    """In a subprocess on the scratch database: the tables, the example page, the
    subscribers, and ``updates`` incident updates for all of them (queued, not expanded)."""
    from django.core.management import call_command
    from django.utils import timezone

    from heliograph.example import load_example
    from heliograph.incidents import services as incidents
    from heliograph.notify.models import EMAIL, WEBHOOK, Notification, Subscriber

    call_command("migrate", verbosity=0)
    page = load_example()  # a 2021 backfill: it queues nothing
    now = timezone.now()
    subscribers = [
        Subscriber(page=page, kind=EMAIL, email=f"s{n}@example.com", confirmed_at=now)
        for n in range(emails)
    ] + [
        Subscriber(
            page=page, kind=WEBHOOK, endpoint=url, email=f"hook{n}@example.com", confirmed_at=now
        )
        for n, url in enumerate(f"{base}/hook/{i}" for base in bases for i in range(hooks_each))
    ]
    Subscriber.objects.bulk_create(subscribers, batch_size=1000)
    incident = incidents.open_incident(
        page=page, name="Cluster A - Bounces", body="We are investigating bounced mail."
    )
    for n in range(1, updates):
        incidents.post_update(incident=incident, status="identified", body=f"Update {n}.")
    assert Notification.objects.count() == updates


# --- receivers ------------------------------------------------------------------------------


@dataclass
class Tally:
    """(address or webhook URL, delivery id) per message received, in arrival order."""

    got: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.got)


@dataclass
class MailTally(Tally):
    """An aiosmtpd handler that keeps only the recipient and the delivery id."""

    misaddressed: list[tuple[list[str], str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = BytesHeaderParser().parsebytes(envelope.content)
        if envelope.rcpt_tos != [headers["To"]]:
            self.misaddressed.append((envelope.rcpt_tos, str(headers["To"])))
        self.got.append((str(headers["To"]), str(headers["X-Heliograph-Delivery"])))
        return "250 OK"


@contextlib.contextmanager
def mail_receiver() -> Iterator[tuple[MailTally, int]]:
    tally, port = MailTally(), free_port()
    controller = Controller(tally, hostname="127.0.0.1", port=port)
    quiet = logging.getLogger("mail.log")  # aiosmtpd logs every command at INFO
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    controller.start()
    try:
        yield tally, port
    finally:
        controller.stop()
        quiet.setLevel(level)


class _HookServer(ThreadingHTTPServer):
    request_queue_size = 256  # up to 100 connections arrive at once
    daemon_threads = True

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        super().__init__(("127.0.0.1", 0), _HookHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a killed worker drops its connections mid-request


class _HookHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx pools connections
    server: _HookServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        if len(body) == length:  # a request cut short by the kill was not received
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            self.server.tally.got.append((base + self.path, str(self.headers[DELIVERY_HEADER])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def hook_receiver(tally: Tally) -> Iterator[str]:
    """An HTTP server that answers 200 to everything, noting what it got in ``tally``."""
    server = _HookServer(tally)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- the scratch database and the workers ---------------------------------------------------


@dataclass
class FanOut:
    env: dict[str, str]
    logs: Path
    mail: MailTally
    mail_port: int
    hooks: Tally  # every HTTP receiver's
    total: int  # deliveries: one per notification and subscriber
    more_mail: list[Tally] = field(default_factory=list)  # other workers' SMTP receivers
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """Read the workers' database directly (no Django in this process touches it)."""
        if "DATABASE_URL" in self.env:
            with psycopg.connect(self.env["DATABASE_URL"]) as conn:
                return conn.execute(query).fetchall()
        path = Path(self.env["HELIOGRAPH_DATA"]) / "heliograph.sqlite3"
        with contextlib.closing(sqlite3.connect(path, timeout=20)) as conn:
            return conn.execute(query).fetchall()

    def statuses(self) -> dict[str, int]:
        rows = self.sql("SELECT status, COUNT(*) FROM notify_delivery GROUP BY status")
        return {"pending": 0, "sent": 0, "failed": 0, "skipped": 0, **dict(rows)}

    def received(self) -> int:
        return sum(len(tally) for tally in (self.mail, self.hooks, *self.more_mail))

    def start_worker(self, smtp_port: int | None = None) -> subprocess.Popen[bytes]:
        env = {
            **self.env,
            "HELIOGRAPH_SMTP_URL": f"smtp://127.0.0.1:{smtp_port or self.mail_port}"
            "?starttls=0&timeout=10",
        }
        log = self.logs / f"worker{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "heliograph", "worker", "--interval", "0.2"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=15) == 0, self.worker_logs()

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def worker_logs(self) -> str:
        tails = [f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(self.logs.iterdir())]
        return "\n".join(tails)

    def wait_for(
        self, what: str, check: Callable[[], bool], timeout: float, every: float = 0.05
    ) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            for process in self.started:
                returncode = process.poll()
                assert returncode in (None, -signal.SIGKILL), self.worker_logs()
            assert time.monotonic() < deadline, (
                f"timed out waiting for {what}: {self.statuses()}, {self.received()} "
                f"received, errors {self.errors()}\n{self.worker_logs()}"
            )
            time.sleep(every)

    def errors(self) -> list[tuple[Any, ...]]:
        return self.sql(
            "SELECT last_error, COUNT(*) FROM notify_delivery WHERE last_error <> '' "
            "GROUP BY last_error"
        )

    def finished(self) -> bool:
        found = self.statuses()
        assert found["failed"] == 0 and found["skipped"] == 0, (found, self.errors())
        return found["sent"] == self.total

    def held_against_webhooks(self) -> list[tuple[str, Any, list[Any]]]:
        """Webhooks that were quarantined or have failures counted towards it."""
        rows = self.sql(
            "SELECT endpoint, quarantined_at, recent_failures FROM notify_subscriber "
            "WHERE kind = 'webhook'"
        )
        found = [(url, at, json.loads(f) if isinstance(f, str) else f) for url, at, f in rows]
        return [(url, at, failures) for url, at, failures in found if at or failures]


@contextlib.contextmanager
def launch(
    tmp_path: Path,
    *,
    emails: int,
    receivers: int,
    hooks_each: int,
    updates: int = 1,
    lease: float = LEASE_SECONDS,
) -> Iterator[FanOut]:
    """``emails`` e-mail subscribers and ``hooks_each`` webhooks on each of ``receivers``
    HTTP servers, ``updates`` queued incident updates for them all, on a scratch database;
    every worker started through it is killed at the end."""
    logs = tmp_path / "logs"
    logs.mkdir()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(scratch_database())
        mail, mail_port = stack.enter_context(mail_receiver())
        hooks = Tally()
        bases = [stack.enter_context(hook_receiver(hooks)) for _ in range(receivers)]
        env = worker_env(tmp_path, url, lease)
        script = (
            "import django; django.setup(); from tests.test_notify_crash import seed; "
            f"seed({emails}, {bases!r}, {hooks_each}, {updates})"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        total = updates * (emails + receivers * hooks_each)
        run = FanOut(env, logs, mail, mail_port, hooks, total)
        try:
            yield run
        finally:
            run.kill_all()


def worker_env(tmp_path: Path, database_url: str | None, lease: float) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "HELIOGRAPH_BASE_URL")
        and not k.startswith(("HELIOGRAPH_SMTP", "HELIOGRAPH_NOTIFY"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="heliograph.settings",
        HELIOGRAPH_DATA=str(tmp_path),
        HELIOGRAPH_MAIL_FROM="OpenSRS Status <status@example.com>",
        HELIOGRAPH_ALLOW_PRIVATE_TARGETS="127.0.0.0/8",
        HELIOGRAPH_NOTIFY_LEASE_SECONDS=str(lease),
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@pytest.fixture
def fanout(tmp_path: Path) -> Iterator[FanOut]:
    """4,000 e-mail addresses and 1,000 webhooks (on one HTTP server), one queued update."""
    with launch(tmp_path, emails=EMAILS, receivers=1, hooks_each=HOOKS) as run:
        yield run


# --- what the receivers saw -----------------------------------------------------------------


def check_exactly_once(run: FanOut, *tallies: Tally, kills: int = 1) -> int:
    """Everyone got every update, each their own delivery, and only what was in flight at
    a kill went out twice (per killed worker: one message per SMTP connection and one per
    webhook lane). Returns the raw repeats."""
    rows = run.sql(
        "SELECT d.id, s.kind, s.email, s.endpoint FROM notify_delivery d "
        "JOIN notify_subscriber s ON s.id = d.subscriber_id"
    )
    expected = {(address if kind == "email" else url, str(pk)) for pk, kind, address, url in rows}
    assert len(rows) == len(expected) == run.total  # one delivery per update and subscriber
    got = [message for tally in tallies for message in tally.got]
    for tally in tallies:
        assert not getattr(tally, "misaddressed", []), "envelope and To: header differ"
    missing = expected - set(got)
    assert not missing, f"{len(missing)} deliveries never arrived, e.g. {sorted(missing)[:5]}"
    wrong = set(got) - expected
    assert not wrong, f"{len(wrong)} arrived at the wrong address or with a wrong id: {wrong}"
    copies = Counter(got)
    assert max(copies.values()) <= 1 + kills, copies.most_common(3)
    repeats = {"mail": 0, "http": 0}
    for (target, _), n in copies.items():
        repeats["http" if target.startswith("http") else "mail"] += n - 1
    assert repeats["mail"] <= kills * email.connection_count(), (
        f"{repeats} repeats after {kills} kills"
    )
    assert repeats["http"] <= kills * webhook.CONCURRENCY, f"{repeats} repeats after {kills} kills"
    return len(got) - len(copies)


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_it_tells_everyone_once_when_its_worker_is_killed_midway(fanout: FanOut) -> None:
    started = time.monotonic()
    first = fanout.start_worker()
    fanout.wait_for("the first deliveries", lambda: fanout.received() >= KILL_AT * TOTAL, 60)
    fanout.kill(first)
    at_kill = fanout.received()
    assert at_kill < TOTAL and fanout.statuses()["pending"] > 0  # it died mid-way
    killed = time.monotonic()

    second = fanout.start_worker()
    fanout.wait_for("the rest of the fan-out", fanout.finished, DEADLINE, every=0.25)
    fanout.stop(second)

    repeats = check_exactly_once(fanout, fanout.mail, fanout.hooks)
    assert fanout.statuses() == {"pending": 0, "sent": TOTAL, "failed": 0, "skipped": 0}
    assert fanout.sql("SELECT COUNT(*) FROM notify_notification WHERE expanded_at IS NULL") == [
        (0,)
    ]
    print(
        f"killed at {at_kill}/{TOTAL} received after {killed - started:.1f} s; "
        f"{repeats} repeats; done {time.monotonic() - killed:.1f} s after the kill"
    )


@pytest.mark.timeout(240)
@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="SQLite deployments run one claiming worker; two workers are PostgreSQL's case",
)
def test_it_tells_everyone_once_when_one_of_two_workers_is_killed(fanout: FanOut) -> None:
    started = time.monotonic()
    # Each worker mails through its own SMTP receiver, so we can tell who sent what.
    with mail_receiver() as (other_mail, other_port):
        fanout.more_mail.append(other_mail)
        doomed = fanout.start_worker()
        survivor = fanout.start_worker(smtp_port=other_port)

        def both_busy() -> bool:
            enough = fanout.received() >= KILL_AT * TOTAL
            return enough and len(fanout.mail) > 0 and len(other_mail) > 0

        fanout.wait_for("both workers to deliver", both_busy, 60)
        fanout.kill(doomed)
        # Messages the dead worker wrote before it died may still be in the receiver's
        # socket buffer: count its deliveries once they stop arriving.
        by_doomed = settled(lambda: len(fanout.mail))
        by_survivor, at_kill = len(other_mail), fanout.received()
        assert at_kill < TOTAL and fanout.statuses()["pending"] > 0  # it died mid-way
        killed = time.monotonic()

        fanout.wait_for("the survivor to finish", fanout.finished, DEADLINE, every=0.25)
        fanout.stop(survivor)

        repeats = check_exactly_once(fanout, fanout.mail, other_mail, fanout.hooks)
        assert fanout.statuses() == {"pending": 0, "sent": TOTAL, "failed": 0, "skipped": 0}
        assert len(fanout.mail) == by_doomed  # nothing from the dead
        assert len(other_mail) > by_survivor  # the survivor took over
        # The survivor never sent one message twice: any repeat was the dead worker's.
        assert len(set(other_mail.got)) == len(other_mail.got)
        print(
            f"killed at {at_kill}/{TOTAL} received after {killed - started:.1f} s "
            f"({by_doomed} e-mails from the killed worker); {repeats} repeats; "
            f"done {time.monotonic() - killed:.1f} s after the kill"
        )


@pytest.mark.timeout(240)
def test_it_holds_no_kill_against_a_healthy_webhook(tmp_path: Path) -> None:
    """The issue's crash runs, smaller: short leases, a worker killed again and again
    mid fan-out, three receivers that always answer 200. Enough updates reach each
    webhook for the quarantine rule (10 failures within an hour) to bite if any lapsed
    lease or unfinished batch were counted against it."""
    with launch(
        tmp_path,
        emails=STORM_EMAILS,
        receivers=3,
        hooks_each=1,
        updates=STORM_UPDATES,
        lease=STORM_LEASE,
    ) as run:
        for n in range(KILLS):
            worker = run.start_worker()
            goal = run.received() + run.total // (KILLS + 2)
            run.wait_for(f"deliveries before kill {n + 1}", lambda g=goal: run.received() >= g, 60)
            run.kill(worker)
            assert run.statuses()["pending"] > 0  # it died mid-way
        last = run.start_worker()
        run.wait_for("the rest of the fan-out", run.finished, DEADLINE, every=0.25)
        run.stop(last)

        assert run.held_against_webhooks() == []  # none quarantined, no failure counted
        assert run.statuses() == {"pending": 0, "sent": run.total, "failed": 0, "skipped": 0}
        repeats = check_exactly_once(run, run.mail, run.hooks, kills=KILLS)
        print(f"{KILLS} kills, {run.total} deliveries, {repeats} repeats")


def settled(count: Callable[[], int], quiet: float = 0.5, limit: float = 5.0) -> int:
    """``count()`` once it has not changed for ``quiet`` seconds (or after ``limit``)."""
    deadline, last = time.monotonic() + limit, count()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = count()
        if now == last:
            return now
        last = now
    return last
