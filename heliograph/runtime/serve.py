"""Start everything a single node needs: database schema, publisher, worker, web server."""

from __future__ import annotations

import signal
import sys

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.db.models import F
from granian import Granian
from granian.constants import Interfaces

from heliograph.accounts.setup import first_run_hint
from heliograph.catalog.models import Page
from heliograph.lib import heartbeat
from heliograph.lib.db import guard
from heliograph.lib.supervisor import Child, Supervisor
from heliograph.notify import mail_health
from heliograph.publish.publisher import publish_stale


def prepare() -> None:
    """Schema up to date, and every page re-rendered for this release and base URL."""
    with guard.limit(2.0, probe=True):  # a hanging database fails here, quickly
        connection.ensure_connection()
    connection.close()
    guard.configure(None)  # a migration may rightly take long
    try:
        call_command("migrate", interactive=False, verbosity=0)
    finally:
        connection.close()
        guard.configure(settings.DB_TIMEOUT)
    Page.objects.update(version=F("version") + 1)
    publish_stale()


def serve(*, host: str, port: int, workers: int = 1, announce: str = "") -> None:
    """Prepare, then run the web server, the publisher and the worker under supervision."""
    hint = None
    try:
        prepare()
        hint = first_run_hint()
    except DatabaseError as exc:
        # The page must come up even now: nodes serve the last export until it is back.
        print(f"warning: database unreachable ({exc}); serving the last published snapshot")
    connection.close()
    web = ["web", "--host", host, "--port", str(port), "--workers", str(workers)]
    children = [
        Child(role, [sys.executable, "-m", "heliograph", *command])
        for role, command in (
            ("web", web),
            ("publisher", ["publish", "--watch"]),
            ("worker", ["worker"]),
        )
    ]
    _remember_url()
    print(f"Heliograph is serving at {settings.BASE_URL}/{announce}", flush=True)
    print(f"Data: {settings.DATA_DIR}", flush=True)
    if hint:
        print(hint, flush=True)
    if not mail_health.configured():
        print(f"warning: {mail_health.NO_RELAY}", flush=True)
    beat = heartbeat.Beat(settings.RUN_DIR, "supervisor", state="running").start()
    supervisor = Supervisor(children, on_change=lambda report: beat.extra.update(children=report))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: supervisor.stop.set())
    supervisor.run()


def _remember_url() -> None:
    """Commands run later against this data folder print links to where it serves."""
    try:
        settings.SERVED_URL_FILE.write_text(settings.BASE_URL + "\n")
    except OSError as exc:  # a read-only or full disk must not stop the page
        print(f"warning: could not record the public URL: {exc}", flush=True)


def serve_web(*, host: str, port: int, workers: int = 1) -> None:
    """The web server alone: public reads and Django (``heliograph.asgi``)."""
    Granian(
        "heliograph.runtime.node:application",
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        workers=workers,
        log_access=False,
        # A dead worker is replaced at once; the supervisor restarts Granian itself.
        respawn_failed_workers=True,
        workers_kill_timeout=5,
    ).serve()
