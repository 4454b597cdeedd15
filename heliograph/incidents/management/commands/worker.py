"""``heliograph worker``: runs maintenance windows on time, until SIGINT/SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Any

from django.core.management.base import CommandParser
from django.db import DatabaseError, close_old_connections, connection

from heliograph.incidents.maintenance import run_due
from heliograph.lib.command import HeliographCommand

log = logging.getLogger("heliograph.worker")


def _default_interval() -> float:
    try:
        return float(os.environ.get("HELIOGRAPH_WORKER_INTERVAL", "2"))
    except ValueError:
        return 2.0


def work(stop: threading.Event, interval: float) -> None:
    """Call ``run_due`` every ``interval`` seconds until ``stop``; rides out outages.

    Nothing is kept in memory between passes, so a restart loses nothing.
    """
    healthy = True
    while not stop.is_set():
        try:
            close_old_connections()
            if done := run_due():
                log.info("worker: %d maintenance step(s) done", done)
            if not healthy:
                log.info("worker: database reachable again")
            healthy = True
        except DatabaseError as exc:
            if healthy:  # once per outage, not every pass
                log.warning("worker: database unavailable (%s); retrying", exc)
            healthy = False
            with contextlib.suppress(DatabaseError):
                connection.close()
        except Exception:  # a bug in one pass must not stop maintenance for good
            log.exception("worker: pass failed; retrying")
        stop.wait(interval)


class Command(HeliographCommand):
    help = "Run due maintenance transitions and reminders every few seconds (Ctrl-C stops)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float,
            default=_default_interval(),
            help="seconds between passes (default 2, or $HELIOGRAPH_WORKER_INTERVAL)",
        )  # fmt: skip
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            self.stdout.write(f"{run_due()} maintenance step(s) done")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        work(stop, max(options["interval"], 0.1))
