"""Start everything a single node needs: database schema, publisher, worker, web server."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError
from django.db.models import F
from granian import Granian
from granian.constants import Interfaces

from heliograph.accounts.setup import first_run_hint
from heliograph.catalog.models import Page
from heliograph.publish.publisher import publish_stale


def prepare(*, host: str, port: int) -> None:
    """Schema up to date, and every page re-rendered for this release and base URL."""
    if "HELIOGRAPH_BASE_URL" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        settings.BASE_URL = os.environ["HELIOGRAPH_BASE_URL"] = f"http://{shown}:{port}"
    call_command("migrate", interactive=False, verbosity=0)
    Page.objects.update(version=F("version") + 1)
    publish_stale()


def serve(*, host: str, port: int, workers: int = 1, announce: str = "") -> None:
    hint = None
    try:
        prepare(host=host, port=port)
        hint = first_run_hint()
    except DatabaseError as exc:
        # The page must come up even now: nodes serve the last export until it is back.
        print(f"warning: database unreachable ({exc}); serving the last published snapshot")
    # Both run beside the web server and keep all their state in the database, so either
    # can crash or restart without losing work.
    children = [
        subprocess.Popen([sys.executable, "-m", "heliograph", *command])
        for command in (["publish", "--watch"], ["worker"])
    ]
    url = f"{settings.BASE_URL}/"
    print(f"Heliograph is serving at {url}{announce}", flush=True)
    if hint:
        print(hint, flush=True)
    try:
        Granian(
            "heliograph.wsgi:application", address=host, port=port,
            interface=Interfaces.WSGI, workers=workers, blocking_threads=8, log_access=False,
            # A worker whose main thread missed the signal is killed rather than awaited.
            workers_kill_timeout=5,
        ).serve()  # fmt: skip
    finally:
        _stop(children)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
